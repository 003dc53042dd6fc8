"""One evaluation run: a fresh simulated cluster, one investigation, the top fix executed, one grade.

The agent side (Observer, planner, executor) only ever sees the cluster through the read/write
backends; the problem's fault is read here solely to build the cluster and by the grader. Each of the
k runs of a problem replays it with a different telemetry seed (``seed + 1000 * run``), so that a
deterministic planner's k runs still face different noise.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from pydantic import BaseModel, Field

from aoi.agents.audit import InMemoryAuditSink
from aoi.agents.backends.sim import SimReadBackend, SimWriteBackend
from aoi.agents.executor import ExecutionResult, Executor
from aoi.agents.observer import Budget, Observer
from aoi.agents.planners.factory import PlannerSpec, make_planner
from aoi.agents.proposals import policy_annotator
from aoi.agents.records import Diagnosis, new_id
from aoi.agents.tools import read_tools
from aoi.policies.evaluate import Actor
from aoi.policies.schema import Policy, load_policy
from aoi.sim import Problem, SimCluster, grade

# The approver evaluation runs act as: authorised through the executor's extra approvers, exactly the
# path AOI_APPROVERS takes for a click in Slack.
EVAL_ACTOR = Actor(user_id="aoi-eval-approver")
SYSTEM_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "default", "chaos-mesh", "observe"}
)

TASK_INSTRUCTIONS = {
    "detection": "Detect whether the service has an anomaly right now (answer detected true or false).",
    "localization": "Localize the fault: name the faulty component(s) (service, workload or database names).",
    "analysis": "Analyse the root cause: the system level and the fault type of the problem.",
    "mitigation": "Mitigate the incident: propose the fix that brings every pod back to Ready.",
}


class RunRecord(BaseModel):
    """The outcome of one run (the §9 ``runs`` entry plus what the report and the bench need)."""

    problem_id: str
    run: int
    success: bool
    steps: int
    seconds: float
    investigation_seconds: float
    tokens: dict[str, int] = Field(default_factory=dict)
    degraded: bool = False
    executed: str | None = None
    grade_details: dict[str, Any] = Field(default_factory=dict)
    diagnosis: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


def app_namespace(cluster: SimCluster) -> str:
    """The namespace the application runs in (the one non-system namespace with Deployments)."""
    namespaces = sorted(
        {
            str((d.get("metadata") or {}).get("namespace"))
            for d in cluster.list_objects("Deployment")
            if (d.get("metadata") or {}).get("namespace") not in SYSTEM_NAMESPACES
        }
    )
    return namespaces[0] if namespaces else "default"


def incident_text(app: str, namespace: str, task: str | None) -> str:
    """What an alert or an on-call engineer would say: the service and namespace, never the fault."""
    title = "".join(part.capitalize() for part in app.split("-"))
    text = f"Incident report for the {title} application running in Kubernetes namespace {namespace}."
    if task in TASK_INSTRUCTIONS:
        text += " " + TASK_INSTRUCTIONS[task]
    else:
        text += " Investigate, find the root cause and propose a fix."
    return text


def with_seed(problem: Problem, run: int) -> Problem:
    """The same problem with the telemetry seed of run ``run`` (run 0 is the problem as written)."""
    if run == 0:
        return problem
    return problem.model_copy(update={"seed": int(problem.seed) + 1000 * run})


# A redeploy that strands every database's volume needs one approval per volume (six in the hotel app).
MAX_APPROVED_STEPS = 6


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The packaged policy, parsed once per (worker) process; policies are read-only."""
    return load_policy(None)


def execute_top_proposal(
    cluster: SimCluster, diagnosis: Diagnosis, policy: Policy, verify_timeout_s: float = 600.0
) -> ExecutionResult | None:
    """Execute only the first remediation (what a single Approve click on the top proposal does)."""
    if not diagnosis.remediations:
        return None
    return execute_proposals(
        cluster,
        diagnosis.model_copy(update={"remediations": diagnosis.remediations[:1]}),
        policy,
        verify_timeout_s,
    )[0]


def execute_proposals(
    cluster: SimCluster, diagnosis: Diagnosis, policy: Policy, verify_timeout_s: float = 600.0
) -> list[ExecutionResult]:
    """Approve and execute the proposals in the order shown (one click each, at most
    ``MAX_APPROVED_STEPS``), stopping at the first that is refused or fails, as an on-call engineer
    working down the proposal list would. Each goes through the executor approved by ``EVAL_ACTOR``."""
    reader = SimReadBackend(cluster)
    executor = Executor(
        SimWriteBackend(cluster),
        reader,
        policy,
        InMemoryAuditSink(),
        extra_approvers=[EVAL_ACTOR.user_id],
        verify_timeout_s=verify_timeout_s,
        verify_interval_s=10.0,
        sleep=cluster.advance,
    )
    results: list[ExecutionResult] = []
    for remediation in diagnosis.remediations[:MAX_APPROVED_STEPS]:
        result = executor.execute(new_id("prop"), remediation, EVAL_ACTOR)
        results.append(result)
        if result.status == "refused" or (result.status == "failed" and not result.dry_run):
            break
    return results


def run_problem(
    problem: Problem,
    planner: PlannerSpec,
    run: int = 0,
    budget: Budget | None = None,
    policy: Policy | None = None,
) -> RunRecord:
    """Build, investigate, (mitigate), grade. Never raises for a planner/agent failure: it is a miss."""
    started = time.perf_counter()
    policy = policy or default_policy()
    cluster = SimCluster.from_problem(with_seed(problem, run))
    namespace = app_namespace(cluster)
    observer = Observer(
        read_tools(SimReadBackend(cluster)), make_planner(planner), budget, annotate=policy_annotator(policy)
    )
    t0 = time.perf_counter()
    trajectory = observer.run(incident_text(problem.app, namespace, problem.task), problem.task, problem.id)
    investigation_seconds = time.perf_counter() - t0
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None  # Observer.run always concludes
    executed = None
    if problem.task == "mitigation":
        results = execute_proposals(cluster, diagnosis, policy)
        executed = "; ".join(f"{r.status}: {r.verb} {r.target}" for r in results) or None
    verdict = grade(problem, cluster, diagnosis.to_json_dict())
    return RunRecord(
        problem_id=problem.id,
        run=run,
        success=bool(verdict.success),
        steps=diagnosis.steps,
        seconds=round(time.perf_counter() - started, 4),
        investigation_seconds=round(investigation_seconds, 4),
        tokens={"in": diagnosis.tokens.in_, "out": diagnosis.tokens.out},
        degraded=diagnosis.degraded,
        executed=executed,
        grade_details=dict(verdict.details),
        diagnosis=diagnosis.to_json_dict(),
    )
