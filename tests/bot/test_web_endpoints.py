"""The web process over real HTTP: signature checks, health, metrics and the Alertmanager endpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path

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
        not_json = bot.http.post("/alerts", content=b"{oops")
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
        missing = bot.http.post("/alerts", json={"status": "firing", "alerts": [{"status": "firing"}]})
        assert missing.status_code == 400 and "alerts.0.fingerprint" in missing.json()["error"]


def test_alert_endpoint_requires_the_bearer_token_when_configured(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, AOI_ALERT_TOKEN="s3cret") as bot:
        response = bot.http.post("/alerts", json={"status": "firing", "alerts": []})
        assert response.status_code == 401 and "AOI_ALERT_TOKEN" in response.json()["error"]
