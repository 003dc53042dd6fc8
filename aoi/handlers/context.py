"""``Services``: everything a Slack surface needs, built once by the composition root (``aoi.bot``).

Handlers never read settings, open databases or construct agents themselves: ``register(app,
services)`` receives this object, so tests build one explicitly (a SQLite store, the simulator, the
heuristic planner) and production builds it from ``Settings``. The callables hide *how* an Observer or
executor is assembled (backends, tools, credentials) from the Slack layer.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aoi.agents.executor import ExecutionResult
from aoi.agents.records import ActionRequest, Trajectory, TrajectoryStep
from aoi.handlers.tasks import ExecuteTask, InvestigateTask, TaskRunner
from aoi.policies.evaluate import Actor
from aoi.policies.live import LivePolicy
from aoi.policies.schema import Policy
from aoi.store.db import Store

StepCallback = Callable[[TrajectoryStep], None]


Investigator = Callable[[str, StepCallback], Trajectory]
"""``investigate(incident, on_step) -> Trajectory``: one read-only investigation; ``on_step`` is
called with each step taken (for progress lines)."""

ExecuteFn = Callable[[str, ActionRequest, Actor], ExecutionResult]
"""``execute(proposal_id, request, actor) -> ExecutionResult``: an approved request through the
scoped executor (policy re-check, audit, dry run, verify); the proposal id is the idempotency key."""


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Services:
    """The composition root's wiring, handed to every ``register(app, services)``.

    ``runner`` is attached after construction (the runner itself needs the services to run tasks).
    ``policy_source`` returns the policy in force (``policies.LivePolicy``: edits apply without a
    restart). ``extra_approvers`` are ``AOI_APPROVERS``, added to the policy's approvers. ``proposal_ttl_s``
    (``AOI_PROPOSAL_TTL_MINUTES``): a pending fix older than this is not approved; 0 = no limit.
    """

    store: Store
    policy_source: Callable[[], Policy]
    investigate: Investigator
    execute: ExecuteFn
    planner_name: str
    incident_channel_pattern: re.Pattern[str]
    alert_channel: str | None = None
    extra_approvers: frozenset[str] = frozenset()
    model_version: Callable[[], str | None] = lambda: None
    runner: TaskRunner | None = None
    progress_interval_s: float = 2.0
    proposal_ttl_s: float = 7_200.0
    worker_name: str = field(default_factory=default_worker_name)

    @property
    def policy(self) -> Policy:
        """The policy in force now (``AOI_POLICY_FILE`` is re-read when it changes; see LivePolicy)."""
        return self.policy_source()

    def policy_label(self) -> str:
        """Which policy is in force: the file and its content digest when it is live."""
        source = self.policy_source
        if not isinstance(source, LivePolicy):
            return ""
        source()  # look at the file now, not at the last decision
        return f"{source.path or 'packaged default'} @ {source.digest}"

    def policy_problem(self) -> str | None:
        """Why the latest edit to the policy file is not in force (None when it is)."""
        source = self.policy_source
        if not isinstance(source, LivePolicy):
            return None
        source()
        return source.problem

    def close(self) -> None:
        """Stop what the services run in the background (the live policy's reader)."""
        if isinstance(self.policy_source, LivePolicy):
            self.policy_source.close()

    def past_approval_window(self, created_at: datetime, now: datetime) -> timedelta | None:
        """A proposal's age when it is older than ``proposal_ttl_s`` (else ``None``, and always
        ``None`` with no window): the one rule the Approve click and App Home's pending list share."""
        age = now - created_at
        return age if self.proposal_ttl_s > 0 and age.total_seconds() > self.proposal_ttl_s else None

    def submit(self, task: InvestigateTask | ExecuteTask) -> None:
        """Hand a task to the runner (raises if the composition root forgot to attach one)."""
        if self.runner is None:
            raise RuntimeError("Services.runner is not set: the composition root must attach a task runner")
        self.runner.submit(task)

    def model_label(self) -> str:
        """The planner and, for model planners, the promoted model version (App Home, diagnoses)."""
        version = self.model_version()
        return f"{self.planner_name} / {version}" if version else self.planner_name

    def health_problem(self) -> str | None:
        """None when the store answers a trivial query, else what failed (``GET /healthz``)."""
        try:
            with self.store.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as exc:
            return f"database {self.store.url} unreachable: {type(exc).__name__}: {exc}"
        return None
