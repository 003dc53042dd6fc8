"""A simulated on-call week through the real bot, then the weekly retrain on what it stored.

Shared by ``tests/training/test_week.py`` and ``bench/bench_week.py`` (issue #7's "simulated week"):

- :func:`replay_week`: the real ``slack_bolt`` app over signed HTTP (``tests/bot/harness.py``), the
  Slack Web API faked on loopback, a SQLite store file, the heuristic planner (the production planner)
  on the simulated cluster. Each incident is one *train*-split problem: its cluster replaces the bot's
  (:class:`SwitchableCluster`), the store's clock is set to the incident's time in the week
  (``aoi.store.types.use_clock``), and an ``@aoi`` mention opens it. Once the bot has posted its
  diagnosis, a scripted on-call engineer — the human who knows, played by the simulator's grader; the
  bot never sees it — reacts 👍/👎 on the diagnosis, approves a correct diagnosis's fixes (one click
  each, a second approver for two-person rules) or rejects a wrong one's top fix with a reason through
  the reject modal, exactly as clicks arrive from Slack.
- :func:`weekly_pass`: ``aoi train weekly --now``'s composition (``aoi.bot.commands.train.weekly_job``)
  with the bench's knobs: export the week → Evolver → SFT/GRPO/KTO → held-out evaluation of candidate
  vs current → promote or keep → announce into a Slack channel (``slack_announcer``, here the fake).
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aoi.agents.evaluation.runner import app_namespace, execute_proposals, incident_text, with_seed
from aoi.agents.observer import Budget
from aoi.agents.planners.factory import PlannerSpec, make_planner
from aoi.agents.records import Diagnosis
from aoi.bot.services import cluster_backends_for, make_investigator
from aoi.policies.schema import Policy, load_policy
from aoi.sim import Problem, SimCluster, grade
from aoi.store import repo
from aoi.store.db import Store
from aoi.store.types import use_clock
from aoi.training.rollout import failed_checks
from tests.bot.harness import APPROVER, SECOND_APPROVER, SlackHarness, button_values, eventually, running_bot
from tests.fakes.slack_api import BOT_USER_ID, RecordedCall

CHANNEL = "C0ONCALL"
REPORTER = "U0REPORTER"
ANNOUNCE_CHANNEL = "C0RETRAIN"
_ts = itertools.count(1)


class SwitchableCluster:
    """The bot's one simulated cluster, re-pointed at each incident's own problem between incidents.

    The bot builds its reader and writer once per process over one cluster object; this object
    forwards every call to the cluster of the incident being replayed (incidents are replayed one at a
    time, so nothing of one incident leaks into the next).
    """

    def __init__(self) -> None:
        self.current: SimCluster | None = None

    def __getattr__(self, name: str) -> Any:
        if self.current is None:
            raise RuntimeError("no incident is being replayed")
        return getattr(self.current, name)


class SimClock:
    """Simulated time for the store: jumps to a moment of the week, then runs at wall-clock speed."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self.at(start)

    def at(self, moment: datetime) -> None:
        with self._lock:
            self._base, self._mark = moment, time.monotonic()

    def __call__(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._mark)


def last_week(cron_fire: datetime) -> tuple[datetime, datetime]:
    """The seven days that end at ``cron_fire`` (the weekly job's run time)."""
    return cron_fire - timedelta(days=7), cron_fire


def previous_fire(cron: str, now: datetime) -> datetime:
    """The weekly trigger's most recent fire time at or before ``now`` (the week just finished)."""
    from aoi.training.weekly import crontab_trigger

    fire = crontab_trigger(cron).get_next_fire_time(None, now - timedelta(days=7))
    assert fire is not None and fire <= now
    return fire


@dataclass
class IncidentOutcome:
    """What happened to one replayed incident, as the bench reports it."""

    problem_id: str
    task: str
    at: str
    investigation_id: str = ""
    status: str = ""
    correct: bool = False
    failed_checks: list[str] = field(default_factory=list)
    reaction: str = ""
    proposals: int = 0
    approved: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    mitigated: bool | None = None
    seconds: float = 0.0


@dataclass
class WeekReplay:
    week: tuple[datetime, datetime]
    outcomes: list[IncidentOutcome]
    stored: dict[str, Any]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "week": [moment.isoformat() for moment in self.week],
            "incidents": len(self.outcomes),
            "correct": sum(o.correct for o in self.outcomes),
            "stored": self.stored,
            "seconds": round(self.seconds, 2),
            "outcomes": [asdict(o) for o in self.outcomes],
        }


