"""Builders shared by the store tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update

from aoi.store import Store, repo
from aoi.store.models import Proposal, StoreModel


def diagnosed_investigation(
    store: Store, *, proposals: int = 1, approvals_required: int = 1, text: str = "checkout is failing"
) -> tuple[str, list[str]]:
    """An incident with a diagnosed investigation and ``proposals`` pending proposals: (inv id, prop ids)."""
    incident = repo.create_incident(store, title=text, source="cli")
    investigation = repo.create_investigation(
        store, planner="heuristic", incident_id=incident.id, incident_text=text, model_version="h-1"
    )
    assert repo.start_investigation(store, investigation.id, worker="test")
    news = [
        repo.NewProposal(
            action={"verb": "scale", "target": f"svc-{i}", "namespace": "ns", "params": {"replicas": 1}},
            risk="high" if approvals_required > 1 else "low",
            command=f"kubectl -n ns scale deployment/svc-{i} --replicas=1",
            rule_id="scale-bounded",
            approvals_required=approvals_required,
        )
        for i in range(proposals)
    ]
    trajectory = {
        "id": "traj_1",
        "incident": text,
        "steps": [{"index": 0, "step": {"action_type": "submit"}}],
    }
    diagnosis = {"detected": True, "faulty_components": ["svc-0"], "confidence": 0.8}
    _, rows = repo.complete_investigation(
        store, investigation.id, trajectory=trajectory, diagnosis=diagnosis, proposals=news
    )
    return investigation.id, [row.id for row in rows]


def backdate(store: Store, model: type[StoreModel], record_id: Any, column: str, when: datetime) -> None:
    """Move a row's timestamp into the past (the repository API has no such function, by design)."""
    table = model.__table__  # type: ignore[attr-defined]
    key = next(iter(table.primary_key.columns))
    with store.transaction(write=True) as session:
        session.execute(update(table).where(key == record_id).values({column: when}))


def proposal_status(store: Store, proposal_id: str) -> str:
    return repo.get_proposal(store, proposal_id).status


__all__ = ["Proposal", "backdate", "diagnosed_investigation", "proposal_status"]
