"""Episodes keep their trajectories and hide the expected answer; the verified reward asks the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.sim import Problem, load_suite
from aoi.sim.grader import expected_answer
from aoi.training.datasets import default_tool_specs, planner_renderer, step_rows
from aoi.training.expert import SplitLeakError, cached_expert_rows, collect_expert_rows
from aoi.training.rewards_verified import VerifiedOutcomeReward
from aoi.training.rollout import failed_checks, run_episode, run_episodes, scores

LOCALIZATION = "k8s_target_port-misconfig-localization-1"
MITIGATION = "k8s_target_port-misconfig-mitigation-1"
NS = "test-social-network"


@pytest.fixture(scope="module")
def suite() -> dict[str, Problem]:
    return load_suite("aiopslab")


@pytest.fixture(scope="module")
def render() -> object:
    from aoi.agents.planners.local_planner import LocalPlanner

    # the local planner's prompt settings; the model itself is never loaded here
    return planner_renderer(LocalPlanner())


def _step(**fields: object) -> str:
    return json.dumps({"summary": "", "reasoning": "", "targets": [], "confidence": 0.5, **fields})


def test_episode_records_the_trajectory_and_only_names_failed_checks(suite: dict[str, Problem]) -> None:
    episode = run_episode(suite[LOCALIZATION], HeuristicPlanner())
    assert episode.success and episode.failed_checks == ()
    assert episode.trajectory.steps[-1].step.action_type == "submit"
    assert not hasattr(episode, "grade_details")
    details = {
        "task": "mitigation",
        "expected": "secret answer",
        "unhealthy": ["pod x"],
        "fault_undone": False,
    }
    assert failed_checks(False, details) == ("mitigation", "fault_left_in_place", "end_state")


def test_guidance_is_passed_to_the_observer_and_recorded(suite: dict[str, Problem]) -> None:
    asked: list[str] = []

    def guidance(text: str) -> list[str]:
        asked.append(text)
        return ["check Service targetPorts first"]

    episodes = run_episodes([suite[LOCALIZATION]], HeuristicPlanner(), k=2, guidance=guidance)
    assert len(episodes) == 2 and all(e.guidance == ["check Service targetPorts first"] for e in episodes)
    assert asked and NS in asked[0]
    assert scores(episodes) == {"n": 1, "avg_at_k": 1.0, "best_at_k": 1.0, "gap": 0.0}


def test_notes_from_the_observers_re_ask_reach_the_planner_and_the_episode(suite: dict[str, Problem]) -> None:
    """A crashing app: the survey's error lines make the Observer ask again; both answers are kept."""
    asked: list[str] = []

    def guidance(text: str) -> list[str]:
        asked.append(text)
        return ["note for what was observed"] if "Observed:" in text else ["note for the incident text"]

    episode = run_episode(
        suite["misconfig_app_hotel_res-localization-1"], HeuristicPlanner(), guidance=guidance
    )
    assert len(asked) >= 2 and "Observed:" in asked[-1]
    assert episode.guidance == ["note for the incident text", "note for what was observed"]
    diagnosis = episode.trajectory.diagnosis
    assert diagnosis is not None and any("guidance re-asked" in note for note in diagnosis.notes)


def test_verified_reward_scores_probes_by_what_the_cluster_returns(suite: dict[str, Problem]) -> None:
    reward = VerifiedOutcomeReward(suite)
    good = _step(action_type="probe", tool="get_pods", args={"namespace": NS})
    missing = _step(action_type="probe", tool="describe_pod", args={"namespace": NS, "name": "no-such-pod"})
    values = reward(
        ["p"] * 3, [good, missing, "not a step"], problem_id=[LOCALIZATION] * 3, tool_names=[None] * 3
    )
    assert values[0] >= 0.6 and values[1] == 0.0 and values[2] == 0.0


def test_verified_reward_grades_submissions(suite: dict[str, Problem]) -> None:
    reward = VerifiedOutcomeReward(suite)
    right = expected_answer(suite[LOCALIZATION])["localization"]
    correct = _step(action_type="submit", args={"detected": True, "faulty_components": right})
    wrong = _step(action_type="submit", args={"detected": True, "faulty_components": ["media-frontend"]})
    assert reward(["p"] * 2, [correct, wrong], problem_id=[LOCALIZATION] * 2) == [1.0, 0.0]


