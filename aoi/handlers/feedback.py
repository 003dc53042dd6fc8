"""Feedback: 👍/👎 reactions on AOI's messages and the Helpful / Not helpful buttons.

Each becomes one feedback row on the investigation the message belongs to (and its proposal, for a
reaction on a proposal message): KTO training data and the App Home's view of how AOI is doing.
"""

from __future__ import annotations

import logging
from typing import Any

from aoi.handlers import fields, metrics
from aoi.handlers.context import Services
from aoi.store import repo
from aoi.store.enums import FeedbackKind, FeedbackSource
from aoi.store.models import Feedback

log = logging.getLogger(__name__)

REACTION_KINDS = {
    "+1": FeedbackKind.THUMBS_UP,
    "thumbsup": FeedbackKind.THUMBS_UP,
    "-1": FeedbackKind.THUMBS_DOWN,
    "thumbsdown": FeedbackKind.THUMBS_DOWN,
}


def reaction_kind(reaction: str) -> FeedbackKind | None:
    """The feedback a reaction name means (skin tones ignored), or None for other reactions."""
    return REACTION_KINDS.get(reaction.split("::", 1)[0])


def _reacted_message(
    services: Services, event: dict[str, Any], what: str
) -> tuple[FeedbackKind, str, str | None] | None:
    """A reaction's 👍/👎 kind and the investigation (and proposal) of AOI's message it is on, if any."""
    kind = reaction_kind(fields.text(event, "reaction"))
    item = fields.mapping(event, "item")
    if kind is None or item.get("type") != "message":
        return None
    absent = fields.missing(item, "channel", "ts")
    if absent:
        fields.drop(f"{what} item", absent)
        return None
    channel, ts = fields.text(item, "channel"), fields.text(item, "ts")
    message = repo.find_slack_message(services.store, channel, ts)
    if message is None or message.investigation_id is None:
        log.info("%s on a message AOI did not record as part of an investigation: %s/%s", what, channel, ts)
        return None
    return kind, message.investigation_id, message.proposal_id


def record_reaction(services: Services, event: dict[str, Any]) -> Feedback | None:
    """Store a 👍/👎 on one of AOI's messages; other reactions and unknown messages are ignored."""
    found = _reacted_message(services, event, "reaction_added")
    if found is None:
        return None
    kind, investigation_id, proposal_id = found
    metrics.FEEDBACK.labels(kind.value).inc()
    return repo.record_feedback(
        services.store,
        investigation_id=investigation_id,
        proposal_id=proposal_id,
        kind=kind,
        actor=fields.text(event, "user") or "unknown",
        source=FeedbackSource.REACTION,
    )


def retract_reaction(services: Services, event: dict[str, Any]) -> bool:
    """A 👍/👎 taken back (``reaction_removed``): its row goes, so a mis-click is not training data."""
    found = _reacted_message(services, event, "reaction_removed")
    if found is None:
        return False
    kind, investigation_id, proposal_id = found
    return repo.retract_reaction(
        services.store,
        investigation_id=investigation_id,
        proposal_id=proposal_id,
        kind=kind,
        actor=fields.text(event, "user") or "unknown",
    )


def record_button_feedback(services: Services, investigation_id: str, user: str, helpful: bool) -> Feedback:
    """Store a Helpful / Not helpful click (raises the store's ``NotFoundError`` for an unknown id)."""
    kind = FeedbackKind.HELPFUL if helpful else FeedbackKind.NOT_HELPFUL
    metrics.FEEDBACK.labels(kind.value).inc()
    return repo.record_feedback(
        services.store, investigation_id=investigation_id, kind=kind, actor=user, source=FeedbackSource.BUTTON
    )
