"""The step judge scores hand-written completions the way its rubric says."""

from __future__ import annotations

import json

import pytest

from aoi.agents.records import Step
from aoi.training.rewards import (
    WEIGHTS,
    judge_step,
    parse_step_completion,
    step_judge_reward,
    step_weights,
    valid_step_reward,
)

EXPERT = Step(
    summary="compose-post-service callers see connection refused",
    action_type="probe",
    reasoning="the service port may not match the container port",
    tool="get_service",
    args={"namespace": "test-social-network", "name": "user-service"},
    targets=["user-service"],
    confidence=0.6,
)


def _json(**overrides: object) -> str:
    data = EXPERT.model_dump() | overrides
    return json.dumps(data)


def test_weights_sum_to_one_and_match_aoi() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert WEIGHTS == {
        "format": 0.10,
        "summary": 0.15,
        "action_type": 0.10,
        "instruction": 0.30,
        "targets": 0.30,
        "confidence": 0.05,
    }


def test_first_and_last_step_spread_summary_weight_over_the_others() -> None:
    first = step_weights(first=True, last=False)
    assert first["summary"] == 0.0
    assert sum(first.values()) == pytest.approx(1.0)
    assert first["targets"] / first["format"] == pytest.approx(3.0)


def test_copy_of_expert_step_scores_one() -> None:
    assert judge_step(_json(), EXPERT).total == pytest.approx(1.0)


def test_fenced_json_is_still_exact_format() -> None:
    score = judge_step(f"```json\n{_json()}\n```", EXPERT)
    assert score.scores["format"] == 1.0


def test_step_buried_in_prose_gets_half_format_credit() -> None:
    score = judge_step(f"Sure! Here is my next step: {_json()} Hope it helps.", EXPERT)
    assert score.valid
    assert score.scores["format"] == 0.5
    assert score.total == pytest.approx(1.0 - 0.05)


@pytest.mark.parametrize("completion", ["I think we should check the pods.", ""])
def test_completions_without_any_step_keys_score_zero(completion: str) -> None:
    score = judge_step(completion, EXPERT)
    assert not score.valid
    assert score.total == 0.0
    assert score.error


def test_invalid_step_earns_only_partial_format_credit_for_schema_keys() -> None:
    one_key = judge_step('{"summary": "x"', EXPERT)
    three_keys = judge_step('{"summary": "x", "targets": [], "action_type": "reboot"}', EXPERT)
    assert not one_key.valid and not three_keys.valid
    assert one_key.total == pytest.approx(0.10 * 0.3 / 7, abs=1e-6)
    assert three_keys.total == pytest.approx(0.10 * 0.3 * 3 / 7, abs=1e-6)
    assert three_keys.total < judge_step(_json(), EXPERT).total * 0.05


def test_wrong_target_loses_the_target_weight() -> None:
    score = judge_step(_json(targets=["media-frontend"]), EXPERT)
    assert score.scores["targets"] == 0.0
    assert score.total == pytest.approx(1.0 - 0.30, abs=0.02)


def test_wrong_tool_scores_below_right_tool_with_same_targets() -> None:
    right = judge_step(_json(reasoning="check the port mapping"), EXPERT).total
    wrong = judge_step(_json(tool="get_logs", reasoning="check the port mapping"), EXPERT).total
    assert wrong < right
    assert right - wrong == pytest.approx(0.30 * 0.5, abs=1e-6)


def test_premature_submit_loses_action_and_instruction_credit() -> None:
    submit = _json(action_type="submit", tool=None, args={"detected": True})
    score = judge_step(submit, EXPERT)
    assert score.scores["action_type"] == 0.0
    assert score.scores["instruction"] < 0.3
    # right summary and targets, wrong action: 0.10 + 0.15 + 0 + 0.30 * 0.2 + 0.30 + 0.05
    assert score.total == pytest.approx(0.66)


def test_confidence_is_scored_by_distance() -> None:
    assert judge_step(_json(confidence=0.1), EXPERT).scores["confidence"] == pytest.approx(0.5)
    # models that answer in percent are scaled by the Step schema
    assert judge_step(_json(confidence=60), EXPERT).scores["confidence"] == pytest.approx(1.0)


def test_closer_reasoning_scores_higher() -> None:
    near = judge_step(_json(reasoning="the service port may not match the pod port"), EXPERT)
    far = judge_step(_json(reasoning="memory is leaking in the database"), EXPERT)
    assert near.scores["instruction"] > far.scores["instruction"]


def test_trl_contract_reads_columns_and_handles_chat_completions() -> None:
    completions = [
        [{"role": "assistant", "content": _json()}],
        "not json",
        _json(targets=["geo"]),
    ]
    expert = EXPERT.model_dump_json()
    rewards = step_judge_reward(
        prompts=["p"] * 3,
        completions=completions,
        expert_step=[expert] * 3,
        step_index=[1] * 3,
        n_steps=[4] * 3,
    )
    assert rewards[0] == pytest.approx(1.0)
    assert rewards[1] == 0.0
    assert 0.0 < rewards[2] < rewards[0]
    assert valid_step_reward(["p"] * 3, completions) == [1.0, 0.0, 1.0]


def test_missing_reward_column_is_an_actionable_error() -> None:
    with pytest.raises(KeyError, match="expert_step"):
        step_judge_reward(prompts=["p"], completions=[_json()], step_index=[0], n_steps=[1])


def test_parse_reports_why_a_completion_is_not_a_step() -> None:
    parsed = parse_step_completion('{"action_type": "dance"}')
    assert parsed.step is None
    assert "action_type" in parsed.error


def test_probe_naming_a_tool_the_observer_lacks_is_invalid() -> None:
    score = judge_step(_json(tool="kubectl_delete"), EXPERT, tool_names=["get_service", "get_logs"])
    assert not score.valid
    assert "unknown tool" in score.error


def test_near_json_repaired_by_the_planner_parser_gets_half_format_credit() -> None:
    text = _json().replace('"', "'")
    score = judge_step(text, EXPERT)
    assert score.valid
    assert score.scores["format"] == 0.5
