"""Events API surfaces: new incident channels, their first message, ``@aoi`` mentions, reactions and
App Home.

Bolt acks every event before these listeners run (``process_before_response=False``), and ``aoi bot``
runs them afterwards on its bounded follow-up queue (``aoi.bot.followups``), so no store work happens
before the ack; each listener first drops Slack's retries by ``event_id``, then does only quick work
(a post, a few store writes) and hands the investigation itself to the task runner.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from aoi.handlers import fields, metrics
from aoi.handlers.channels import GREETING, AwaitingChannels
from aoi.handlers.context import Services
from aoi.handlers.dedupe import claim_once, first_delivery
from aoi.handlers.feedback import record_reaction, retract_reaction
from aoi.handlers.home import publish_home
from aoi.handlers.investigation import open_investigation
from aoi.handlers.slack_io import post_message
from aoi.store import repo

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
_ASK_FOR_DETAILS = (
    "AOI joined this incident channel. Describe what is wrong in a message here (or set the channel "
    "topic) and I will investigate; fixes are only proposed, and run after an approver clicks Approve."
)


def _channel_key(channel: str) -> str:
    return f"channel:{channel}"


def handle_channel_created(
    services: Services, client: WebClient, channel: dict[str, Any], awaiting: AwaitingChannels
) -> None:
    """Join a channel whose name matches the incident pattern; investigate its topic or purpose, or
    ask for a description and wait for the first message."""
    channel_id, name = fields.text(channel, "id"), fields.text(channel, "name")
    if not channel_id or not services.incident_channel_pattern.search(name):
        return
    client.conversations_join(channel=channel_id)
    info = client.conversations_info(channel=channel_id).get("channel") or {}
    topic = str((info.get("topic") or {}).get("value") or "").strip()
    purpose = str((info.get("purpose") or {}).get("value") or "").strip()
    description = topic or purpose
    if description and claim_once(services, _channel_key(channel_id)):
        awaiting.mark_claimed(channel_id)
        open_investigation(
            services,
            client,
            channel=channel_id,
            thread_ts=None,
            incident_text=f"#{name}: {description}",
            requested_by=fields.text(channel, "creator") or None,
            source="channel",
        )
        return
    post_message(services, client, channel=channel_id, kind=GREETING, blocks=[], text=_ASK_FOR_DETAILS)
    awaiting.mark_greeted(channel_id)


_FIRST_MESSAGE_SUBTYPES = (None, "file_share")  # a plain message, or one with a file (a graph, a log)


def handle_first_message(
    services: Services, client: WebClient, event: dict[str, Any], bot_user_id: str, awaiting: AwaitingChannels
) -> None:
    """The first human message in an incident channel AOI joined (and greeted) starts its investigation.

    Exactly once per channel, also under Slack retries and across processes: the start is a one-time
    claim of the channel in the store.
    """
    if event.get("subtype") not in _FIRST_MESSAGE_SUBTYPES or event.get("bot_id") or event.get("thread_ts"):
        return  # edits, joins and bots' posts are not the incident; a message with a screenshot is
    text = fields.text(event, "text").strip()
    channel = fields.text(event, "channel")
    if (
        not text or not channel or not fields.text(event, "ts") or f"<@{bot_user_id}>" in text
    ):  # mentions are handled as app_mention
        return
    if not awaiting.awaiting_first_message(services.store, channel):
        return  # not an incident channel AOI joined by itself, or already investigating
    claimed = claim_once(services, _channel_key(channel))
    awaiting.mark_claimed(channel)
    if not claimed:
        return
    open_investigation(
        services,
        client,
        channel=channel,
        thread_ts=fields.text(event, "ts"),
        incident_text=text,
        requested_by=fields.text(event, "user") or None,
        source="channel",
    )


def handle_app_mention(services: Services, client: WebClient, event: dict[str, Any]) -> None:
    """``@aoi <question>``: investigate in the mention's thread (the question, or the thread's incident).

    Once per message: Slack sends ``app_mention`` again, with a new event id, when the message is
    edited, so the message (channel + ts) is claimed. Mentions posted by bots are ignored — two bots
    mentioning each other in their replies would loop."""
    absent = fields.missing(event, "channel", "ts")
    if absent:
        fields.drop("app_mention", absent)
        return
    if event.get("bot_id"):
        return
    channel = fields.text(event, "channel")
    if not claim_once(services, f"mention:{channel}:{fields.text(event, 'ts')}"):
        return  # an edit of a message already investigated
    thread_ts = fields.text(event, "thread_ts") or fields.text(event, "ts")
    question = _MENTION.sub("", fields.text(event, "text")).strip()
    claim_once(services, _channel_key(channel))  # an incident channel's first message may be this mention
    if not question:
        incident = repo.find_incident_by_thread(services.store, channel, thread_ts)
        question = incident.title if incident is not None else ""
    if not question:
        post_message(
            services,
            client,
            channel=channel,
            kind="help",
            blocks=[],
            text="What should I look at? Mention me with a description, e.g. `@aoi checkout returns 502s`.",
            thread_ts=thread_ts,
        )
        return
    open_investigation(
        services,
        client,
        channel=channel,
        thread_ts=thread_ts,
        incident_text=question,
        requested_by=fields.text(event, "user") or None,
        source="mention",
    )


def register(app: App, services: Services) -> None:
    """Attach the event listeners to ``app``."""
    awaiting = AwaitingChannels()

    @app.event("channel_created")
    def on_channel_created(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        metrics.SLACK_EVENTS.labels("channel_created").inc()
        if first_delivery(services, body):
            handle_channel_created(services, client, fields.mapping(event, "channel"), awaiting)

    @app.event("message")
    def on_message(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        # No event-id bookkeeping here: most messages are chatter with no effect, and the one that
        # starts an investigation does so through the channel's one-time claim, which a Slack retry
        # of that message cannot pass again.
        metrics.SLACK_EVENTS.labels("message").inc()
        handle_first_message(services, client, event, context.bot_user_id or "", awaiting)

    @app.event("app_mention")
    def on_app_mention(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        metrics.SLACK_EVENTS.labels("app_mention").inc()
        if first_delivery(services, body):
            awaiting.mark_claimed(fields.text(event, "channel"))
            handle_app_mention(services, client, event)

    @app.event("reaction_added")
    def on_reaction_added(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        metrics.SLACK_EVENTS.labels("reaction_added").inc()
        if event.get("item_user") != context.bot_user_id:
            return  # only reactions on AOI's own messages are feedback
        if first_delivery(services, body):
            record_reaction(services, event)

    @app.event("reaction_removed")
    def on_reaction_removed(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        metrics.SLACK_EVENTS.labels("reaction_removed").inc()
        if event.get("item_user") != context.bot_user_id:
            return
        if first_delivery(services, body):
            retract_reaction(services, event)

    @app.event("app_home_opened")
    def on_app_home_opened(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        metrics.SLACK_EVENTS.labels("app_home_opened").inc()
        user = fields.text(event, "user")
        if not user:
            fields.drop("app_home_opened", ["user"])
            return
        if event.get("tab", "home") == "home" and first_delivery(services, body):
            publish_home(services, client, user)
