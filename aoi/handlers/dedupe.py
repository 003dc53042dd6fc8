"""Doing things once: Slack retries (same ``event_id``) and one-time claims such as "this incident
channel already has its investigation".

Both are backed by the store's processed-event table (a primary-key insert), so they hold across
web and worker processes. Claims use a ``source`` other than ``slack`` so they never collide with
real event ids.
"""

from __future__ import annotations

from typing import Any

from aoi.handlers import metrics
from aoi.handlers.context import Services
from aoi.store import repo


def first_delivery(services: Services, body: dict[str, Any]) -> bool:
    """False when this Events API delivery (by ``event_id``) was already handled; True otherwise.

    Requests without an ``event_id`` (interactivity, commands) are not retried by Slack: always True.
    """
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return True
    if repo.mark_event_processed(services.store, event_id):
        return True
    metrics.SLACK_DUPLICATES.inc()
    return False


def claim_once(services: Services, key: str) -> bool:
    """True for the first caller ever to claim ``key`` (e.g. ``channel:C123``), False afterwards."""
    return repo.mark_event_processed(services.store, key[:128], source="claim")
