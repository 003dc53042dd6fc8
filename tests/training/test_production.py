"""Store exports become confirmed step rows, KTO rows and Evolver failure cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aoi.agents.records import Diagnosis, Step, ToolResult, Trajectory, TrajectoryStep
from aoi.store import repo
from aoi.store.export import export_training_data, read_export
from aoi.store.repo_proposals import NewProposal
from aoi.training.datasets import default_renderer, default_tool_specs
from aoi.training.production import confirmed, failure_cases, kto_rows, production_step_rows

NS = "test-social-network"
ACTION = {"verb": "rollout_undo", "target": "user-service", "namespace": NS, "params": {}}


def _trajectory(incident: str) -> Trajectory:
    return Trajectory(
        incident=incident,
        task="mitigation",
        steps=[
            TrajectoryStep(
                index=1,
                step=Step(action_type="probe", tool="get_pods", args={"namespace": NS}),
                result=ToolResult(
                    tool="get_pods", invocation="kubectl get pods", status="ok", output="user CrashLoop"
                ),
            ),
            TrajectoryStep(index=2, step=Step(action_type="propose", args=ACTION, targets=["user-service"])),
            TrajectoryStep(
                index=3,
                step=Step(
                    action_type="submit", args={"detected": True, "faulty_components": ["user-service"]}
                ),
            ),
        ],
        diagnosis=Diagnosis(detected=True, faulty_components=["user-service"]),
    )


def _investigation(store: Any, incident_id: str, text: str) -> tuple[str, str]:
    inv = repo.create_investigation(store, planner="local", incident_id=incident_id, incident_text=text)
    assert repo.start_investigation(store, inv.id, "w1")
    trajectory = _trajectory(text)
    _, proposals = repo.complete_investigation(
        store,
        inv.id,
        trajectory=trajectory.model_dump(mode="json"),
        diagnosis=trajectory.diagnosis.model_dump(mode="json") if trajectory.diagnosis else {},
        proposals=[NewProposal(action=ACTION, command="kubectl rollout undo deploy/user-service")],
    )
    return inv.id, proposals[0].id


def test_export_yields_confirmed_rows_kto_labels_and_failure_cases(store: Any, tmp_path: Path) -> None:
    incident = repo.create_incident(store, title="user-service down", source="cli")
    good, _ = _investigation(store, incident.id, "user-service pods crash after deploy")
    bad, bad_proposal = _investigation(store, incident.id, "user-service pods crash after deploy")
    repo.record_feedback(store, investigation_id=good, kind="thumbs_up", actor="U1", source="reaction")
    repo.record_feedback(store, investigation_id=good, kind="helpful", actor="U2", source="button")
    repo.reject_proposal(store, bad_proposal, "U3", reason="undo would lose the hotfix")
    repo.record_feedback(
        store,
        investigation_id=bad,
        proposal_id=bad_proposal,
        kind="rejected",
        actor="U3",
        source="approval",
        reason="undo would lose the hotfix",
    )
    repo.record_feedback(store, investigation_id=bad, kind="thumbs_down", actor="U3", source="reaction")

    path = tmp_path / "export.jsonl"
    export_training_data(store, path, since=datetime.now(UTC) - timedelta(days=1))
    bundle = read_export(path)

    assert [inv.id for inv, _ in confirmed(bundle)] == [good]
    tools, render = default_tool_specs(), default_renderer()
    rows = production_step_rows(bundle, tools=tools, render=render)
    assert {r["source"] for r in rows} == {"production"} and len(rows) == 3

    kto = kto_rows(bundle, tools=tools, render=render)
    by_label = {(r["label"], r["step_index"]) for r in kto}
    assert (True, 2) in by_label  # the confirmed diagnosis (submit step)
    assert (False, 1) in by_label  # the rejected proposal step
    assert (False, 2) in by_label  # the thumbs-down diagnosis
    assert len(kto) == 3

    cases = failure_cases(bundle)
    assert len(cases) == 1
    case = cases[0]
    assert case.investigation_id == bad and case.source == "thumbs_down"
    assert case.reason == "undo would lose the hotfix"
    assert case.reference is not None and case.reference.incident == "user-service pods crash after deploy"
