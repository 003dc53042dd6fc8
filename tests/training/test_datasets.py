"""Step rows are rendered with the planners' prompt, purified, and versioned by content hash."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from aoi.agents.records import Diagnosis, Step, ToolResult, Trajectory, TrajectoryStep
from aoi.training.datasets import (
    dataset_hash,
    default_renderer,
    default_tool_specs,
    load_dataset,
    save_dataset,
    step_json,
    step_rows,
)
from aoi.training.rewards import judge_step

NS = "test-hotel-reservation"


def _trajectory() -> Trajectory:
    def probe(i: int, tool: str, status: str, output: str, **args: str) -> TrajectoryStep:
        return TrajectoryStep(
            index=i,
            step=Step(action_type="probe", tool=tool, args=args, summary=f"ran {tool}", targets=[]),
            result=ToolResult(tool=tool, invocation=f"kubectl {tool}", status=status, output=output),  # type: ignore[arg-type]
        )

    submit = Step(
        action_type="submit",
        summary="geo Service targets the wrong port",
        args={"detected": True, "faulty_components": ["geo"], "fault_type": "Misconfiguration"},
        targets=["geo"],
        confidence=0.9,
    )
    return Trajectory(
        problem_id="k8s_target_port-misconfig-localization-1",
        incident="Frontend requests to geo fail",
        task="localization",
        steps=[
            probe(1, "get_pods", "ok", "geo-1 Running", namespace=NS),
            probe(2, "get_logs", "error", "", namespace=NS, name="geo"),
            probe(3, "describe_service", "ok", "geo port 8083 -> 9999", namespace=NS, name="geo"),
            TrajectoryStep(index=4, step=submit),
        ],
        diagnosis=Diagnosis(detected=True, faulty_components=["geo"]),
    )


def test_rows_follow_the_purified_path_with_the_planner_prompt() -> None:
    rows = step_rows(_trajectory(), tools=default_tool_specs(), render=default_renderer())
    assert [json.loads(r["expert_step"]).get("tool") for r in rows] == ["get_pods", "describe_service", None]
    assert [r["step_index"] for r in rows] == [0, 1, 2] and {r["n_steps"] for r in rows} == {3}
    first, last = rows[0]["prompt"], rows[2]["prompt"]
    assert [m["role"] for m in first] == ["system", "user"]
    assert "Frontend requests to geo fail" in first[1]["content"]
    assert "(nothing yet: this is the first step)" in first[1]["content"]
    # the failed get_logs probe is gone from the context too; the previous probe is shown in full
    assert "geo port 8083 -> 9999" in last[1]["content"]
    assert "kubectl get_logs" not in last[1]["content"]
    assert rows[2]["completion"] == [{"role": "assistant", "content": rows[2]["expert_step"]}]
    assert "describe_service" in rows[0]["tool_names"]
    assert rows[0]["problem_id"] == "k8s_target_port-misconfig-localization-1"


def test_rows_show_the_steps_left_under_the_budget_the_expert_ran_with() -> None:
    rows = step_rows(_trajectory(), tools=default_tool_specs(), render=default_renderer(), step_budget=3)
    budgets = [r["prompt"][1]["content"].split("Budget: ")[1].split(" steps")[0] for r in rows]
    assert budgets == ["3", "2", "1"]
    assert "submit now" in rows[2]["prompt"][1]["content"]


def test_expert_completion_scores_full_marks_with_the_judge() -> None:
    rows = step_rows(_trajectory(), tools=default_tool_specs(), render=default_renderer())
    expert = Step.model_validate_json(rows[1]["expert_step"])
    assert (
        judge_step(rows[1]["completion"][0]["content"], expert, tool_names=rows[1]["tool_names"]).total == 1.0
    )


def test_step_json_clips_long_text_and_drops_a_null_tool() -> None:
    text = step_json(Step(action_type="submit", summary="x" * 500, args={"detected": False}))
    data = json.loads(text)
    assert "tool" not in data and len(data["summary"]) == 120


def test_step_json_drops_repeats_of_the_summary_and_evidence() -> None:
    text = "Service geo targets port 9999 where nothing listens"
    step = Step(
        action_type="submit",
        summary=text,
        reasoning=text,
        args={
            "detected": True,
            "summary": text,
            "remediations": [{"verb": "x", "rationale": text}],
            "evidence": [{"step": 3, "finding": "geo targetPort 9999"}],
        },
    )
    data = json.loads(step_json(step))
    assert data["summary"] == text
    assert "reasoning" not in data and "summary" not in data["args"] and "evidence" not in data["args"]
    assert data["args"]["remediations"][0]["rationale"] == ""
    assert Step.model_validate(data).args["detected"] is True  # still a valid step


def test_hash_is_content_addressed_and_saved_files_round_trip(tmp_path: Path) -> None:
    rows = step_rows(_trajectory(), tools=default_tool_specs(), render=default_renderer())
    saved = save_dataset(rows, tmp_path, "expert", {"split": "train"})
    assert saved.path.name == f"expert-{dataset_hash(rows)}.jsonl"
    assert json.loads(saved.path.with_suffix(".json").read_text())["split"] == "train"
    loaded, digest = load_dataset(saved.path)
    assert loaded == rows and digest == saved.hash
    assert dataset_hash(rows[:-1]) != saved.hash
    saved.path.write_text(saved.path.read_text().replace("geo", "gee"))
    with pytest.raises(ValueError, match="does not match"):
        load_dataset(saved.path)


def test_the_same_runs_rebuilt_under_new_trajectory_ids_keep_their_version(tmp_path: Path) -> None:
    first = step_rows(_trajectory(), tools=default_tool_specs(), render=default_renderer())
    again = step_rows(
        _trajectory().model_copy(update={"id": "another-run"}),
        tools=default_tool_specs(),
        render=default_renderer(),
    )
    assert first[0]["trajectory_id"] != again[0]["trajectory_id"]
    assert dataset_hash(first) == dataset_hash(again)
    again[-1]["expert_step"] = again[-1]["expert_step"].replace("geo", "gee")
    assert dataset_hash(first) != dataset_hash(again)  # content still counts


def test_a_dataset_saved_under_the_older_full_row_hash_still_loads(tmp_path: Path) -> None:
    rows = step_rows(_trajectory(), tools=default_tool_specs(), render=default_renderer())
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for r in rows]
    legacy = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()[:16]
    assert legacy != dataset_hash(rows)
    path = tmp_path / f"expert-{legacy}.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    loaded, digest = load_dataset(path)
    assert loaded == rows and digest == legacy  # the name the registry recorded


def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to train on"):
        save_dataset([], tmp_path, "expert")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("[1, 2]\n", "a row must be a JSON object, got list"),
        ("", "the dataset is empty"),
        ('{"prompt": "p"}\n', "named <kind>-<content hash>.jsonl"),
    ],
)
def test_a_hand_made_or_damaged_dataset_file_is_refused_saying_why(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(why)):
        load_dataset(path)