@contextmanager
def week_bot(
    tmp_path: Path, template: Path, *, max_steps: int | None = None, **overrides: Any
) -> Iterator[tuple[SlackHarness, SwitchableCluster]]:
    """The real bot (``running_bot``) whose simulated cluster is switched per incident. ``max_steps``
    caps the Observer's steps (the production investigator, ``make_investigator``, under a tighter
    ``Budget``): the heuristic planner answers every train problem right with its default 25 steps,
    so a tighter budget is what gives the week wrong diagnoses to thumb down."""
    switch = SwitchableCluster()
    backends = cluster_backends_for(lambda: switch)  # type: ignore[arg-type,return-value]
    investigator = None
    if max_steps is not None:
        planner = PlannerSpec("heuristic")
        policy = load_policy(None)
        investigator = make_investigator(
            backends, lambda: make_planner(planner), lambda: policy, Budget(max_steps=max_steps), None
        )
    with running_bot(tmp_path, template, backends=backends, investigator=investigator, **overrides) as bot:
        yield bot, switch


def judge(
    problem: Problem, cluster: SimCluster, diagnosis: dict[str, Any], policy: Policy, run: int
) -> tuple[bool, list[str]]:
    """The on-call engineer's verdict on a posted diagnosis (the simulator's grader, which knows the
    fault). For a mitigation task the question is whether its fixes would work: they are executed on
    a replica of the incident's cluster, never on the bot's."""
    if problem.task == "mitigation":
        replica = SimCluster.from_problem(with_seed(problem, run))
        execute_proposals(replica, Diagnosis.model_validate(diagnosis), policy)
        verdict = grade(problem, replica, diagnosis)
    else:
        verdict = grade(problem, cluster, diagnosis)
    return bool(verdict.success), list(failed_checks(bool(verdict.success), verdict.details))


def _proposal_posts(bot: SlackHarness, thread_ts: str) -> list[RecordedCall]:
    return [
        c
        for c in bot.fake.calls_to("chat.postMessage")
        if c.params.get("thread_ts") == thread_ts and button_values(c, "proposal_approve")
    ]


def _execution_reported(store: Store, investigation_id: str, proposal_id: str) -> bool:
    messages = repo.list_slack_messages(store, investigation_id=investigation_id, kind="execution")
    return any(m.proposal_id == proposal_id for m in messages)


