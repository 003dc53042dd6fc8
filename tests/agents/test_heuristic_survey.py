"""The heuristic survey lists nodes only where a node can explain what the pods show."""

from __future__ import annotations

import pytest

from aoi.agents.evaluation.suite import load_problems
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.sim import Problem
from aoi.sim.generate import combinations
from aoi.sim.grader import expected_answer
from aoi.training.rollout import run_episodes


def _node_problem(fault_type: str) -> Problem:
    combo = next(
        c
        for c in combinations("test") + combinations("train")
        if c["fault"] and c["fault"]["type"] == fault_type and c["task"] == "mitigation"
    )
    draft = Problem.model_validate({**combo, "id": f"survey-{fault_type}", "seed": 7})
    return draft.model_copy(update={"expected": expected_answer(draft)})


@pytest.mark.parametrize("fault_type", ["node_cordoned", "assign_to_non_existent_node"])
def test_a_fault_that_leaves_pods_pending_gets_the_node_listing_and_is_fixed(fault_type: str) -> None:
    (episode,) = run_episodes([_node_problem(fault_type)], HeuristicPlanner())
    tools = [s.step.tool for s in episode.trajectory.steps]
    assert "get_nodes" in tools
    assert episode.success


def test_healthy_pods_save_the_node_listing() -> None:
    healthy = next(p for p in load_problems("aiopslab") if p.id == "k8s_target_port-misconfig-localization-1")
    (episode,) = run_episodes([healthy], HeuristicPlanner())
    tools = [s.step.tool for s in episode.trajectory.steps]
    assert episode.success and "get_nodes" not in tools
    assert tools[:4] == ["get_pods", "get_deployments", "get_services", "get_endpoints"]
