"""The evaluation harness: parallel workers give the same scores, k runs differ by seed, mitigation
tasks are graded on the cluster after the approved fixes ran, and a planner crash is a failed run."""

from __future__ import annotations

from aoi.agents.evaluation import evaluate_suite, load_problems
from aoi.agents.evaluation.runner import with_seed
from aoi.agents.observer import Budget
from aoi.agents.planners.factory import PlannerSpec
from aoi.sim import Problem, load_suite

IDS = [
    "k8s_target_port-misconfig-mitigation-1",
    "scale_pod_zero_social_net-localization-1",
    "noop_detection_hotel_reservation-1",
]


def problems() -> list[Problem]:
    suite = load_suite("aiopslab")
    return [suite[i] for i in IDS]


def test_parallel_workers_score_like_one_process() -> None:
    serial = evaluate_suite(problems(), PlannerSpec("heuristic"), k=2, workers=1).to_json()
    parallel = evaluate_suite(problems(), PlannerSpec("heuristic"), k=2, workers=2).to_json()
    assert serial["best_at_k"] == parallel["best_at_k"] == 1.0
    assert serial["avg_at_k"] == parallel["avg_at_k"] == 1.0
    assert [len(p["runs"]) for p in parallel["problems"]] == [2, 2, 2]
    assert parallel["by_task"]["detection"] == {"n": 1, "best_at_k": 1.0, "avg_at_k": 1.0}


def test_each_run_replays_the_problem_with_its_own_seed() -> None:
    problem = problems()[0]
    assert with_seed(problem, 0) is problem
    assert with_seed(problem, 2).seed == problem.seed + 2000
    assert with_seed(problem, 2).fault == problem.fault


def test_a_one_step_budget_answers_without_evidence_and_scores_lower() -> None:
    result = evaluate_suite(problems()[:2], PlannerSpec("heuristic"), k=1, budget=Budget(max_steps=1))
    records = [r for rs in result.records.values() for r in rs]
    assert all(r.steps == 1 for r in records)
    assert result.to_json()["avg_at_k"] == 0.0


def test_an_unknown_planner_is_a_failed_run_with_its_reason() -> None:
    result = evaluate_suite(problems()[:1], PlannerSpec("no-such-planner"), k=1)
    record = result.records[IDS[0]][0]
    assert not record.success and record.error is not None and "unknown planner" in record.error


def test_named_suites_select_the_split() -> None:
    train, test = load_problems("train"), load_problems("test")
    assert len(train) + len(test) == 86
    assert {p.split for p in train} == {"train"} and {p.split for p in test} == {"test"}


def test_stratified_subset_covers_every_task_type_and_is_deterministic() -> None:
    from aoi.agents.evaluation.suite import load_problems, stratified

    test = load_problems("test")
    picked = stratified(test, 8)
    assert len(picked) == 8 and len({p.id for p in picked}) == 8
    assert sorted(str(p.task) for p in picked) == sorted(
        ["analysis", "detection", "localization", "mitigation"] * 2
    )
    assert [p.id for p in stratified(test, 8)] == [p.id for p in picked]
    assert stratified(test, 0) == test and stratified(test, 500) == test
