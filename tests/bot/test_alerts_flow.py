"""Alertmanager → one thread per fingerprint in AOI_ALERT_CHANNEL: open, reuse, resolve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aoi.policies.schema import load_policy
from aoi.store import repo
from tests.bot.harness import eventually, running_bot
from tests.bot.scripted import RESTART, scripted_investigator

POLICY = load_policy(None)


def webhook(
    status: str, fingerprint: str = "fp-user-service-5xx", ends_at: str = "0001-01-01T00:00:00Z"
) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {
            "alertname": "HighErrorRate",
            "namespace": "test-social-network",
            "service": "user-service",
        },
        "annotations": {"summary": "5xx above 5%", "description": "user-service answers 503"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint,
    }
    return {"version": "4", "status": status, "receiver": "aoi", "groupKey": "{}", "alerts": [alert]}


def _roots(calls: list) -> list:
    return [
        c
        for c in calls
        if c.method == "chat.postMessage"
        and c.params.get("channel") == "CALERTS"
        and not c.params.get("thread_ts")
    ]


def test_firing_alert_opens_a_thread_and_investigates_it(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        response = bot.http.post("/alerts", json=webhook("firing"))
        assert response.status_code == 200 and response.json() == {"ok": True, "threads": 1}
        (root,) = _roots(bot.fake.calls)
        assert "FIRING" in json.dumps(root.params["blocks"])
        summary = bot.fake.wait_for_call(
            "chat.postMessage", lambda c: c.params.get("thread_ts") == root.response["ts"]
        )
        assert "Investigating" in json.dumps(summary.params["blocks"])
        (investigation,) = repo.list_investigations(bot.store)
        assert "HighErrorRate: 5xx above 5%" in investigation.incident_text
        assert "service=user-service" in investigation.incident_text


def test_repeated_firing_reuses_the_thread_and_resolved_closes_it(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.http.post("/alerts", json=webhook("firing"))
        bot.http.post("/alerts", json=webhook("firing"))
        (root,) = _roots(bot.fake.calls)
        root_ts = root.response["ts"]
        assert len(repo.list_investigations(bot.store)) == 1
        assert any(c.params.get("ts") == root_ts for c in bot.fake.calls_to("chat.update"))
        resolved = bot.http.post("/alerts", json=webhook("resolved", ends_at="2024-05-01T10:30:00Z"))
        assert resolved.status_code == 200
        update = [c for c in bot.fake.calls_to("chat.update") if c.params.get("ts") == root_ts][-1]
        assert "RESOLVED" in json.dumps(update.params["blocks"])
        reply = bot.fake.wait_for_call(
            "chat.postMessage", lambda c: "Alert resolved" in c.params.get("text", "")
        )
        assert reply.params["thread_ts"] == root_ts
        (incident,) = repo.list_incidents(bot.store)
        assert incident.status == "resolved" and incident.alert_fingerprint == "fp-user-service-5xx"
        # the next firing of the same alert is a new incident with a new thread
        bot.http.post("/alerts", json=webhook("firing"))
        assert len(_roots(bot.fake.calls)) == 2 and len(repo.list_incidents(bot.store, status="open")) == 1


def test_alerts_without_an_alert_channel_are_refused_with_the_setting_to_fix(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, AOI_ALERT_CHANNEL="") as bot:
        response = bot.http.post("/alerts", json=webhook("firing"))
        assert response.status_code == 503 and "AOI_ALERT_CHANNEL" in response.json()["error"]


def test_a_root_slack_refused_is_opened_on_alertmanagers_retry(tmp_path: Path, db_template: Path) -> None:
    """The incident used to stay open with no thread: every retry, and the resolution, got 503."""
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.fake.fail("chat.postMessage", error="channel_not_found")
        assert bot.http.post("/alerts", json=webhook("firing")).status_code == 502
        assert bot.http.post("/alerts", json=webhook("firing")).status_code == 200  # Slack is back
        assert len([c for c in _roots(bot.fake.calls) if c.response.get("ok")]) == 1
        assert len(repo.list_investigations(bot.store)) == 1
        resolved = bot.http.post("/alerts", json=webhook("resolved", ends_at="2024-05-01T10:30:00Z"))
        assert resolved.status_code == 200


def test_an_investigation_lost_after_the_root_is_started_on_the_retry(
    tmp_path: Path, db_template: Path
) -> None:
    """The root posted, the summary did not: the retry used to update the root and start nothing."""
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        posts = {"n": 0}
        take = bot.fake._take_failure

        def second_post_fails(method: str) -> Any:
            if method == "chat.postMessage":
                posts["n"] += 1
                if posts["n"] == 2:
                    from tests.fakes.slack_api import _Failure

                    return _Failure(status=200, error="fatal_error", retry_after=None, remaining=0)
            return take(method)

        bot.fake._take_failure = second_post_fails  # type: ignore[method-assign]
        assert bot.http.post("/alerts", json=webhook("firing")).status_code == 502
        bot.fake._take_failure = take  # type: ignore[method-assign]
        assert repo.list_investigations(bot.store) == []
        assert bot.http.post("/alerts", json=webhook("firing")).status_code == 200
        assert len(repo.list_investigations(bot.store)) == 1


def test_a_repeated_resolution_posts_no_second_thread(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.http.post("/alerts", json=webhook("firing"))
        done = webhook("resolved", ends_at="2024-05-01T10:30:00Z")
        bot.http.post("/alerts", json=done)
        assert bot.http.post("/alerts", json=done).status_code == 200  # an HA pair sends it again
        assert len(_roots(bot.fake.calls)) == 1 and len(repo.list_incidents(bot.store)) == 1


def test_alert_text_cannot_post_secrets_or_ping_the_channel(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        hostile = webhook("firing")
        alert = hostile["alerts"][0]
        alert["annotations"]["description"] = (
            "key AKIAIOSFODNN7EXAMPLE url postgres://admin:hunter2pw@db:5432/x"
        )
        alert["labels"]["<!channel> key"] = "v"
        alert["labels"]["dsn"] = "postgres://admin:hunter2pw@db:5432/x"
        alert["generatorURL"] = "http://x|src> <!here> <http://y"
        bot.http.post("/alerts", json=hostile)
        (root,) = _roots(bot.fake.calls)
        shown = json.dumps(root.params)
        assert "AKIAIOSFODNN7EXAMPLE" not in shown and "hunter2pw" not in shown
        assert "<!channel>" not in shown and "<!here>" not in shown
        bot.http.post("/alerts", json=webhook("resolved", ends_at="<!channel> 2024"))
        reply = bot.fake.wait_for_call(
            "chat.postMessage", lambda c: "Alert resolved" in c.params.get("text", "")
        )
        assert "<!channel>" not in reply.params["text"]


def test_a_fingerprint_longer_than_the_store_keeps_is_a_400(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        response = bot.http.post("/alerts", json=webhook("firing", fingerprint="f" * 129))
        assert response.status_code == 400 and "fingerprint" in response.text


def test_an_alerts_fallback_text_cannot_ping_the_channel_or_carry_a_secret(
    tmp_path: Path, db_template: Path
) -> None:
    """Notifications show only the fallback text; the incident title is stored."""
    payload = webhook("firing")
    secret = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    payload["alerts"][0]["annotations"]["summary"] = f"<!channel> <@U0AOISRE01> token {secret}"
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        assert bot.http.post("/alerts", json=payload).status_code == 200
        (root,) = _roots(bot.fake.calls)
        text = root.params["text"]
        assert "token" in text  # the summary is the title
        assert "<!channel>" not in text and "<@U0AOISRE01>" not in text and secret not in text
        (incident,) = repo.list_incidents(bot.store)
        assert secret not in incident.title


def test_an_alert_with_a_description_longer_than_a_task_carries_is_still_investigated(
    tmp_path: Path, db_template: Path
) -> None:
    payload = webhook("firing")
    payload["alerts"][0]["annotations"]["description"] = "user-service answers 503 " * 2_000  # ~50k chars
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        assert bot.http.post("/alerts", json=payload).status_code == 200
        eventually(
            lambda: [i.status for i in repo.list_investigations(bot.store)] == ["diagnosed"], "the diagnosis"
        )
