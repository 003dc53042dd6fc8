"""The composition root for the bot: ``Settings`` in, a wired ``Services`` out.

This is the only place that decides *how* an investigation or an execution is assembled — which
backend (the embedded simulator or a real cluster), which planner, which policy, which store, which
guidance source — so handlers stay unaware of credentials and constructors. Backends are built
lazily and separately: a worker that only investigates never builds a writer, so it never needs the
executor's credentials (DESIGN.md §3).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from aoi.agents.audit import StoreAuditSink, StoreLedger
from aoi.agents.backends.base import ReadBackend, WriteBackend
from aoi.agents.executor import ExecutionResult, Executor
from aoi.agents.observer import Budget, Observer
from aoi.agents.planners.base import Planner
from aoi.agents.planners.factory import PlannerSpec, make_planner
from aoi.agents.proposals import policy_annotator
from aoi.agents.records import ActionRequest, Trajectory
from aoi.agents.tools import read_tools
from aoi.bot.settings import Settings
from aoi.handlers.context import Services, StepCallback, default_worker_name
from aoi.handlers.progress import ProgressPlanner
from aoi.policies.evaluate import Actor
from aoi.policies.live import LivePolicy
from aoi.policies.schema import Policy
from aoi.store import repo
from aoi.store.db import Store

if TYPE_CHECKING:
    from aoi.sim import SimCluster

log = logging.getLogger(__name__)
T = TypeVar("T")
GuidanceSource = Callable[[str], list[str]]


class Lazy(Generic[T]):
    """A value built on first use, once, thread-safely (backends, the local model, the embedder)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


@dataclass
class Backends:
    """Where investigations read and the executor writes; each side is built only when first used.

    ``sleep`` is how the executor waits between verification checks: real time for a real cluster,
    the simulated clock for the simulator (whose state only moves when its clock does).
    """

    reader: Callable[[], ReadBackend]
    writer: Callable[[], WriteBackend]
    sleep: Callable[[float], None] = time.sleep
    verify_timeout_s: float = 120.0
    verify_interval_s: float = 5.0


class LockedCluster:
    """The simulator is single-threaded; the bot investigates and executes on several threads.

    Every call into the simulated cluster holds one lock, so a write (and its reconciliation) never
    interleaves with a read. Reads already return deep copies.
    """

    def __init__(self, cluster: SimCluster) -> None:
        self._cluster = cluster
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cluster, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


def cluster_backends_for(cluster: Callable[[], SimCluster]) -> Backends:
    """Reader and writer over one simulated cluster (built on first use): the Observer reads what the
    executor's approved fix changed, and verification advances the simulated clock."""
    from aoi.agents.backends.sim import SimReadBackend, SimWriteBackend

    shared = Lazy(lambda: cast("SimCluster", LockedCluster(cluster())))
    return Backends(
        reader=Lazy(lambda: SimReadBackend(shared())),
        writer=Lazy(lambda: SimWriteBackend(shared())),
        sleep=lambda seconds: shared().advance(seconds),
        verify_timeout_s=600.0,
        verify_interval_s=10.0,
    )


def sim_backends(settings: Settings) -> Backends:
    """The embedded simulated cluster running ``AOI_SIM_PROBLEM`` (from ``AOI_SIM_SUITE`` or the
    packaged AIOpsLab suite), one per process."""

    def cluster() -> SimCluster:
        from aoi.sim import SimCluster, load_suite

        suite = load_suite(str(settings.sim_suite) if settings.sim_suite else "aiopslab")
        if settings.sim_problem not in suite:
            raise ValueError(
                f"AOI_SIM_PROBLEM={settings.sim_problem!r} is not in the suite; e.g. {sorted(suite)[:5]}"
            )
        return SimCluster.from_problem(suite[settings.sim_problem])

    return cluster_backends_for(cluster)


def backends_from_settings(settings: Settings) -> Backends:
    """The backends ``AOI_BACKEND`` names (``sim`` by default)."""
    if settings.backend == "sim":
        return sim_backends(settings)
    from aoi.bot.cluster import cluster_backends

    return cluster_backends(settings)


def planner_spec(settings: Settings) -> PlannerSpec:
    """The planner ``AOI_PLANNER`` names, with its options from settings."""
    if settings.planner == "openai":
        if not settings.llm_base_url or not settings.llm_model:
            raise ValueError("AOI_PLANNER=openai needs AOI_LLM_BASE_URL and AOI_LLM_MODEL")
        return PlannerSpec(
            "openai",
            {
                "base_url": settings.llm_base_url,
                "model": settings.llm_model,
                "api_key": settings.llm_api_key,
                "timeout_s": settings.llm_timeout_s,
                "max_tokens": settings.llm_max_tokens,
                "policy_file": settings.policy_file,
            },
        )
    if settings.planner == "local":
        return PlannerSpec(
            "local",
            {
                "model_path": settings.local_model_path,
                "adapter_path": settings.local_adapter_path,
                "decoding": settings.local_decoding,
                "device": settings.local_device,
                "policy_file": settings.policy_file,
            },
        )
    return PlannerSpec("heuristic")


