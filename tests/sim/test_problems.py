"""Problem files: the 86 AIOpsLab tasks load and reset; invalid files fail with a useful message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoi.sim import ProblemError, SimCluster, load_problem, load_suite
from aoi.sim.problems import parse_problems


def test_aiopslab_suite_has_86_tasks_with_the_published_task_mix() -> None:
    suite = load_suite("aiopslab")
    tasks = [p.task for p in suite.values()]
    assert len(suite) == 86
    assert (
        tasks.count("detection"),
        tasks.count("localization"),
        tasks.count("analysis"),
        tasks.count("mitigation"),
    ) == (32, 28, 13, 13)
    assert len(load_suite("train")) + len(load_suite("test")) == 86


def test_every_aiopslab_problem_resets_into_a_cluster() -> None:
    for problem in load_suite("aiopslab").values():
        cluster = SimCluster.from_problem(problem)
        assert cluster.list_objects("Pod"), problem.id


def _problem(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "p1",
        "app": "hotel-reservation",
        "task": "localization",
        "split": "test",
        "fault": {"type": "revoke_auth", "target": "mongodb-geo", "params": {}},
    }
    base.update(changes)
    return base


def test_invalid_target_names_the_valid_targets() -> None:
    with pytest.raises(ProblemError, match="valid targets: mongodb-geo, mongodb-profile"):
        parse_problems([_problem(fault={"type": "revoke_auth", "target": "geo"})], "inline")


def test_unknown_fault_type_lists_known_types() -> None:
    with pytest.raises(ProblemError, match=r"unknown fault type 'rm_rf'.*misconfig_k8s"):
        parse_problems([_problem(fault={"type": "rm_rf", "target": "geo"})], "inline")


def test_expected_that_disagrees_with_the_grader_fails_with_the_difference() -> None:
    bad = _problem(expected={"localization": ["geo"]})
    with pytest.raises(ProblemError, match=r'"file": \["geo"\], "grader": \["mongodb-geo"\]'):
        parse_problems([bad], "inline")


def test_otel_flag_needs_a_known_flag_matching_the_target() -> None:
    shop = {"app": "astronomy-shop", "task": "detection"}
    with pytest.raises(ProblemError, match="unknown flag 'adFail'"):
        parse_problems(
            [_problem(**shop, fault={"type": "otel_flag", "target": "ad", "params": {"flag": "adFail"}})],
            "inline",
        )
    with pytest.raises(ProblemError, match="target must be 'cart'"):
        parse_problems(
            [
                _problem(
                    **shop, fault={"type": "otel_flag", "target": "ad", "params": {"flag": "cartFailure"}}
                )
            ],
            "inline",
        )


def test_yaml_problem_file_loads_by_path_and_duplicates_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "problems:\n  - {id: x1, app: social-network, task: detection, split: train, fault: null,\n"
        "     seed: 5, expected: {detection: 'No'}}\n"
    )
    assert load_problem("x1", suite=path).seed == 5
    assert load_problem(path).id == "x1"
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps([_problem(), _problem()]))
    with pytest.raises(ProblemError, match="duplicate id 'p1'"):
        load_suite(dup)


def test_localization_without_a_fault_is_rejected() -> None:
    with pytest.raises(ProblemError, match="needs a fault"):
        parse_problems([_problem(fault=None)], "inline")
