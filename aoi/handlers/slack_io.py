"""Posting and updating AOI's messages: every message AOI writes is also written to the store.

The store row (channel + ts, kind, blocks, and the incident/investigation/proposal it belongs to) is
what lets a later reaction or click find its record, and what the training export reads. Posting goes
through the ``WebClient`` given by the composition root, whose retry handlers already retry 429s
(honouring ``Retry-After``), 5xx and connection errors with backoff.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from aoi.handlers.blocks.common import Block
from aoi.handlers.context import Services
from aoi.store.repo_slack import record_slack_message


def send_message(
    client: WebClient, *, channel: str, blocks: list[Block], text: str, thread_ts: str | None = None
) -> tuple[str, str]:
    """Post without storing (the caller stores it once its records exist); returns ``(channel, ts)``.

    When AOI is not in the channel yet (``not_in_channel``) it joins and posts again.
    """
    try:
        response = client.chat_postMessage(channel=channel, thread_ts=thread_ts, blocks=blocks, text=text)
    except SlackApiError as exc:
        if exc.response.get("error") != "not_in_channel":
            raise
        client.conversations_join(channel=channel)
        response = client.chat_postMessage(channel=channel, thread_ts=thread_ts, blocks=blocks, text=text)
    return str(response.get("channel") or channel), str(response["ts"])


def post_message(
    services: Services,
    client: WebClient,
    *,
    channel: str,
    kind: str,
    blocks: list[Block],
    text: str,
    thread_ts: str | None = None,
    incident_id: str | None = None,
    investigation_id: str | None = None,
    proposal_id: str | None = None,
) -> str:
    """Post a message (in ``thread_ts``'s thread when given), store it, and return its ``ts``."""
    channel_id, ts = send_message(client, channel=channel, blocks=blocks, text=text, thread_ts=thread_ts)
    record_slack_message(
        services.store,
        channel=channel_id,
        ts=ts,
        kind=kind,
        payload={"text": text, "blocks": blocks},
        thread_ts=thread_ts,
        incident_id=incident_id,
        investigation_id=investigation_id,
        proposal_id=proposal_id,
    )
    return ts


def update_message(
    services: Services,
    client: WebClient,
    *,
    channel: str,
    ts: str,
    kind: str,
    blocks: list[Block],
    text: str,
    **links: Any,
) -> None:
    """Replace a message in place (``chat.update``) and its stored copy (same channel + ts)."""
    client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
    record_slack_message(
        services.store, channel=channel, ts=ts, kind=kind, payload={"text": text, "blocks": blocks}, **links
    )


def post_ephemeral(
    services: Services,
    client: WebClient,
    *,
    channel: str,
    user: str,
    text: str,
    thread_ts: str | None = None,
    **links: Any,
) -> None:
    """A message only ``user`` sees (refusals, confirmations); stored too, with who saw it."""
    response = client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
    ts = response.get("message_ts")
    if ts:
        record_slack_message(
            services.store,
            channel=channel,
            ts=str(ts),
            kind="ephemeral",
            payload={"text": text, "user": user},
            thread_ts=thread_ts,
            **links,
        )