def planner_factory(settings: Settings, policy: Callable[[], Policy] | None = None) -> Callable[[], Planner]:
    """A fresh planner per investigation, except the local model, which is loaded once per process.

    ``openai`` planners share one HTTP client and what the endpoint was found to refuse. With
    ``policy`` (the live policy), an ``openai`` planner is told the verbs of the policy in force when
    the investigation starts, not re-read from the file (a broken edit must not fail it); the local
    model's verbs and grammar come from the policy in force when it loads."""
    spec = planner_spec(settings)
    if spec.name == "local":
        if policy is not None:  # the policy in force when the model loads, not a second read of the file
            options = {key: value for key, value in spec.options.items() if key != "policy_file"}
            return Lazy(lambda: make_planner(PlannerSpec("local", {**options, "policy": policy()})))
        return Lazy(lambda: make_planner(spec))
    if spec.name == "openai":
        from aoi.agents.planners.openai_planner import EndpointQuirks, make_client
        from aoi.agents.planners.prompt import describe_policy_verbs

        # one client (its connection pool) and what the endpoint refuses, for every investigation
        client = make_client(spec.options["base_url"], spec.options.get("api_key"), spec.options["timeout_s"])
        options = {**spec.options, "client": client, "quirks": EndpointQuirks()}
        if policy is None:
            return lambda: make_planner(PlannerSpec("openai", options))
        del options["policy_file"]
        live = policy

        def openai_planner() -> Planner:
            return make_planner(PlannerSpec("openai", {**options, "verbs": describe_policy_verbs(live())}))

        return openai_planner
    return lambda: make_planner(spec)


def model_version(settings: Settings) -> str | None:
    if settings.planner == "openai":
        return settings.llm_model
    if settings.planner == "local":
        return settings.local_adapter_path.name if settings.local_adapter_path else "base"
    return None


def guidance_source(settings: Settings, store: Store) -> GuidanceSource | None:
    """Evolver notes for the Observer's context, or None when ``AOI_GUIDANCE_EMBEDDER=off``.

    Retrieval failures are logged and yield no notes: guidance improves an investigation, it must
    never stop one.
    """
    if settings.guidance_embedder == "off":
        return None
    from aoi.training.embeddings import make_embedder
    from aoi.training.guidance import GuidanceLibrary

    library = Lazy(lambda: GuidanceLibrary(store, make_embedder(settings.guidance_embedder)))

    def retrieve(symptoms: str) -> list[str]:
        try:
            # the heuristic planner follows a note as it is; a model is shown equally close notes
            return library().retrieve(symptoms, hide_ties=settings.planner == "heuristic")
        except Exception:
            log.warning("guidance retrieval failed; investigating without it", exc_info=True)
            return []

    return retrieve


def make_investigator(
    backends: Backends,
    planners: Callable[[], Planner],
    policy: Callable[[], Policy],
    budget: Budget,
    guidance: GuidanceSource | None,
) -> Callable[[str, StepCallback], Trajectory]:
    """``investigate(incident, on_step)``: an Observer over read tools only, its steps reported;
    its proposals are checked against the policy in force when it starts."""

    def investigate(incident: str, on_step: StepCallback) -> Trajectory:
        observer = Observer(
            read_tools(backends.reader()),
            ProgressPlanner(planners(), on_step),
            budget,
            guidance=guidance,
            annotate=policy_annotator(policy()),
        )
        return observer.run(incident)

    return investigate


def make_executor(
    backends: Backends,
    policy: Callable[[], Policy],
    store: Store,
    extra_approvers: list[str],
    name: str,
) -> Callable[[str, ActionRequest, Actor], ExecutionResult]:
    """``execute(proposal_id, request, actor)`` through the scoped executor, audited and claimed in
    the store (the proposal id is the idempotency key across processes); each execution is checked
    against the policy in force when it runs."""

    def execute(proposal_id: str, request: ActionRequest, actor: Actor) -> ExecutionResult:
        executor = Executor(
            backends.writer(),
            backends.reader(),
            policy(),
            StoreAuditSink(store),
            ledger=StoreLedger(store),
            extra_approvers=extra_approvers,
            verify_timeout_s=backends.verify_timeout_s,
            verify_interval_s=backends.verify_interval_s,
            sleep=backends.sleep,
            name=name,
        )
        # the approvals the store recorded, counted against the policy as it is now, and the command
        # the approvers were shown, which the policy must still render
        return executor.execute(
            proposal_id,
            request,
            actor,
            approvals=[
                Actor(user_id=user, groups=groups or ())
                for user, groups in repo.list_approval_votes(store, proposal_id)
            ],
            approved_command=repo.get_proposal(store, proposal_id).command or None,
        )

    return execute


def open_store(settings: Settings) -> Store:
    """The store at ``AOI_DATABASE_URL``; the embedded SQLite default is migrated on open (production
    PostgreSQL is migrated by the Procfile's ``release: aoi db upgrade``)."""
    url = settings.effective_database_url
    return Store.open(url, migrate=url.startswith("sqlite"))


def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    backends: Backends | None = None,
    policy: Policy | None = None,
    budget: Budget | None = None,
    progress_interval_s: float | None = None,
) -> Services:
    """Wire ``Services`` from settings; tests and benchmarks pass their own store/backends/policy."""
    store = store or open_store(settings)
    live: Callable[[], Policy] = (lambda: policy) if policy is not None else LivePolicy(settings.policy_file)
    backends = backends or backends_from_settings(settings)
    worker = default_worker_name()
    return Services(
        store=store,
        policy_source=live,
        investigate=make_investigator(
            backends,
            planner_factory(settings, live),
            live,
            budget or Budget(),
            guidance_source(settings, store),
        ),
        execute=make_executor(backends, live, store, settings.approvers, f"aoi-executor@{worker}"),
        planner_name=settings.planner,
        incident_channel_pattern=re.compile(settings.incident_channel_pattern),
        alert_channel=settings.alert_channel,
        extra_approvers=frozenset(settings.approvers),
        model_version=lambda: model_version(settings),
        progress_interval_s=progress_interval_s
        if progress_interval_s is not None
        else settings.progress_interval_s,
        proposal_ttl_s=settings.proposal_ttl_minutes * 60.0,
        worker_name=worker,
    )
