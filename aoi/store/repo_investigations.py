"""Investigations: queued → running → diagnosed | failed, each transition taken by one worker only.

``start_investigation`` is a conditional update, so when a task queue delivers the same job twice
only one worker runs it. ``complete_investigation`` stores the trajectory, the diagnosis and every
proposal in one transaction: a worker killed half-way leaves the investigation ``running`` with no
proposal rows, never a diagnosis with half its fixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select, update

from aoi.store.db import Store
from aoi.store.enums import InvestigationStatus
from aoi.store.errors import InvalidTransitionError
from aoi.store.models import Incident, Investigation, Proposal
from aoi.store.repo_audit import add_audit_in
from aoi.store.repo_proposals import NewProposal, proposal_from
from aoi.store.sql import checked_text, get_or_raise, optional_text, rowcount
from aoi.store.types import ensure_utc, json_value, new_id, parse_enum, utcnow


def create_investigation(
    store: Store,
    *,
    planner: str,
    incident_id: str | None = None,
    incident_text: str = "",
    model_version: str | None = None,
    investigation_id: str | None = None,
) -> Investigation:
    """Queue an investigation (of an incident, or standalone for the CLI and evaluation)."""
    investigation = Investigation(
        id=checked_text(investigation_id or new_id("inv"), "investigation id", 40),
        incident_id=incident_id,
        incident_text=incident_text,
        status=InvestigationStatus.QUEUED.value,
        planner=checked_text(planner, "planner", 32),
        model_version=optional_text(model_version, "model_version", 128),
        created_at=utcnow(),
    )
    with store.transaction(write=True) as session:
        if incident_id is not None:
            get_or_raise(session, Incident, incident_id, "incident")
        session.add(investigation)
    return investigation


def start_investigation(store: Store, investigation_id: str, worker: str) -> bool:
    """Claim a queued investigation for ``worker``; False if another worker already has it."""
    with store.transaction(write=True) as session:
        statement = (
            update(Investigation)
            .where(
                col(Investigation.id) == investigation_id,
                col(Investigation.status) == InvestigationStatus.QUEUED.value,
            )
            .values(status=InvestigationStatus.RUNNING.value, worker=worker, started_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if rowcount(session, statement) == 1:
            return True
        get_or_raise(session, Investigation, investigation_id, "investigation")
        return False


def complete_investigation(
    store: Store,
    investigation_id: str,
    *,
    trajectory: dict[str, Any],
    diagnosis: dict[str, Any],
    proposals: Sequence[NewProposal] = (),
    model_version: str | None = None,
) -> tuple[Investigation, list[Proposal]]:
    """Store a finished investigation and its proposals atomically (running → diagnosed).

    ``trajectory`` and ``diagnosis`` are JSON dicts (``Trajectory.model_dump(mode="json")``).
    """
    trajectory_json = json_value(trajectory, "trajectory")
    diagnosis_json = json_value(diagnosis, "diagnosis")
    with store.transaction(write=True) as session:
        investigation = _running(session, investigation_id, "complete")
        investigation.status = InvestigationStatus.DIAGNOSED.value
        investigation.trajectory = trajectory_json
        investigation.diagnosis = diagnosis_json
        investigation.finished_at = utcnow()
        if model_version is not None:
            investigation.model_version = optional_text(model_version, "model_version", 128)
        session.add(investigation)
        rows = [proposal_from(new, investigation_id) for new in proposals]
        for row in rows:
            session.add(row)
            session.flush()
        add_audit_in(
            session,
            actor=investigation.worker or "observer",
            action="investigation.diagnosed",
            investigation_id=investigation_id,
            details={"proposals": [row.id for row in rows]},
        )
        return investigation, rows


def fail_investigation(
    store: Store, investigation_id: str, *, error: str, trajectory: dict[str, Any] | None = None
) -> Investigation:
    """Mark a queued or running investigation failed, keeping whatever trajectory it produced."""
    with store.transaction(write=True) as session:
        investigation = get_or_raise(session, Investigation, investigation_id, "investigation", lock=True)
        if investigation.status not in (InvestigationStatus.QUEUED, InvestigationStatus.RUNNING):
            raise InvalidTransitionError(
                f"investigation {investigation_id} is already {investigation.status!r}; "
                "only a queued or running investigation can fail"
            )
        investigation.status = InvestigationStatus.FAILED.value
        investigation.error = error
        if trajectory is not None:
            investigation.trajectory = json_value(trajectory, "trajectory")
        investigation.finished_at = utcnow()
        session.add(investigation)
        return investigation


def _running(session: Session, investigation_id: str, verb: str) -> Investigation:
    investigation: Investigation = get_or_raise(
        session, Investigation, investigation_id, "investigation", lock=True
    )
    if investigation.status != InvestigationStatus.RUNNING:
        raise InvalidTransitionError(
            f"cannot {verb} investigation {investigation_id}: it is {investigation.status!r}, "
            "expected 'running' (call start_investigation first)"
        )
    return investigation


def fail_orphaned_investigations(store: Store, *, started_before: datetime) -> list[str]:
    """Fail investigations still ``running`` that started before ``started_before`` (their worker
    died), and those still ``queued`` that were created before it (their task was lost with an
    in-process pool, or the queue is stuck: either way nobody is investigating); the bot then says
    so in the thread. Returns their ids."""
    cutoff = ensure_utc(started_before, "started_before")
    running = and_(
        col(Investigation.status) == InvestigationStatus.RUNNING.value, col(Investigation.started_at) < cutoff
    )
    queued = and_(
        col(Investigation.status) == InvestigationStatus.QUEUED.value, col(Investigation.created_at) < cutoff
    )
    with store.transaction(write=True) as session:
        orphans = session.exec(select(Investigation).where(or_(running, queued)).with_for_update()).all()
        for investigation in orphans:
            investigation.error = (
                "interrupted: the worker running this investigation stopped"
                if investigation.status == InvestigationStatus.RUNNING.value
                else "never started: its queued task was lost or the queue is stuck"
            )
            investigation.status = InvestigationStatus.FAILED.value
            investigation.finished_at = utcnow()
            session.add(investigation)
        return [investigation.id for investigation in orphans]


def get_investigation(store: Store, investigation_id: str) -> Investigation:
    """The investigation with this id (``NotFoundError`` if none)."""
    with store.transaction() as session:
        return get_or_raise(session, Investigation, investigation_id, "investigation")


def list_investigations(
    store: Store,
    *,
    incident_id: str | None = None,
    status: InvestigationStatus | str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[Investigation]:
    """Most recent first, filtered by incident, status and creation time."""
    statement = select(Investigation)
    if incident_id is not None:
        statement = statement.where(Investigation.incident_id == incident_id)
    if status is not None:
        value = parse_enum(InvestigationStatus, status, "investigation status").value
        statement = statement.where(Investigation.status == value)
    if since is not None:
        statement = statement.where(col(Investigation.created_at) >= ensure_utc(since, "since"))
    statement = statement.order_by(col(Investigation.created_at).desc()).limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())
