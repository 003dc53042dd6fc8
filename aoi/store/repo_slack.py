"""Slack bookkeeping: every message AOI writes (so reactions map back to investigations), and the
event ids already handled (so Slack's retries and duplicate deliveries are processed once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, delete, func, select

from aoi.store.db import Store
from aoi.store.models import ProcessedEvent, SlackMessage
from aoi.store.sql import checked_text, dialect_insert, insert_ignore, optional_text, rowcount
from aoi.store.types import ensure_utc, json_value, utcnow


def mark_event_processed(store: Store, event_id: str, *, source: str = "slack") -> bool:
    """Claim an event id: True for the first caller in any process, False for every duplicate.

    Backed by the primary key (``INSERT … ON CONFLICT DO NOTHING``), so it holds across web and
    worker processes and hosts sharing the database.
    """
    event_id = checked_text(event_id, "event id", 128)
    with store.transaction(write=True) as session:
        values = {
            "event_id": event_id,
            "source": checked_text(source, "event source", 16),
            "processed_at": utcnow(),
        }
        return insert_ignore(session, ProcessedEvent, values, ["event_id"])


def prune_processed_events(store: Store, *, older_than: datetime) -> int:
    """Forget Slack event ids handled before ``older_than`` (Slack retries within minutes). Returns the
    count. One-time claims (other sources: "this channel has its investigation") are kept: forgetting
    one would let a restarted bot investigate a channel's later chatter as a new incident."""
    cutoff = ensure_utc(older_than, "older_than")
    statement = delete(ProcessedEvent).where(
        col(ProcessedEvent.processed_at) < cutoff, col(ProcessedEvent.source) == "slack"
    )
    with store.transaction(write=True) as session:
        return rowcount(session, statement)


def record_slack_message(
    store: Store,
    *,
    channel: str,
    ts: str,
    kind: str,
    payload: dict[str, Any],
    thread_ts: str | None = None,
    incident_id: str | None = None,
    investigation_id: str | None = None,
    proposal_id: str | None = None,
) -> SlackMessage:
    """Store a message AOI posted, or its new content after an in-place update (same channel + ts).

    On update the links (incident, investigation, proposal) are kept unless new ones are given.
    """
    channel = checked_text(channel, "message channel", 64)
    ts = checked_text(ts, "message ts", 32)
    body = json_value(payload, "message payload")
    now = utcnow()
    values: dict[str, Any] = {
        "channel": channel,
        "ts": ts,
        "thread_ts": optional_text(thread_ts, "message thread_ts", 32),
        "kind": checked_text(kind, "message kind", 32),
        "payload": body,
        "incident_id": incident_id,
        "investigation_id": investigation_id,
        "proposal_id": proposal_id,
        "created_at": now,
        "updated_at": now,
    }
    table = SlackMessage.__table__  # type: ignore[attr-defined]
    with store.transaction(write=True) as session:
        insert = dialect_insert(session, SlackMessage).values(**values)
        keep = ("thread_ts", "incident_id", "investigation_id", "proposal_id")
        changes = {name: insert.excluded[name] for name in ("kind", "payload", "updated_at")}
        changes.update({name: func.coalesce(insert.excluded[name], table.c[name]) for name in keep})
        session.execute(insert.on_conflict_do_update(index_elements=["channel", "ts"], set_=changes))
        statement = select(SlackMessage).where(SlackMessage.channel == channel, SlackMessage.ts == ts)
        return session.exec(statement).one()


def find_slack_message(store: Store, channel: str, ts: str) -> SlackMessage | None:
    """The message AOI wrote at ``channel``/``ts``, if any (e.g. the target of a reaction)."""
    with store.transaction() as session:
        statement = select(SlackMessage).where(SlackMessage.channel == channel, SlackMessage.ts == ts)
        return session.exec(statement).first()


def list_slack_messages(
    store: Store,
    *,
    channel: str | None = None,
    thread_ts: str | None = None,
    investigation_id: str | None = None,
    kind: str | None = None,
    limit: int = 500,
) -> list[SlackMessage]:
    """Messages AOI wrote, oldest first, filtered by channel, thread, investigation or kind."""
    statement = select(SlackMessage)
    if channel is not None:
        statement = statement.where(SlackMessage.channel == channel)
    if thread_ts is not None:
        statement = statement.where(SlackMessage.thread_ts == thread_ts)
    if investigation_id is not None:
        statement = statement.where(SlackMessage.investigation_id == investigation_id)
    if kind is not None:
        statement = statement.where(SlackMessage.kind == kind)
    statement = statement.order_by(col(SlackMessage.id)).limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())
