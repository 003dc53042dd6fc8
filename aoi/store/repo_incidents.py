"""Incidents: one per Slack thread (channel + thread_ts) and at most one open per alert fingerprint.

Both rules are unique constraints, so the "find or open" functions stay correct when several web
or worker processes receive the same alert or mention at once: the insert that loses the race is
ignored and the winner's row is returned.
"""

from __future__ import annotations

from sqlmodel import col, select

from aoi.store.db import Store
from aoi.store.enums import IncidentSource, IncidentStatus
from aoi.store.models import Incident
from aoi.store.sql import checked_text, get_or_raise, insert_ignore, optional_text
from aoi.store.types import new_id, parse_enum, utcnow


def create_incident(
    store: Store,
    *,
    title: str,
    source: IncidentSource | str,
    channel: str | None = None,
    thread_ts: str | None = None,
    alert_fingerprint: str | None = None,
    incident_id: str | None = None,
) -> Incident:
    """Open a new incident. Raises ``IntegrityError`` if its thread or open fingerprint is taken;
    use ``open_thread_incident``/``open_alert_incident`` where duplicates are expected."""
    incident = _new_incident(title, source, channel, thread_ts, alert_fingerprint, incident_id)
    with store.transaction(write=True) as session:
        session.add(incident)
    return incident


def _new_incident(
    title: str,
    source: IncidentSource | str,
    channel: str | None,
    thread_ts: str | None,
    alert_fingerprint: str | None,
    incident_id: str | None,
) -> Incident:
    now = utcnow()
    return Incident(
        id=checked_text(incident_id or new_id("inc"), "incident id", 40),
        source=parse_enum(IncidentSource, source, "incident source").value,
        status=IncidentStatus.OPEN.value,
        title=checked_text(title, "incident title", 10_000, allow_empty=True),
        channel=optional_text(channel, "incident channel", 64),
        thread_ts=optional_text(thread_ts, "incident thread_ts", 32),
        alert_fingerprint=optional_text(alert_fingerprint, "alert fingerprint", 128),
        created_at=now,
        updated_at=now,
    )


def open_thread_incident(
    store: Store, *, channel: str, thread_ts: str, title: str, source: IncidentSource | str = "slack"
) -> tuple[Incident, bool]:
    """The incident of a Slack thread, creating it if needed. Returns ``(incident, created)``."""
    fresh = _new_incident(title, source, channel, thread_ts, None, None)
    with store.transaction(write=True) as session:
        created = insert_ignore(session, Incident, fresh.model_dump(), ["channel", "thread_ts"])
        statement = select(Incident).where(Incident.channel == channel, Incident.thread_ts == thread_ts)
        return session.exec(statement).one(), created


def open_alert_incident(
    store: Store, *, fingerprint: str, title: str, channel: str | None = None
) -> tuple[Incident, bool]:
    """The open incident for an alert fingerprint, creating it if none is open: ``(incident, created)``.

    A resolved incident is never reused; the next firing of the same alert opens a new one.
    """
    fresh = _new_incident(title, IncidentSource.ALERT, channel, None, fingerprint, None)
    values = fresh.model_dump()
    with store.transaction(write=True) as session:
        created = insert_ignore(
            session, Incident, values, ["alert_fingerprint"], index_where="status = 'open'"
        )
        statement = select(Incident).where(
            Incident.alert_fingerprint == fingerprint, Incident.status == IncidentStatus.OPEN.value
        )
        return session.exec(statement).one(), created


def forget_unthreaded_incident(store: Store, incident_id: str) -> bool:
    """Delete an incident whose thread was never posted (its opener failed): a retry then opens it
    afresh instead of waiting on a thread that will never come. Returns whether it was deleted."""
    with store.transaction(write=True) as session:
        row = session.get(Incident, incident_id)
        if row is None or row.thread_ts is not None:
            return False
        session.delete(row)
        return True


def latest_alert_incident(store: Store, fingerprint: str) -> Incident | None:
    """The newest incident of an alert fingerprint, open or resolved (None if it never fired here)."""
    statement = (
        select(Incident)
        .where(Incident.alert_fingerprint == fingerprint)
        .order_by(col(Incident.created_at).desc())
    )
    with store.transaction() as session:
        return session.exec(statement).first()


def get_incident(store: Store, incident_id: str) -> Incident:
    """The incident with this id (``NotFoundError`` if none)."""
    with store.transaction() as session:
        return get_or_raise(session, Incident, incident_id, "incident")


def find_incident_by_thread(store: Store, channel: str, thread_ts: str) -> Incident | None:
    """The incident whose thread this is, if any."""
    statement = select(Incident).where(Incident.channel == channel, Incident.thread_ts == thread_ts)
    with store.transaction() as session:
        return session.exec(statement).first()


def set_incident_thread(
    store: Store, incident_id: str, *, channel: str, thread_ts: str, summary_ts: str | None = None
) -> Incident:
    """Record where the incident's thread and its one summary message live in Slack."""
    with store.transaction(write=True) as session:
        incident = get_or_raise(session, Incident, incident_id, "incident", lock=True)
        incident.channel = checked_text(channel, "incident channel", 64)
        incident.thread_ts = checked_text(thread_ts, "incident thread_ts", 32)
        if summary_ts is not None:
            incident.summary_ts = checked_text(summary_ts, "incident summary_ts", 32)
        incident.updated_at = utcnow()
        session.add(incident)
        return incident


def resolve_incident(store: Store, incident_id: str) -> Incident:
    """Mark an incident resolved (idempotent: resolving twice keeps the first ``resolved_at``)."""
    with store.transaction(write=True) as session:
        incident = get_or_raise(session, Incident, incident_id, "incident", lock=True)
        if incident.status != IncidentStatus.RESOLVED:
            now = utcnow()
            incident.status = IncidentStatus.RESOLVED.value
            incident.resolved_at = now
            incident.updated_at = now
            session.add(incident)
        return incident


def list_incidents(
    store: Store, *, status: IncidentStatus | str | None = None, limit: int = 50
) -> list[Incident]:
    """Most recent incidents first, optionally only those with ``status``."""
    statement = select(Incident)
    if status is not None:
        statement = statement.where(Incident.status == parse_enum(IncidentStatus, status, "incident status"))
    statement = statement.order_by(col(Incident.created_at).desc()).limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())
