"""Retention: delete incident data older than the configured number of days (``aoi data prune``).

What is pruned, in one transaction (all or nothing): finished investigations created before the
cutoff, with their proposals, approvals, feedback and Slack message records; incidents created
before the cutoff that have nothing left; processed Slack event ids older than ``event_days``.
Never pruned: investigations still queued/running, any investigation with a proposal not yet
finished (pending, approved or executing — deleting it would forget that it may have run), any
investigation with feedback, a decision or an execution within the retention period (an old
investigation thumbed down yesterday is this week's training data), Evolver guidance, training
runs and the model registry (they are the learned product, not raw data). The audit log is pruned
only with ``include_audit=True`` (``--include-audit``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_
from sqlmodel import Session, col, delete, func, select
from sqlmodel.sql.expression import SelectOfScalar

from aoi.store.db import Store
from aoi.store.enums import InvestigationStatus, ProposalStatus
from aoi.store.errors import InvalidValueError
from aoi.store.models import (
    AuditEntry,
    Feedback,
    Incident,
    Investigation,
    ProcessedEvent,
    Proposal,
    ProposalApproval,
    SlackMessage,
    StoreModel,
)
from aoi.store.repo_audit import add_audit_in
from aoi.store.sql import rowcount
from aoi.store.types import ensure_utc, utcnow

_OPEN_PROPOSAL = (ProposalStatus.PENDING.value, ProposalStatus.APPROVED.value, ProposalStatus.EXECUTING.value)


@dataclass(frozen=True)
class PruneReport:
    """Rows deleted per table (or that would be, for a dry run)."""

    cutoff: datetime
    dry_run: bool
    investigations: int = 0
    proposals: int = 0
    approvals: int = 0
    feedback: int = 0
    slack_messages: int = 0
    incidents: int = 0
    processed_events: int = 0
    audit_log: int = 0

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int) and not isinstance(v, bool)}


def _prunable_investigations(cutoff: datetime) -> SelectOfScalar[str]:
    open_proposal = exists().where(
        col(Proposal.investigation_id) == col(Investigation.id), col(Proposal.status).in_(_OPEN_PROPOSAL)
    )
    # an old investigation that was judged, decided or run within the retention period is still
    # recent data: a thumbs-down given yesterday is next week's training signal
    recent_feedback = exists().where(
        col(Feedback.investigation_id) == col(Investigation.id), col(Feedback.created_at) >= cutoff
    )
    recent_proposal = exists().where(
        col(Proposal.investigation_id) == col(Investigation.id),
        or_(col(Proposal.decided_at) >= cutoff, col(Proposal.finished_at) >= cutoff),
    )
    finished = (InvestigationStatus.DIAGNOSED.value, InvestigationStatus.FAILED.value)
    return (
        select(col(Investigation.id))
        .where(col(Investigation.created_at) < cutoff, col(Investigation.status).in_(finished))
        .where(~open_proposal, ~recent_feedback, ~recent_proposal)
    )


def prune(
    store: Store,
    *,
    retention_days: int,
    include_audit: bool = False,
    event_days: int = 7,
    dry_run: bool = False,
    actor: str = "retention",
) -> PruneReport:
    """Delete data older than ``retention_days`` (see the module docstring for exactly what)."""
    if retention_days < 1 or event_days < 1:
        raise InvalidValueError(
            f"retention must keep at least one day (retention_days={retention_days}, event_days={event_days})"
        )
    now = utcnow()
    cutoff = ensure_utc(now - timedelta(days=retention_days))
    event_cutoff = now - timedelta(days=min(event_days, retention_days))
    with store.transaction(write=True) as session:
        counts = _delete_all(session, cutoff, event_cutoff, include_audit)
        if dry_run:
            session.rollback()
        elif any(counts.values()):
            add_audit_in(
                session,
                actor=actor,
                action="data.pruned",
                details={"cutoff": cutoff.isoformat(), "include_audit": include_audit, "deleted": counts},
            )
    return PruneReport(cutoff=cutoff, dry_run=dry_run, **counts)


def _delete_all(
    session: Session, cutoff: datetime, event_cutoff: datetime, include_audit: bool
) -> dict[str, int]:
    counts = dict.fromkeys(
        ("investigations", "proposals", "approvals", "feedback", "slack_messages", "incidents"), 0
    )
    doomed = list(session.exec(_prunable_investigations(cutoff)).all())
    for ids in _chunks(doomed):
        proposals = select(col(Proposal.id)).where(col(Proposal.investigation_id).in_(ids))
        counts["feedback"] += rowcount(
            session, delete(Feedback).where(col(Feedback.investigation_id).in_(ids))
        )
        counts["slack_messages"] += rowcount(
            session,
            delete(SlackMessage).where(
                col(SlackMessage.investigation_id).in_(ids) | col(SlackMessage.proposal_id).in_(proposals)
            ),
        )
        counts["approvals"] += rowcount(
            session, delete(ProposalApproval).where(col(ProposalApproval.proposal_id).in_(proposals))
        )
        counts["proposals"] += rowcount(
            session, delete(Proposal).where(col(Proposal.investigation_id).in_(ids))
        )
        counts["investigations"] += rowcount(
            session, delete(Investigation).where(col(Investigation.id).in_(ids))
        )
    has_investigation = exists().where(col(Investigation.incident_id) == col(Incident.id))
    old_incidents = (
        select(col(Incident.id)).where(col(Incident.created_at) < cutoff).where(~has_investigation)
    )
    for ids in _chunks(list(session.exec(old_incidents).all())):
        counts["slack_messages"] += rowcount(
            session,
            delete(SlackMessage).where(
                col(SlackMessage.incident_id).in_(ids), col(SlackMessage.investigation_id).is_(None)
            ),
        )
        counts["incidents"] += rowcount(session, delete(Incident).where(col(Incident.id).in_(ids)))
    counts["processed_events"] = rowcount(
        session, delete(ProcessedEvent).where(col(ProcessedEvent.processed_at) < event_cutoff)
    )
    counts["audit_log"] = (
        rowcount(session, delete(AuditEntry).where(col(AuditEntry.at) < cutoff)) if include_audit else 0
    )
    return counts


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Batches small enough for any database's bound-parameter limit."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def count_rows(store: Store) -> dict[str, int]:
    """Rows per store table (for ``aoi data prune`` output and tests)."""
    with store.transaction() as session:
        return {
            table.name: int(session.exec(select(func.count()).select_from(table)).one())
            for table in StoreModel.metadata.sorted_tables
        }
