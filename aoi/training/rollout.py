"""Episodes on the simulator that keep their trajectories: expert collection, Evolver runs, benchmarks.

Built from the evaluation harness's own pieces (``aoi.agents.evaluation.runner``: the incident text,
the per-run seed, executing the top proposal as an approved click) so an episode here is graded
exactly like ``aoi eval`` grades a run — but it also returns the trajectory (which the harness's
``RunRecord`` does not carry), accepts a planner *instance* (a local model is loaded once, not per
run) and a guidance source (the Evolver on/off comparison). Only the grader sees the fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aoi.agents.backends.sim import SimReadBackend
from aoi.agents.evaluation.runner import app_namespace, execute_top_proposal, incident_text, with_seed
from aoi.agents.observer import Budget, Observer
from aoi.agents.planners.base import FallbackPlanner, Planner, PlannerContext, PlannerOutput
from aoi.agents.proposals import policy_annotator
from aoi.agents.records import Step, Trajectory
from aoi.agents.tools import read_tools
from aoi.policies.schema import Policy, load_policy
from aoi.sim import Problem, SimCluster, grade

GuidanceSource = Callable[[str], list[str]]


@dataclass
class Episode:
    """One graded investigation with its trajectory.

    ``failed_checks`` names what the grader found wrong (the task, and for mitigation whether the
    fault was left in place and/or the namespace is unhealthy) — never the expected answer, which the
    grader's details also carry and which is deliberately not kept here.
    """

    problem_id: str
    run: int
    task: str
    split: str
    success: bool
    trajectory: Trajectory
    failed_checks: tuple[str, ...] = ()
    executed: str | None = None
    seconds: float = 0.0
    guidance: list[str] = field(default_factory=list)
    error: str | None = None


def failed_checks(success: bool, details: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the grader checks that failed, read only from non-revealing keys of its details."""
    if success:
        return ()
    task = str(details.get("task", ""))
    checks = [task] if task else []
    if details.get("fault_undone") is False:
        checks.append("fault_left_in_place")
    if details.get("unhealthy"):
        checks.append("end_state")
    return tuple(checks)


class AbstainingFallback:
    """A fallback that answers nothing: measures a model on its own (no heuristic rescue).

    The Observer hands over to its fallback when the model keeps failing and asks it to conclude when
    the budget runs out; this one submits "no answer", and :func:`run_episode` scores that as a miss.
    """

    name = "abstain"

    def conclude(self, context: PlannerContext) -> Step:
        return Step(
            action_type="submit",
            summary="no valid step from the model: no answer",
            args={"detected": False, "faulty_components": []},
            confidence=0.0,
        )

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        return PlannerOutput(step=self.conclude(context))


def abstained(trajectory: Trajectory) -> bool:
    """Whether the answer came from :class:`AbstainingFallback` (the model itself gave none)."""
    return bool(trajectory.steps) and trajectory.steps[-1].planner == AbstainingFallback.name


def run_episode(
    problem: Problem,
    planner: Planner,
    *,
    run: int = 0,
    budget: Budget | None = None,
    guidance: GuidanceSource | None = None,
    policy: Policy | None = None,
    fallback: FallbackPlanner | None = None,
) -> Episode:
    """Fresh cluster → Observer (with guidance) → top fix executed for mitigation → graded.

    ``fallback`` replaces the Observer's heuristic fallback; with :class:`AbstainingFallback` an
    episode the model could not answer itself counts as failed, whatever the grader says.
    """
    started = time.perf_counter()
    policy = policy or load_policy(None)
    cluster = SimCluster.from_problem(with_seed(problem, run))
    namespace = app_namespace(cluster)
    incident = incident_text(problem.app, namespace, problem.task)
    notes: list[str] = []

    def asked(text: str) -> list[str]:
        """The source itself (the Observer re-asks with what its probes saw); keeps every note shown."""
        assert guidance is not None
        answer = guidance(text)
        notes.extend(n for n in answer if n not in notes)
        return answer

    observer = Observer(
        read_tools(SimReadBackend(cluster)),
        planner,
        budget,
        fallback=fallback,
        guidance=asked if guidance is not None else None,
        annotate=policy_annotator(policy),
    )
    trajectory = observer.run(incident, problem.task, problem.id)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None  # Observer.run always concludes
    executed = None
    if problem.task == "mitigation":
        result = execute_top_proposal(cluster, diagnosis, policy)
        executed = None if result is None else f"{result.status}: {result.verb} {result.target}"
    verdict = grade(problem, cluster, diagnosis.to_json_dict())
    success = bool(verdict.success) and not abstained(trajectory)
    return Episode(
        problem_id=problem.id,
        run=run,
        task=str(problem.task),
        split=str(problem.split),
        success=success,
        trajectory=trajectory,
        failed_checks=failed_checks(success, verdict.details),
        executed=executed,
        seconds=round(time.perf_counter() - started, 4),
        guidance=list(notes),
    )


def run_episodes(
    problems: Sequence[Problem],
    planner: Planner,
    *,
    k: int = 1,
    budget: Budget | None = None,
    guidance: GuidanceSource | None = None,
    on_episode: Callable[[Episode], None] | None = None,
    fallback: FallbackPlanner | None = None,
) -> list[Episode]:
    """Every problem ``k`` times (run r uses the harness's seed for run r), in this process.

    A run that raises is recorded as a failed episode with ``error`` set (and an empty trajectory).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    policy = load_policy(None)
    episodes: list[Episode] = []
    for problem in problems:
        for run in range(k):
            try:
                episode = run_episode(
                    problem,
                    planner,
                    run=run,
                    budget=budget,
                    guidance=guidance,
                    policy=policy,
                    fallback=fallback,
                )
            except Exception as exc:  # a crash in one run is a failed run with its reason, as in `aoi eval`
                episode = Episode(
                    problem_id=problem.id,
                    run=run,
                    task=str(problem.task),
                    split=str(problem.split),
                    success=False,
                    trajectory=Trajectory(problem_id=problem.id, task=problem.task),
                    error=f"{type(exc).__name__}: {exc}",
                )
            episodes.append(episode)
            if on_episode is not None:
                on_episode(episode)
    return episodes


def scores(episodes: Iterable[Episode]) -> dict[str, float]:
    """avg@k, best@k and their gap over the episodes' problems (AIOpsLab/AOI definitions)."""
    by_problem: dict[str, list[bool]] = {}
    for episode in episodes:
        by_problem.setdefault(episode.problem_id, []).append(episode.success)
    if not by_problem:
        return {"n": 0, "avg_at_k": 0.0, "best_at_k": 0.0, "gap": 0.0}
    avg = sum(sum(v) / len(v) for v in by_problem.values()) / len(by_problem)
    best = sum(any(v) for v in by_problem.values()) / len(by_problem)
    return {
        "n": len(by_problem),
        "avg_at_k": round(avg, 4),
        "best_at_k": round(best, 4),
        "gap": round(best - avg, 4),
    }
