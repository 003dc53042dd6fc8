"""Run a planner k times over a suite, in parallel worker processes, and score it (DESIGN.md §9).

Scores: ``best_at_k`` = share of problems solved in at least one of the k runs; ``avg_at_k`` = mean
share of runs solved; ``std`` = standard deviation of the k per-run accuracies. ``by_task`` and
``by_split`` break both down. ``EvalResult.to_json()`` is exactly the §9 object; ``records`` and
``problem_meta`` (fault type per problem) feed the report only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aoi.agents.evaluation.runner import RunRecord, run_problem
from aoi.agents.observer import Budget
from aoi.agents.planners.factory import PlannerSpec
from aoi.policies.schema import Policy
from aoi.sim import Problem, load_suite

NAMED_SUITES = ("aiopslab", "train", "test")


def load_problems(suite: str) -> list[Problem]:
    """``aiopslab`` (the 86 tasks), ``train``/``test`` (its splits) or a problem file path."""
    if suite in NAMED_SUITES:
        problems = list(load_suite("aiopslab").values())
        return problems if suite == "aiopslab" else [p for p in problems if p.split == suite]
    path = Path(suite)
    if not path.exists():
        raise ValueError(
            f"unknown suite {suite!r}: expected one of {', '.join(NAMED_SUITES)} or a problem file path"
        )
    return list(load_suite(str(path)).values())


def stratified(problems: Sequence[Problem], n: int) -> list[Problem]:
    """``n`` problems spread over task types first, then fault families (round-robin), deterministic.

    Why: a CPU-bound evaluation of a local model affords a handful of problems; the first ``n`` of a
    split would all be one task type of one fault family, which says nothing about the rest."""
    if n <= 0 or n >= len(problems):
        return list(problems)
    by_task: dict[str, dict[str, list[Problem]]] = {}
    for problem in sorted(problems, key=lambda p: p.id):
        family = problem.id.rsplit("-", 2)[0]
        by_task.setdefault(str(problem.task), {}).setdefault(family, []).append(problem)
    picked: list[Problem] = []
    while len(picked) < n and any(f for t in by_task.values() for f in t.values()):
        for task in sorted(by_task):
            families = [f for f in sorted(by_task[task]) if by_task[task][f]]
            if families and len(picked) < n:
                # the family of this task least represented so far
                family = min(families, key=lambda f: sum(p.id.startswith(f) for p in picked))
                picked.append(by_task[task][family].pop(0))
    return picked


def fault_type(problem: Problem) -> str:
    """For reporting only: the fault type (``otel_flag:<flag>``) or ``noop``."""
    fault = problem.fault
    if fault is None:
        return "noop"
    kind = str(fault.type)
    flag = (fault.params or {}).get("flag") if hasattr(fault, "params") else None
    return f"{kind}:{flag}" if flag else kind


@dataclass
class EvalResult:
    suite: str
    planner: str
    k: int
    problems: list[Problem]
    records: dict[str, list[RunRecord]] = field(default_factory=dict)

    def _scores(self, ids: Sequence[str]) -> dict[str, Any]:
        runs = [sorted(self.records[i], key=lambda r: r.run) for i in ids]
        if not runs:
            return {"n": 0, "best_at_k": 0.0, "avg_at_k": 0.0}
        best = sum(any(r.success for r in rs) for rs in runs) / len(runs)
        avg = sum(sum(r.success for r in rs) / len(rs) for rs in runs) / len(runs)
        return {"n": len(runs), "best_at_k": round(best, 4), "avg_at_k": round(avg, 4)}

    def _std(self) -> float:
        per_run = []
        for run in range(self.k):
            outcomes = [r.success for rs in self.records.values() for r in rs if r.run == run]
            if outcomes:
                per_run.append(sum(outcomes) / len(outcomes))
        return round(statistics.pstdev(per_run), 4) if len(per_run) > 1 else 0.0

    def _group(self, key: Callable[[Problem], str]) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for p in self.problems:
            groups[key(p)].append(p.id)
        return {name: self._scores(ids) for name, ids in sorted(groups.items())}

    def by_fault(self) -> dict[str, dict[str, Any]]:
        return self._group(fault_type)

    def to_json(self) -> dict[str, Any]:
        """The §9 object, exactly."""
        overall = self._scores([p.id for p in self.problems])
        return {
            "suite": self.suite,
            "planner": self.planner,
            "k": self.k,
            "n": overall["n"],
            "best_at_k": overall["best_at_k"],
            "avg_at_k": overall["avg_at_k"],
            "std": self._std(),
            "by_task": self._group(lambda p: str(p.task)),
            "by_split": self._group(lambda p: str(p.split)),
            "problems": [
                {
                    "id": p.id,
                    "task": p.task,
                    "split": p.split,
                    "runs": [
                        {"success": r.success, "steps": r.steps, "seconds": r.seconds, "tokens": r.tokens}
                        for r in sorted(self.records[p.id], key=lambda r: r.run)
                    ],
                }
                for p in self.problems
            ],
        }


def _run(args: tuple[Problem, PlannerSpec, int, Budget | None, Policy | None]) -> RunRecord:
    problem, planner, run, budget, policy = args
    try:
        return run_problem(problem, planner, run, budget, policy)
    except Exception as exc:  # a crash in one run is a failed run with its reason, not a failed eval
        return RunRecord(
            problem_id=problem.id,
            run=run,
            success=False,
            steps=0,
            seconds=0.0,
            investigation_seconds=0.0,
            error=f"{type(exc).__name__}: {exc}",
        )


def evaluate_suite(
    problems: Sequence[Problem],
    planner: PlannerSpec,
    k: int = 1,
    *,
    suite: str = "custom",
    workers: int = 1,
    budget: Budget | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
    policy: Policy | None = None,
) -> EvalResult:
    """Run every problem ``k`` times (``workers`` processes; 1 = in this process) and collect records.
    ``policy``: the one the executor and proposal annotations use (default: the packaged one)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    result = EvalResult(suite=suite, planner=planner.name, k=k, problems=list(problems))
    result.records = {p.id: [] for p in problems}
    jobs = [(p, planner, run, budget, policy) for p in problems for run in range(k)]

    def collect(record: RunRecord) -> None:
        result.records[record.problem_id].append(record)
        if on_record is not None:
            on_record(record)

    if workers == 1:
        for job in jobs:
            collect(_run(job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run, job) for job in jobs]
            for future in as_completed(futures):
                collect(future.result())
    return result
