"""The heuristic planner diagnoses every fault type the simulator has — AIOpsLab's and ours — from
tool outputs alone: one localization and one analysis problem per fault type (one per feature flag),
on targets chosen by the catalogue, graded by the simulator's grader."""

from __future__ import annotations

from typing import Any

import pytest

from aoi.agents.evaluation.runner import run_problem
from aoi.agents.planners.factory import PlannerSpec
from aoi.sim import Problem
from aoi.sim.apps import load_app
from aoi.sim.faults.catalogue import catalogue
from aoi.sim.generate import combinations
from aoi.sim.grader import expected_answer


def _observable(combo: dict[str, Any]) -> bool:
    """Network impairment of a pod shows only in its callers' view: an entry point whose only client
    is outside the simulated application (no in-app caller) leaves no trace in logs, metrics or traces."""
    fault = combo["fault"]
    if fault["type"] not in ("network_delay", "network_loss"):
        return True
    edges = load_app(combo["app"]).edges()
    return any(callee == fault["target"] for _, callee in edges)


def one_problem_per_fault_and_task() -> list[Problem]:
    """The first valid combination per (fault type, flag, task), for analysis and localization
    (detection for faults without a target), deterministic."""
    picked: dict[tuple[str, str, str], dict[str, Any]] = {}
    for combo in combinations():
        fault = combo["fault"]
        if fault is None or combo["task"] not in ("analysis", "localization", "detection"):
            continue
        if not _observable(combo):
            continue
        key = (fault["type"], str(fault["params"].get("flag", "")), combo["task"])
        picked.setdefault(key, combo)
    wanted = {
        k: c
        for k, c in picked.items()
        if k[2] in ("analysis", "localization") or (k[0], k[1], "localization") not in picked
    }
    problems = []
    for i, (key, combo) in enumerate(sorted(wanted.items())):
        draft = Problem.model_validate({**combo, "id": "-".join(filter(None, key)), "seed": 1000 + i})
        problems.append(draft.model_copy(update={"expected": expected_answer(draft)}))
    return problems


PROBLEMS = one_problem_per_fault_and_task()


def test_every_fault_type_of_the_catalogue_is_covered() -> None:
    covered = {p.fault.type for p in PROBLEMS if p.fault is not None}
    assert covered == set(catalogue().faults)
    assert len(PROBLEMS) >= 2 * len(covered) - 5


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.id for p in PROBLEMS])
def test_heuristic_planner_diagnoses_fault(problem: Problem) -> None:
    record = run_problem(problem, PlannerSpec("heuristic"))
    answer = record.diagnosis
    assert record.success, (
        f"{problem.id}: expected {problem.expected}, answered {answer.get('faulty_components')} "
        f"{answer.get('root_cause')} — {record.grade_details}"
    )
    assert not record.degraded
