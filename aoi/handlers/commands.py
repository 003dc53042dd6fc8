"""``/aoi investigate <text>``, ``/aoi status`` and ``/aoi help``.

The slash command is acked at once with an ephemeral answer; ``investigate`` then opens the thread
(its summary message is the thread's root) and queues the investigation.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from aoi.handlers import metrics
from aoi.handlers.blocks.home import build_help_blocks, build_status_blocks
from aoi.handlers.context import Services
from aoi.handlers.home import home_snapshot
from aoi.handlers.investigation import open_investigation

log = logging.getLogger(__name__)
USAGE = "Usage: `/aoi investigate <what is wrong>` · `/aoi status` · `/aoi help`"


def handle_aoi_command(
    services: Services, ack: Ack, respond: Respond, client: WebClient, command: dict[str, Any]
) -> None:
    """Dispatch one ``/aoi`` invocation (``ack`` is always called first, within Slack's 3 s)."""
    text = str(command.get("text") or "").strip()
    sub, _, rest = text.partition(" ")
    sub, rest = sub.lower(), rest.strip()
    if sub == "investigate":
        if not rest:
            ack(text=f"Tell me what to investigate. {USAGE}")
            return
        channel = str(command.get("channel_id") or "")
        if not channel:
            ack(text="This command arrived without a channel_id; run `/aoi investigate` from a channel.")
            return
        ack(text=f":mag: On it — I'll investigate in this channel: {rest[:200]}")
        try:
            open_investigation(
                services,
                client,
                channel=channel,
                thread_ts=None,
                incident_text=rest,
                requested_by=str(command.get("user_id") or "") or None,
                source="command",
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            respond(text=f"I could not post in this channel ({error}). Invite me with `/invite @aoi`.")
        return
    if sub == "status":
        try:
            snapshot = home_snapshot(services)
        except Exception:  # the store is down: say so, instead of a failed command in Slack
            log.exception("/aoi status could not read the store")
            ack(text=":warning: AOI cannot read its database right now; `/healthz` says why.")
            return
        ack(blocks=build_status_blocks(snapshot), text="AOI status")
        return
    if sub in ("", "help"):
        ack(blocks=build_help_blocks(), text=USAGE)
        return
    ack(text=f"Unknown subcommand `{sub[:40]}`. {USAGE}")


def register(app: App, services: Services) -> None:
    @app.command("/aoi")
    def on_aoi(ack: Ack, respond: Respond, client: WebClient, command: dict[str, Any]) -> None:
        metrics.SLACK_EVENTS.labels("command").inc()
        handle_aoi_command(services, ack, respond, client, command)
