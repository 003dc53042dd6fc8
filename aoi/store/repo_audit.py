"""The append-only audit log: who did what to which proposal, with the state before and after.

There is deliberately no update or delete function here. Other repository functions write their
audit rows inside their own transaction (``add_audit_in``), so a decision and its audit record
commit together or not at all. Only ``aoi data prune --include-audit`` ever removes rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from aoi.store.db import Store
from aoi.store.models import AuditEntry
from aoi.store.sql import checked_text, optional_text
from aoi.store.types import ensure_utc, json_value, utcnow


def add_audit_in(
    session: Session,
    *,
    actor: str,
    action: str,
    proposal_id: str | None = None,
    investigation_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit row inside an open store transaction (for ``aoi.store`` modules)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=checked_text(actor, "audit actor", 128),
        action=checked_text(action, "audit action", 64),
        proposal_id=optional_text(proposal_id, "audit proposal_id", 40),
        investigation_id=optional_text(investigation_id, "audit investigation_id", 40),
        before=None if before is None else json_value(before, "audit before"),
        after=None if after is None else json_value(after, "audit after"),
        details=json_value(details or {}, "audit details"),
    )
    session.add(entry)
    session.flush()
    return entry


def append_audit(
    store: Store,
    *,
    actor: str,
    action: str,
    proposal_id: str | None = None,
    investigation_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit record and commit it (e.g. the executor's ``execute.before``/``execute.after``)."""
    with store.transaction(write=True) as session:
        return add_audit_in(
            session,
            actor=actor,
            action=action,
            proposal_id=proposal_id,
            investigation_id=investigation_id,
            before=before,
            after=after,
            details=details,
        )


def list_audit(
    store: Store,
    *,
    proposal_id: str | None = None,
    investigation_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Audit records, oldest first, filtered by any of the given fields."""
    statement = select(AuditEntry)
    if proposal_id is not None:
        statement = statement.where(AuditEntry.proposal_id == proposal_id)
    if investigation_id is not None:
        statement = statement.where(AuditEntry.investigation_id == investigation_id)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    if since is not None:
        statement = statement.where(AuditEntry.at >= ensure_utc(since, "since"))
    statement = statement.order_by(col(AuditEntry.id)).limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())
