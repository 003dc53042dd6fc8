"""The web process over real HTTP: signature checks, health, metrics and the Alertmanager endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from aoi.store import repo
from tests.bot.harness import mention, running_bot


def test_bad_signature_is_refused_with_401_and_nothing_runs(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": mention("checkout down")})
        response = bot.signed_post(body, "application/json", secret="not-the-secret")
        assert response.status_code == 401
        time.sleep(0.2)
        assert [c.method for c in bot.fake.calls] == ["auth.test"]


def test_stale_timestamp_is_refused_even_with_a_valid_signature(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        response = bot.event(mention("checkout down"), timestamp=int(time.time()) - 10 * 60)
        assert response.status_code == 401


def test_url_verification_challenge_is_answered(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
        response = bot.signed_post(body, "application/json")
        assert response.status_code == 200 and response.json()["challenge"] == "abc123"


def test_healthz_and_metrics(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        assert bot.http.get("/healthz").json() == {"ok": True}
        bot.signed_post("{}", "application/json", secret="wrong")
        metrics = bot.http.get("/metrics")
        assert metrics.status_code == 200
        assert 'aoi_http_requests_total{route="/slack/events",status="401"}' in metrics.text


def test_healthz_reports_an_unreachable_database(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        bot.store.engine.dispose()
        (tmp_path / "aoi.db").unlink()
        (tmp_path / "aoi.db").mkdir()  # a folder where the database file was: SQLite cannot open it
        response = bot.http.get("/healthz")
        assert response.status_code == 503 and "unreachable" in response.json()["error"]


def test_alert_endpoint_rejects_malformed_payloads_with_a_clear_error(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template) as bot:
        json_type = {"Content-Type": "application/json"}
        not_json = bot.http.post("/alerts", content=b"{oops", headers=json_type)
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
        deep = bot.http.post("/alerts", content=b"[" * 100_000, headers=json_type)
        assert deep.status_code == 400 and "nested too deeply" in deep.json()["error"]
        form = bot.http.post(
            "/alerts", content=b'{"status": "firing"}', headers={"Content-Type": "text/plain"}
        )
        assert form.status_code == 415  # what a browser's form post could send
        missing = bot.http.post("/alerts", json={"status": "firing", "alerts": [{"status": "firing"}]})
        assert missing.status_code == 400 and "alerts.0.fingerprint" in missing.json()["error"]


def test_alert_endpoint_requires_the_bearer_token_when_configured(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, AOI_ALERT_TOKEN="s3cret") as bot:
        response = bot.http.post("/alerts", json={"status": "firing", "alerts": []})
        assert response.status_code == 401 and "AOI_ALERT_TOKEN" in response.json()["error"]


def test_alerts_are_off_until_a_token_is_configured(tmp_path: Path, db_template: Path) -> None:
    """Open by default, anyone who reached the bot's port could open threads and run investigations."""
    for unset in (None, "  "):
        folder = tmp_path / ("unset" if unset is None else "blank")
        folder.mkdir()
        with running_bot(folder, db_template, AOI_ALERT_TOKEN=unset) as bot:
            firing = {"status": "firing", "alerts": [{"status": "firing", "fingerprint": "f1", "labels": {}}]}
            response = bot.http.post("/alerts", json=firing, headers={"Authorization": ""})
            assert response.status_code == 503 and "AOI_ALERT_TOKEN" in response.json()["error"]
            assert repo.list_incidents(bot.store) == []


def test_a_chunked_body_past_the_limit_is_refused_without_buffering_it(
    tmp_path: Path, db_template: Path
) -> None:
    """No Content-Length to refuse early on: the body is counted as it arrives."""

    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 4 MB in all, 100 kB at a time
            yield b"x" * 100_000

    with running_bot(tmp_path, db_template) as bot:
        response = bot.http.post(
            "/slack/events", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413


def test_unsigned_requests_are_401_whatever_they_carry(tmp_path: Path, db_template: Path) -> None:
    """Checked before anything is parsed: deep JSON, a non-numeric timestamp, a mistyped field."""
    with running_bot(tmp_path, db_template) as bot:
        for body, headers in (
            (b"[" * 1000, {}),
            (
                b'{"type": "event_callback"}',
                {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
            ),
            (b'{"type":"event_callback","event":{"type":"reaction_added","item":{"channel":7}}}', {}),
        ):
            response = bot.http.post(
                "/slack/events", content=body, headers={"Content-Type": "application/json", **headers}
            )
            assert response.status_code == 401, (body[:40], response.text)


def test_healthz_does_not_tell_callers_where_the_database_is(tmp_path: Path, db_template: Path) -> None:
    from aoi.store.db import Store

    with running_bot(tmp_path, db_template) as bot:
        bot.runtime.services.store = Store.open("postgresql+psycopg://aoi:pw@127.0.0.1:1/aoi")
        response = bot.http.get("/healthz")
        assert response.status_code == 503 and "127.0.0.1" not in response.text and "aoi" not in response.text


def test_a_signed_click_whose_action_has_no_action_id_is_a_400_not_a_500(
    tmp_path: Path, db_template: Path
) -> None:
    from urllib.parse import urlencode

    with running_bot(tmp_path, db_template) as bot:
        body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{}]})})
        response = bot.signed_post(body, "application/x-www-form-urlencoded")
        assert response.status_code == 400 and "actions.0.action_id" in response.text