def replay_incident(
    bot: SlackHarness,
    switch: SwitchableCluster,
    clock: SimClock,
    problem: Problem,
    at: datetime,
    *,
    run: int = 0,
    policy: Policy,
    timeout: float = 120.0,
) -> IncidentOutcome:
    """Open one incident at simulated time ``at``, let the bot investigate, then react as on-call."""
    started = time.perf_counter()
    outcome = IncidentOutcome(problem.id, str(problem.task), at.isoformat())
    cluster = SimCluster.from_problem(with_seed(problem, run))
    switch.current = cluster
    clock.at(at)
    thread_ts = f"{int(at.timestamp())}.{next(_ts):06d}"
    text = incident_text(problem.app, app_namespace(cluster), problem.task)
    mention = {
        "type": "app_mention",
        "user": REPORTER,
        "text": f"<@{BOT_USER_ID}> {text}",
        "channel": CHANNEL,
        "ts": thread_ts,
    }
    assert bot.event(mention).status_code == 200
    summary = bot.fake.wait_for_call(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == thread_ts, timeout=timeout
    )
    summary_ts = summary.response["ts"]
    found: list[str] = []

    def investigated() -> bool:
        message = repo.find_slack_message(bot.store, CHANNEL, summary_ts)
        if message is None or message.investigation_id is None:
            return False
        found[:] = [message.investigation_id]
        return repo.get_investigation(bot.store, message.investigation_id).status in ("diagnosed", "failed")

    eventually(investigated, f"the investigation of {problem.id}", timeout)
    investigation = repo.get_investigation(bot.store, found[0])
    outcome.investigation_id, outcome.status = investigation.id, str(investigation.status)
    proposals = repo.list_proposals(bot.store, investigation_id=investigation.id)
    outcome.proposals = len(proposals)
    # what the engineer sees: the summary turned into the diagnosis, and one message per fix
    bot.fake.wait_for_call("chat.update", lambda c: c.params.get("ts") == summary_ts, timeout=timeout)
    bot.fake.wait_for(lambda _: len(_proposal_posts(bot, thread_ts)) >= len(proposals), timeout, "the fixes")
    posted = {
        button_values(c, "proposal_approve")[0]: c.response["ts"] for c in _proposal_posts(bot, thread_ts)
    }

    if investigation.status == "diagnosed" and investigation.diagnosis:
        outcome.correct, outcome.failed_checks = judge(problem, cluster, investigation.diagnosis, policy, run)
    else:
        outcome.failed_checks = ["investigation_failed"]

    # a few minutes later: 👍 or 👎 on the diagnosis
    clock.at(at + timedelta(minutes=5))
    outcome.reaction = "+1" if outcome.correct else "-1"
    reaction = {
        "type": "reaction_added",
        "user": APPROVER,
        "reaction": outcome.reaction,
        "item_user": BOT_USER_ID,
        "item": {"type": "message", "channel": CHANNEL, "ts": summary_ts},
    }
    assert bot.event(reaction).status_code == 200
    kind = "thumbs_up" if outcome.correct else "thumbs_down"
    eventually(
        lambda: any(f.kind == kind for f in repo.list_feedback(bot.store, investigation_id=investigation.id)),
        f"the {kind} row",
        timeout,
    )

    clock.at(at + timedelta(minutes=8))
    where = {"channel": CHANNEL, "thread_ts": thread_ts}
    if outcome.correct:
        for proposal in proposals:  # one click per fix, top down, stopping at the first that fails
            message_ts = posted[proposal.id]
            for approver in (APPROVER, SECOND_APPROVER)[: proposal.approvals_required]:
                bot.action("proposal_approve", proposal.id, user=approver, message_ts=message_ts, **where)
            reported = functools.partial(_execution_reported, bot.store, investigation.id, proposal.id)
            eventually(reported, f"the execution of {proposal.id}", timeout)
            outcome.approved.append(proposal.id)
            done = repo.get_proposal(bot.store, proposal.id)
            outcome.executions.append(str(done.status))
            if done.status != "succeeded":
                break
    elif proposals:  # the top fix of a wrong diagnosis is rejected, with the reason, in the modal
        top = proposals[0]
        opened = len(bot.fake.calls_to("views.open"))
        bot.action("proposal_reject", top.id, user=APPROVER, message_ts=posted[top.id], **where)
        bot.fake.wait_for(
            lambda calls: sum(c.method == "views.open" for c in calls) > opened, timeout, "the modal"
        )
        view = bot.fake.calls_to("views.open")[opened].params["view"]
        checks = ", ".join(outcome.failed_checks) or "not confirmed"
        reason = f"wrong diagnosis ({checks} check failed); not this fix"
        assert bot.view_submission(APPROVER, view, reason).status_code == 200
        # the proposal's status and the feedback row with the reason are written separately: wait for
        # both, or the row may land after the replay's simulated clock is gone (outside the week)
        eventually(
            lambda: (
                repo.get_proposal(bot.store, top.id).status == "rejected"
                and any(
                    f.kind == "rejected" and f.reason
                    for f in repo.list_feedback(bot.store, investigation_id=investigation.id)
                )
            ),
            "the rejection and its reason",
            timeout,
        )
        outcome.rejected.append(top.id)
    if problem.task == "mitigation":
        outcome.mitigated = bool(grade(problem, cluster, investigation.diagnosis or {}).success)
    outcome.seconds = round(time.perf_counter() - started, 3)
    return outcome


