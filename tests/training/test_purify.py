"""The purifier keeps the expert's causal path and drops failed, repeated and dead-end probes."""

from __future__ import annotations

from typing import Any

from aoi.agents.records import Diagnosis, Evidence, Remediation, Step, ToolResult, Trajectory, TrajectoryStep
from aoi.training.purify import purify, relevant_names

NS = "test-hotel-reservation"


def _probe(index: int, tool: str, targets: list[str], status: str = "ok", **args: Any) -> TrajectoryStep:
    invocation = f"{tool} {' '.join(f'{k}={v}' for k, v in sorted(args.items()))}"
    return TrajectoryStep(
        index=index,
        step=Step(action_type="probe", tool=tool, args=args, targets=targets, summary=f"step {index}"),
        result=ToolResult(
            tool=tool,
            invocation=invocation,
            status=status,  # type: ignore[arg-type]
            output="" if status != "ok" else "text",
            error="boom" if status == "error" else None,
        ),
    )


def _trajectory(steps: list[TrajectoryStep]) -> Trajectory:
    submit = TrajectoryStep(
        index=len(steps),
        step=Step(
            action_type="submit",
            args={"detected": True, "faulty_components": ["geo"]},
            targets=["geo"],
        ),
    )
    diagnosis = Diagnosis(
        detected=True,
        faulty_components=["geo"],
        evidence=[Evidence(tool="get_events", invocation="get_events namespace=x", finding="BackOff")],
        remediations=[Remediation(verb="rollout_undo", target="geo", namespace=NS)],
    )
    return Trajectory(problem_id="p", incident="geo is slow", steps=[*steps, submit], diagnosis=diagnosis)


def test_failed_repeated_and_dead_end_probes_are_removed_with_reasons() -> None:
    trajectory = _trajectory(
        [
            _probe(0, "get_pods", [], namespace=NS),
            _probe(1, "get_logs", ["geo"], status="error", namespace=NS, pod="geo-1"),
            _probe(2, "get_logs", ["frontend"], namespace=NS, pod="frontend-1"),
            _probe(3, "get_logs", ["geo-6d8f9"], namespace=NS, pod="geo-6d8f9"),
            _probe(4, "get_logs", ["geo-6d8f9"], namespace=NS, pod="geo-6d8f9"),
            _probe(5, "get_metrics", ["geo"], status="no_data", query="rate(x)"),
        ]
    )
    result = purify(trajectory)
    reasons = {r.index: r.reason for r in result.removed}
    assert reasons == {
        1: "failed probe",
        2: "dead end: off the causal path",
        4: "repeated probe",
        5: "dead end: no data",
    }
    kept_tools = [(s.step.action_type, s.step.tool) for s in result.kept]
    assert kept_tools == [("probe", "get_pods"), ("probe", "get_logs"), ("submit", None)]
    assert [s.index for s in result.kept] == [1, 2, 3]
    assert result.kept[1].step.targets == ["geo-6d8f9"]
    # the input is not modified
    assert len(trajectory.steps) == 7


def test_submit_evidence_citations_follow_the_renumbering() -> None:
    trajectory = _trajectory(
        [
            _probe(1, "get_pods", [], namespace=NS),
            _probe(2, "get_logs", ["geo"], status="error", namespace=NS, pod="geo-1"),
            _probe(3, "get_logs", ["geo"], namespace=NS, pod="geo-2"),
        ]
    )
    submit = trajectory.steps[-1]
    submit.index = 4
    submit.step.args["evidence"] = [{"step": 3, "finding": "errors"}, {"step": 2, "finding": "x"}, 1]
    kept = purify(trajectory).kept
    assert [s.index for s in kept] == [1, 2, 3]
    assert kept[-1].step.args["evidence"] == [{"step": 2, "finding": "errors"}, 1]


def test_probes_cited_as_evidence_are_kept_even_off_path() -> None:
    cited = _probe(0, "get_events", ["frontend"], namespace="x")
    assert cited.result is not None and cited.result.invocation == "get_events namespace=x"
    result = purify(_trajectory([cited]))
    assert result.removed == []
    assert len(result.kept) == 2


def test_a_namespace_target_is_discovery_not_a_dead_end() -> None:
    listing = _probe(0, "get_services", [NS], namespace=NS)
    result = purify(_trajectory([listing]))
    assert result.removed == []


def test_relevant_names_come_from_the_trajectory_own_answer() -> None:
    assert relevant_names(_trajectory([])) == {"geo"}


def test_clean_trajectory_is_unchanged() -> None:
    steps = [_probe(0, "get_pods", [], namespace=NS), _probe(1, "get_logs", ["geo"], namespace=NS, pod="geo")]
    result = purify(_trajectory(steps))
    assert result.removed == []
    assert [s.step for s in result.kept] == [s.step for s in _trajectory(steps).steps]
    assert [s.index for s in result.kept] == [1, 2, 3]
