"""Alertmanager webhook payloads are validated with errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from aoi.handlers.alert_payload import AlertPayloadError, parse_alertmanager_payload


def webhook(status: str = "firing", **alert: Any) -> dict[str, Any]:
    base = {
        "status": status,
        "labels": {
            "alertname": "HighErrorRate",
            "namespace": "test-social-network",
            "service": "user-service",
        },
        "annotations": {"summary": "5xx above 5%", "description": "user-service returns 503"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "abc123",
    }
    base.update(alert)
    return {"version": "4", "status": status, "receiver": "aoi", "groupKey": "{}", "alerts": [base]}


def test_firing_alert_becomes_incident_text_with_its_identifying_labels() -> None:
    alert = parse_alertmanager_payload(webhook()).alerts[0]
    text = alert.incident_text()
    assert "HighErrorRate: 5xx above 5%" in text and "user-service returns 503" in text
    assert "namespace=test-social-network" in text and "service=user-service" in text
    assert alert.resolved_end is None  # Alertmanager's zero time while firing


def test_resolved_alert_keeps_its_end_time() -> None:
    alert = parse_alertmanager_payload(webhook("resolved", endsAt="2024-05-01T11:00:00Z")).alerts[0]
    assert alert.status == "resolved" and alert.resolved_end == "2024-05-01T11:00:00Z"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected a JSON object"),
        ({"version": "3", "status": "firing", "alerts": []}, "unsupported Alertmanager webhook version"),
        ({"status": "firing", "alerts": []}, "alerts"),
        (webhook(fingerprint=""), "alerts.0.fingerprint"),
        (webhook(status="exploded"), "alerts.0.status"),
    ],
)
def test_invalid_payloads_name_what_is_wrong(payload: Any, message: str) -> None:
    with pytest.raises(AlertPayloadError, match=message):
        parse_alertmanager_payload(payload)