def stored_counts(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    """What landed in the store during the week: feedback rows by kind, proposals by status, executions."""
    feedback = repo.list_feedback(store, since=since, until=until)
    investigations = [
        i for i in repo.list_investigations(store, limit=100_000) if since <= i.created_at < until
    ]
    proposals = [p for i in investigations for p in repo.list_proposals(store, investigation_id=i.id)]
    audit = [e.action for e in repo.list_audit(store, since=since) if e.at < until]
    by_day: dict[str, Counter[int]] = {}
    for row in feedback:
        by_day.setdefault(str(row.kind), Counter())[(row.created_at - since).days] += 1
    return {
        "investigations": dict(Counter(str(i.status) for i in investigations)),
        "feedback_by_day": {kind: [days[d] for d in range(7)] for kind, days in sorted(by_day.items())},
        "feedback": dict(sorted(Counter(str(f.kind) for f in feedback).items())),
        "feedback_by_source": dict(sorted(Counter(str(f.source) for f in feedback).items())),
        "rejections_with_reason": sum(1 for f in feedback if f.kind == "rejected" and f.reason),
        "proposals": dict(sorted(Counter(str(p.status) for p in proposals).items())),
        "executions": audit.count("execute.after"),
    }


def replay_week(
    bot: SlackHarness,
    switch: SwitchableCluster,
    problems: Sequence[Problem],
    week: tuple[datetime, datetime],
    *,
    on_incident: Callable[[IncidentOutcome], None] | None = None,
) -> WeekReplay:
    """Replay ``problems`` as incidents spread evenly over ``week``; problem ``i`` after the first
    ``len(set)`` repeats is replayed with another telemetry seed (``with_seed``)."""
    start, end = week
    policy = load_policy(None)
    step = (end - start) / max(1, len(problems))
    clock = SimClock(start)
    outcomes: list[IncidentOutcome] = []
    seen: Counter[str] = Counter()
    began = time.perf_counter()
    with use_clock(clock):
        for i, problem in enumerate(problems):
            run = seen[problem.id]
            seen[problem.id] += 1
            outcome = replay_incident(
                bot, switch, clock, problem, start + step * (i + 0.25), run=run, policy=policy
            )
            outcomes.append(outcome)
            if on_incident is not None:
                on_incident(outcome)
    return WeekReplay(week, outcomes, stored_counts(bot.store, start, end), time.perf_counter() - began)


# -- the weekly pass -------------------------------------------------------------------------------
@dataclass
class WeeklyKnobs:
    """What ``aoi train weekly`` takes as flags (plus the batch shapes a CPU needs)."""

    sft_steps: int = 30
    grpo_steps: int = 30
    kto_steps: int = 20
    eval_steps: int = 12
    margin: float = 0.02
    batch_size: int = 4
    grpo_accumulation: int = 1
    max_new_tokens: int = 160
    lora_r: int = 16
    learning_rate: float | None = None
    embedder: str = "minilm"


@dataclass
class WeeklyRun:
    report: dict[str, Any]
    seconds: dict[str, float]
    announcement: dict[str, Any]


def weekly_pass(
    bot: SlackHarness,
    *,
    base: Path,
    data_dir: Path,
    heldout: Sequence[Problem],
    now: datetime,
    knobs: WeeklyKnobs,
    expert_rows: Callable[[], list[dict[str, Any]]] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> WeeklyRun:
    """One weekly pass over the bot's store at ``now``, composed like ``weekly_job``; the announcement
    goes to ``ANNOUNCE_CHANNEL`` through the bot's Slack (the fake), chart included."""
    from aoi.agents.observer import Budget
    from aoi.bot.commands.models import registry_root
    from aoi.bot.commands.train import expert_rows_for, slack_announcer
    from aoi.sim import load_suite
    from aoi.training.config import GrpoSettings, KtoSettings, LoraSettings, SftSettings
    from aoi.training.datasets import default_renderer, default_tool_specs
    from aoi.training.embeddings import make_embedder
    from aoi.training.guidance import GuidanceLibrary
    from aoi.training.pipeline import EvalScore, evaluate_local
    from aoi.training.registry import ModelRegistry
    from aoi.training.weekly import WeeklyConfig, run_weekly

    settings = bot.settings.model_copy(update={"data_dir": data_dir, "announce_channel": ANNOUNCE_CHANNEL})
    placeholder = data_dir / "runs"
    lora = LoraSettings(r=knobs.lora_r, alpha=2 * knobs.lora_r)
    lr = {} if knobs.learning_rate is None else {"learning_rate": knobs.learning_rate}
    common: dict[str, Any] = {"base_model": base, "output_dir": placeholder, "lora": lora, **lr}
    grpo_batch = 4 // knobs.grpo_accumulation
    config = WeeklyConfig(
        data_dir=data_dir,
        base_model=base,
        grpo=GrpoSettings(
            **common,
            max_steps=knobs.grpo_steps,
            batch_size=grpo_batch,
            gradient_accumulation_steps=knobs.grpo_accumulation,
            max_completion_length=knobs.max_new_tokens,
            save_steps=max(5, knobs.grpo_steps),
        ),
        sft=SftSettings(
            **common,
            max_steps=knobs.sft_steps,
            batch_size=knobs.batch_size,
            save_steps=max(5, knobs.sft_steps),
        )
        if knobs.sft_steps > 0
        else None,
        kto=KtoSettings(
            **common,
            max_steps=knobs.kto_steps,
            batch_size=max(2, knobs.batch_size),
            save_steps=max(5, knobs.kto_steps),
        )
        if knobs.kto_steps > 0
        else None,
        margin=knobs.margin,
        eval_budget=Budget(max_steps=knobs.eval_steps, max_retries=0, deadline_s=3600.0),
        eval_max_new_tokens=knobs.max_new_tokens,
    )
    seconds: dict[str, float] = {"evaluate": 0.0}

    def rows() -> list[dict[str, Any]]:
        started = time.perf_counter()
        built = expert_rows() if expert_rows is not None else expert_rows_for(settings, base)[0]
        seconds["expert_rows"] = round(time.perf_counter() - started, 2)
        log(f"expert rows: {len(built)} ({seconds['expert_rows']:.0f} s)")
        return built

    def evaluate(label: str, adapter: Path | None) -> EvalScore:
        started = time.perf_counter()
        score = evaluate_local(
            label,
            heldout,
            base_model=base,
            adapter=adapter,
            budget=config.eval_budget,
            max_new_tokens=knobs.max_new_tokens,
        )
        took = time.perf_counter() - started
        seconds["evaluate"] = round(seconds["evaluate"] + took, 2)
        log(
            f"evaluated {label}: avg@1 {score.avg_at_k:.3f}, "
            f"valid steps {score.valid_step_rate:.1%} ({took:.0f} s)"
        )
        return score

    announce = slack_announcer(settings)
    assert announce is not None
    before = len(bot.fake.calls)
    started = time.perf_counter()
    report = run_weekly(
        bot.store,
        ModelRegistry(bot.store, registry_root(settings)),
        config,
        expert_rows=rows,
        tools=default_tool_specs(),
        render=default_renderer(base),
        heldout=heldout,
        train_problems=load_suite("aiopslab"),
        evaluate=evaluate,
        library=GuidanceLibrary(bot.store, make_embedder(knobs.embedder)),
        announce=announce,
        clock=lambda: now,
    )
    seconds["total"] = round(time.perf_counter() - started, 2)
    for trained in report.trained:
        seconds[f"train_{trained['method']}"] = round(float(trained["metrics"].get("train_seconds", 0.0)), 2)
    accounted = sum(v for k, v in seconds.items() if k != "total")
    seconds["export_evolve_datasets_chart"] = round(max(0.0, seconds["total"] - accounted), 2)
    return WeeklyRun(report.to_json(), seconds, announcement(bot, before))


def announcement(bot: SlackHarness, since_call: int) -> dict[str, Any]:
    """The retrain announcement the channel received after call ``since_call``: text and chart."""
    calls = bot.fake.calls[since_call:]
    posts = [
        c for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == ANNOUNCE_CHANNEL
    ]
    files = [
        c
        for c in calls
        if c.method == "files.completeUploadExternal" and c.params.get("channel_id") == ANNOUNCE_CHANNEL
    ]
    chart = files[0].response["files"][0] if files else None
    uploaded = bot.fake.uploaded(chart["id"]) if chart else None
    return {
        "channel": ANNOUNCE_CHANNEL,
        "text": posts[0].params.get("text") if posts else None,
        "chart": None
        if chart is None
        else {
            "file_id": chart["id"],
            "title": chart.get("title"),
            "bytes": len(uploaded or b""),
            "png": bool(uploaded and uploaded.startswith(b"\x89PNG")),
            "in_thread": files[0].params.get("thread_ts") == posts[0].response.get("ts") if posts else False,
        },
    }


def tiny_base(folder: Path) -> Path:
    """The random tiny Llama (``aoi.training.tiny``) with a tokenizer trained on the ``local`` planner's
    rendered prompts, as a base model for plumbing runs: it learns nothing useful."""
    from aoi.agents.planners.heuristic import HeuristicPlanner
    from aoi.agents.planners.local_planner import LocalPlanner
    from aoi.sim import load_suite
    from aoi.training.datasets import default_tool_specs, planner_renderer, step_rows
    from aoi.training.rollout import run_episode
    from aoi.training.tiny import build_tiny_model

    if (folder / "config.json").is_file():
        return folder
    suite = load_suite("aiopslab")
    episodes = [run_episode(suite[pid], HeuristicPlanner()) for pid in TINY_CORPUS_PROBLEMS]
    render = planner_renderer(LocalPlanner())
    rows = [r for e in episodes for r in step_rows(e.trajectory, tools=default_tool_specs(), render=render)]
    corpus = [m["content"] for r in rows for m in r["prompt"]] + [r["expert_step"] for r in rows]
    return build_tiny_model(folder, corpus, vocab_size=8192)


TINY_CORPUS_PROBLEMS = ("k8s_target_port-misconfig-localization-1", "k8s_target_port-misconfig-mitigation-1")
