"""Alertmanager alerts as incident threads in ``AOI_ALERT_CHANNEL``.

One thread per alert fingerprint: the first firing notification opens it (the alert as the root
message, AOI's summary as the first reply) and starts an investigation; repeated firing notifications
update the root in place; a resolved notification turns the root green, says so in the thread and
closes the incident (the next firing opens a new thread). The store's unique open-fingerprint index
makes "open or reuse" safe when several web processes receive the same notification.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk import WebClient

from aoi.agents.redaction import redact
from aoi.handlers import metrics
from aoi.handlers.alert_payload import Alert, AlertmanagerWebhook
from aoi.handlers.blocks.alerts import build_alert_blocks
from aoi.handlers.blocks.common import Block, escape
from aoi.handlers.context import Services
from aoi.handlers.investigation import open_investigation
from aoi.handlers.slack_io import post_message, send_message, update_message
from aoi.store import repo
from aoi.store.models import Incident
from aoi.store.types import utcnow

log = logging.getLogger(__name__)
ALERT = "alert"


class AlertsNotConfigured(RuntimeError):
    """``AOI_ALERT_CHANNEL`` is not set, so there is nowhere to open alert threads."""


class AlertThreadNotReady(RuntimeError):
    """Another process is still opening this alert's thread; Alertmanager should retry shortly."""


def _blocks(alert: Alert) -> list[Block]:
    return build_alert_blocks(
        status=alert.status,
        title=alert.title,
        description=alert.description,
        labels=alert.labels,
        starts_at=alert.starts_at,
        ends_at=alert.resolved_end,
        generator_url=alert.generator_url,
    )


def _text(alert: Alert) -> str:
    """The fallback text (notifications show it alone): escaped, so an alert cannot ping <!channel>,
    and redacted, so a secret in an annotation does not reach a lock screen."""
    return escape(redact(f"[{alert.status.upper()}] {alert.title}"[:300]))


def handle_alertmanager_webhook(services: Services, client: WebClient, webhook: AlertmanagerWebhook) -> int:
    """Open, update or resolve one thread per alert; returns how many threads were touched."""
    if not services.alert_channel:
        raise AlertsNotConfigured(
            "AOI_ALERT_CHANNEL is not set: set it to the Slack channel id for alert threads"
        )
    for alert in webhook.alerts:
        metrics.ALERTS.labels(alert.status).inc()
        handle_alert(services, client, services.alert_channel, alert)
    return len(webhook.alerts)


def handle_alert(services: Services, client: WebClient, channel: str, alert: Alert) -> None:
    if alert.status == "resolved" and _already_resolved(services, alert.fingerprint):
        return  # an HA pair or a group retry repeating a resolution already shown
    incident, created = repo.open_alert_incident(
        services.store, fingerprint=alert.fingerprint, title=redact(alert.title)[:200], channel=channel
    )
    if not created and not incident.thread_ts and _abandoned(incident):
        created = True  # the process that opened it died before its thread was posted: take it over
    if created:
        try:
            channel_id, root_ts = send_message(
                client, channel=channel, blocks=_blocks(alert), text=_text(alert)
            )
        except Exception:
            # Slack refused the root: forget the incident, so Alertmanager's retry opens it afresh
            repo.forget_unthreaded_incident(services.store, incident.id)
            raise
        repo.set_incident_thread(services.store, incident.id, channel=channel_id, thread_ts=root_ts)
        repo.record_slack_message(
            services.store,
            channel=channel_id,
            ts=root_ts,
            kind=ALERT,
            payload={"text": _text(alert), "blocks": _blocks(alert)},
            incident_id=incident.id,
        )
        if alert.status == "firing":
            _investigate(services, client, alert, incident.id, channel_id, root_ts)
        else:  # resolved before AOI ever saw it firing: record it, keep nothing open
            repo.resolve_incident(services.store, incident.id)
        return
    if not incident.channel or not incident.thread_ts:
        raise AlertThreadNotReady(f"the thread for alert {alert.fingerprint} is still being opened; retry")
    update_message(
        services,
        client,
        channel=incident.channel,
        ts=incident.thread_ts,
        kind=ALERT,
        blocks=_blocks(alert),
        text=_text(alert),
        incident_id=incident.id,
    )
    if alert.status == "firing" and not repo.list_investigations(
        services.store, incident_id=incident.id, limit=1
    ):
        # the first notification posted the root but failed before the investigation started
        _investigate(services, client, alert, incident.id, incident.channel, incident.thread_ts)
    if alert.status == "resolved":
        when = escape(alert.resolved_end or "now")
        post_message(
            services,
            client,
            channel=incident.channel,
            kind=ALERT,
            blocks=[],
            text=f":white_check_mark: Alert resolved ({when}).",
            thread_ts=incident.thread_ts,
            incident_id=incident.id,
        )
        repo.resolve_incident(services.store, incident.id)


# how long an alert incident may sit without its thread before a retry takes it over: the opening
# request posts within seconds, or failed (Slack down) and answered Alertmanager with an error
OPENING_GRACE = timedelta(seconds=30)


def _abandoned(incident: Incident) -> bool:
    return utcnow() - incident.created_at > OPENING_GRACE


def _already_resolved(services: Services, fingerprint: str) -> bool:
    latest = repo.latest_alert_incident(services.store, fingerprint)
    return latest is not None and latest.status == "resolved"


def _investigate(
    services: Services, client: WebClient, alert: Alert, incident_id: str, channel: str, root_ts: str
) -> None:
    open_investigation(
        services,
        client,
        channel=channel,
        thread_ts=root_ts,
        incident_text=alert.incident_text(),
        requested_by=None,
        source="alert",
        incident_id=incident_id,
    )