def test_verified_reward_executes_proposals_on_a_fresh_cluster(suite: dict[str, Problem]) -> None:
    reward = VerifiedOutcomeReward(suite)
    episode = run_episode(suite[MITIGATION], HeuristicPlanner())
    fix = episode.trajectory.diagnosis.remediations[0] if episode.trajectory.diagnosis else None
    assert fix is not None
    action = {"verb": fix.verb, "target": fix.target, "namespace": fix.namespace, "params": fix.params}
    repair = _step(action_type="propose", args=action)
    wrong = _step(action_type="propose", args={**action, "params": {**fix.params, "target_port": 1234}})
    harmless = _step(
        action_type="propose", args={"verb": "rollout_restart", "target": fix.target, "namespace": NS}
    )
    values = reward(["p"] * 3, [repair, wrong, harmless], problem_id=[MITIGATION] * 3)
    assert values[0] == 1.0
    assert values[1] < 1.0 and values[2] < 1.0
    # the shared read-only cluster was not changed by the executed proposals
    again = reward(["p"], [repair], problem_id=[MITIGATION])
    assert again == [1.0]


def test_unknown_problem_id_is_an_actionable_error(suite: dict[str, Problem]) -> None:
    with pytest.raises(KeyError, match="not among"):
        VerifiedOutcomeReward({})(
            ["p"], [_step(action_type="probe", tool="get_pods", args={})], problem_id=["x"]
        )


def test_expert_rows_come_from_successful_train_runs_and_are_cached(
    suite: dict[str, Problem], render: object, tmp_path: Path
) -> None:
    problems = [suite[LOCALIZATION], suite[MITIGATION]]
    built: list[int] = []

    def build():  # type: ignore[no-untyped-def]
        built.append(1)
        return collect_expert_rows(problems, HeuristicPlanner(), tools=default_tool_specs(), render=render)  # type: ignore[arg-type]

    rows, digest = cached_expert_rows(
        tmp_path, {"planner": "heuristic", "ids": [p.id for p in problems]}, build
    )
    assert rows and {r["source"] for r in rows} == {"expert"}
    assert {r["problem_id"] for r in rows} == {LOCALIZATION, MITIGATION}
    assert all(len(r["expert_step"]) < 800 for r in rows)
    again, digest_again = cached_expert_rows(
        tmp_path, {"planner": "heuristic", "ids": [p.id for p in problems]}, build
    )
    assert again == rows and digest_again == digest and built == [1]


def test_expert_data_refuses_test_split_problems(suite: dict[str, Problem], render: object) -> None:
    test_problem = next(p for p in suite.values() if p.split == "test")
    with pytest.raises(SplitLeakError, match="train split only"):
        collect_expert_rows([test_problem], HeuristicPlanner(), tools=default_tool_specs(), render=render)  # type: ignore[arg-type]


def test_expert_rows_score_full_marks_on_the_verified_reward(
    suite: dict[str, Problem], render: object
) -> None:
    episode = run_episode(suite[LOCALIZATION], HeuristicPlanner())
    rows = step_rows(episode.trajectory, tools=default_tool_specs(), render=render)  # type: ignore[arg-type]
    reward = VerifiedOutcomeReward(suite)
    values = reward(
        [r["prompt"] for r in rows],
        [r["expert_step"] for r in rows],
        problem_id=[r["problem_id"] for r in rows],
        tool_names=[r["tool_names"] for r in rows],
    )
    assert values[-1] == 1.0 and all(v >= 0.3 for v in values)


class _Broken:
    name = "broken-model"

    def next_step(self, context: object) -> object:
        from aoi.agents.planners.base import PlannerError

        raise PlannerError("no valid JSON")


def test_abstaining_fallback_measures_the_model_alone(suite: dict[str, Problem]) -> None:
    from aoi.training.rollout import AbstainingFallback, abstained

    rescued = run_episode(suite[LOCALIZATION], _Broken())  # type: ignore[arg-type]
    assert rescued.success  # the heuristic fallback took over and solved it
    alone = run_episode(suite[LOCALIZATION], _Broken(), fallback=AbstainingFallback())  # type: ignore[arg-type]
    assert abstained(alone.trajectory) and not alone.success
    assert alone.failed_checks == ("localization",)
    batch = run_episodes([suite[LOCALIZATION]], _Broken(), k=2, fallback=AbstainingFallback())  # type: ignore[arg-type]
    assert [e.success for e in batch] == [False, False] and all(abstained(e.trajectory) for e in batch)
