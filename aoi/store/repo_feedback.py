"""Feedback: every thumbs, button, approval, rejection and execution outcome, as training signal.

Rows are only ever added (a changed mind is a new row); the training export reads them by time. The
one exception is a reaction its author takes back (Slack's ``reaction_removed``): that row is deleted,
because a mis-click removed a second later must not stay a thumbs-down in the training data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select

from aoi.store.db import Store
from aoi.store.enums import FeedbackKind, FeedbackSource
from aoi.store.errors import InvalidValueError
from aoi.store.models import Feedback, Investigation, Proposal
from aoi.store.sql import checked_text, get_or_raise
from aoi.store.types import ensure_utc, parse_enum, utcnow


def record_feedback(
    store: Store,
    *,
    investigation_id: str,
    kind: FeedbackKind | str,
    actor: str,
    source: FeedbackSource | str,
    proposal_id: str | None = None,
    reason: str | None = None,
) -> Feedback:
    """Store one feedback row; the investigation (and proposal, if given) must exist and match."""
    row = Feedback(
        investigation_id=investigation_id,
        proposal_id=proposal_id,
        kind=parse_enum(FeedbackKind, kind, "feedback kind").value,
        source=parse_enum(FeedbackSource, source, "feedback source").value,
        actor=checked_text(actor, "feedback actor", 128),
        reason=reason,
        created_at=utcnow(),
    )
    with store.transaction(write=True) as session:
        get_or_raise(session, Investigation, investigation_id, "investigation")
        if proposal_id is not None:
            proposal = get_or_raise(session, Proposal, proposal_id, "proposal")
            if proposal.investigation_id != investigation_id:
                raise InvalidValueError(
                    f"proposal {proposal_id} belongs to investigation {proposal.investigation_id}, "
                    f"not {investigation_id}"
                )
        session.add(row)
        session.flush()
        return row


def list_feedback(
    store: Store,
    *,
    investigation_id: str | None = None,
    kinds: Sequence[FeedbackKind | str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[Feedback]:
    """Feedback rows, oldest first, filtered by investigation, kinds and time window ``[since, until)``."""
    statement = select(Feedback)
    if investigation_id is not None:
        statement = statement.where(Feedback.investigation_id == investigation_id)
    if kinds is not None:
        values = [parse_enum(FeedbackKind, kind, "feedback kind").value for kind in kinds]
        statement = statement.where(col(Feedback.kind).in_(values))
    if since is not None:
        statement = statement.where(col(Feedback.created_at) >= ensure_utc(since, "since"))
    if until is not None:
        statement = statement.where(col(Feedback.created_at) < ensure_utc(until, "until"))
    statement = statement.order_by(col(Feedback.id))
    if limit is not None:
        statement = statement.limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())


def feedback_counts(store: Store, *, since: datetime | None = None) -> dict[str, int]:
    """How many rows of each kind (every kind present, zero when absent) — for App Home's success rate."""
    counts: Counter[str] = Counter({kind.value: 0 for kind in FeedbackKind})
    statement = select(Feedback.kind)
    if since is not None:
        statement = statement.where(col(Feedback.created_at) >= ensure_utc(since, "since"))
    with store.transaction() as session:
        counts.update(session.exec(statement).all())
    return dict(counts)


def retract_reaction(
    store: Store, *, investigation_id: str, proposal_id: str | None, kind: FeedbackKind | str, actor: str
) -> bool:
    """Delete the newest reaction row of ``actor`` with this kind on this investigation (and proposal).
    Returns whether there was one."""
    value = parse_enum(FeedbackKind, kind, "feedback kind").value
    statement = (
        select(Feedback)
        .where(Feedback.investigation_id == investigation_id, Feedback.kind == value, Feedback.actor == actor)
        .where(Feedback.source == FeedbackSource.REACTION.value)
        .where(
            col(Feedback.proposal_id).is_(None)
            if proposal_id is None
            else Feedback.proposal_id == proposal_id
        )
        .order_by(col(Feedback.id).desc())
    )
    with store.transaction(write=True) as session:
        row = session.exec(statement).first()
        if row is None:
            return False
        session.delete(row)
        return True
