"""A real AOI bot over real HTTP, for tests and the benchmark.

``SlackHarness`` wires what production wires — settings, store (SQLite file, migrated), policy,
services, the Bolt app, the Starlette web app under uvicorn on ``127.0.0.1:0`` — with the Slack Web
API pointed at the loopback ``FakeSlackAPI``, and sends signed Events API, interactivity and slash
command requests the way Slack does.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from aoi.bot.app import Runtime, build_runtime
from aoi.bot.followups import ListenerExecutor
from aoi.bot.services import Backends, build_services, sim_backends
from aoi.bot.settings import Settings
from aoi.bot.web import RunningServer, build_web_app, serve_in_thread
from aoi.handlers.context import Investigator, Services
from aoi.store.db import Store
from aoi.store.models import Proposal
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackAPI, RecordedCall

SIGNING_SECRET = "test-signing-secret"
HARNESS_ALERT_TOKEN = "harness-alert-token"  # POST /alerts answers 503 without a configured token
APPROVER = "U0AOISRE01"  # an approver in the packaged default policy (sre-oncall)
SECOND_APPROVER = "U0AOISRE02"
OUTSIDER = "U0NOTANAPPROVER"
_ids = itertools.count(1)


def eventually(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is truthy (store state written just after a Slack call)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def migrated_template(folder: Path) -> Path:
    """A migrated SQLite file to copy per test (migrating once keeps tests fast)."""
    path = folder / "template.db"
    if not path.exists():
        Store.open(f"sqlite:///{path}", migrate=True).dispose()
    return path


def make_settings(fake: FakeSlackAPI, db_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.base_url,
        "AOI_DATABASE_URL": f"sqlite:///{db_path}",
        "AOI_ALERT_CHANNEL": "CALERTS",
        "AOI_ALERT_TOKEN": HARNESS_ALERT_TOKEN,
        "AOI_GUIDANCE_EMBEDDER": "off",
        "AOI_PROGRESS_INTERVAL_S": "0",
        "AOI_WORKER_THREADS": "2",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class SlackHarness:
    fake: FakeSlackAPI
    settings: Settings
    runtime: Runtime
    server: RunningServer
    http: httpx.Client

    @property
    def services(self) -> Services:
        return self.runtime.services

    @property
    def store(self) -> Store:
        return self.runtime.services.store

    # -- signed requests, as Slack sends them ------------------------------------------------
    def signed_post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
            **(headers or {}),
        }
        return self.http.post("/slack/events", content=body.encode(), headers=all_headers)

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None, **kw: Any
    ) -> httpx.Response:
        body = event_body(event, event_id=event_id)
        headers = (
            {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        )
        return self.signed_post(json.dumps(body), "application/json", headers=headers, **kw)

    def action(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str,
        message_ts: str,
        thread_ts: str | None = None,
    ) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": TEAM_ID},
            "team": {"id": TEAM_ID},
            "api_app_id": "A0AOI",
            "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts, "thread_ts": thread_ts, "user": BOT_USER_ID},
            "trigger_id": f"trigger-{next(_ids)}",
            "response_url": self.fake.base_url + "response_url",
            "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button"}],
        }
        return self.signed_post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def view_submission(self, user: str, view: dict[str, Any], reason: str | None) -> httpx.Response:
        submitted = {
            **view,
            "id": "V0",
            "state": {"values": {"reject_reason": {"reason": {"type": "plain_text_input", "value": reason}}}},
        }
        payload = {
            "type": "view_submission",
            "user": {"id": user, "team_id": TEAM_ID},
            "team": {"id": TEAM_ID},
            "api_app_id": "A0AOI",
            "view": submitted,
        }
        return self.signed_post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def command(self, text: str, *, user: str = "U0REQUESTER", channel: str = "C0INC") -> httpx.Response:
        form = {
            "command": "/aoi",
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": TEAM_ID,
            "api_app_id": "A0AOI",
            "trigger_id": f"trigger-{next(_ids)}",
            "response_url": self.fake.base_url + "response_url",
        }
        return self.signed_post(urlencode(form), "application/x-www-form-urlencoded")


def event_body(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM_ID,
        "api_app_id": "A0AOI",
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


@dataclass
class PostedProposal:
    proposal_id: str
    channel: str
    message_ts: str
    thread_ts: str


def button_values(call: RecordedCall, action_id: str) -> list[str]:
    return [
        el["value"]
        for block in call.params.get("blocks") or []
        if block.get("type") == "actions"
        for el in block["elements"]
        if el.get("action_id") == action_id
    ]


def wait_for_proposals(fake: FakeSlackAPI, count: int = 1, timeout: float = 15.0) -> list[PostedProposal]:
    """The proposal messages AOI posted (with Approve buttons), once ``count`` of them exist."""

    def posted(calls: list[RecordedCall]) -> bool:
        return (
            sum(1 for c in calls if c.method == "chat.postMessage" and button_values(c, "proposal_approve"))
            >= count
        )

    calls = fake.wait_for(posted, timeout, what=f"{count} proposal message(s)")
    return [
        PostedProposal(
            button_values(c, "proposal_approve")[0],
            c.response["channel"],
            c.response["ts"],
            c.params["thread_ts"],
        )
        for c in calls
        if c.method == "chat.postMessage" and button_values(c, "proposal_approve")
    ]


def mention(
    text: str, *, channel: str = "C0INC", user: str = "U0REQUESTER", ts: str | None = None
) -> dict[str, Any]:
    ts = ts or f"1711000000.{next(_ids):06d}"
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "channel": channel,
        "ts": ts,
    }


@contextmanager
def running_bot(
    tmp_path: Path,
    template: Path,
    *,
    backends: Backends | None = None,
    investigator: Investigator | None = None,
    listeners: ListenerExecutor | None = None,
    **overrides: Any,
) -> Iterator[SlackHarness]:
    """Start the fake Slack API and the real bot over HTTP; stop both afterwards (``listeners``:
    Bolt's listener executor, the runtime's default unless given)."""
    db_path = tmp_path / "aoi.db"
    shutil.copy(template, db_path)
    with FakeSlackAPI() as fake:
        settings = make_settings(fake, db_path, **overrides)
        store = Store.open(settings.effective_database_url)
        services = build_services(settings, store=store, backends=backends or sim_backends(settings))
        if investigator is not None:
            services.investigate = investigator
        runtime = build_runtime(settings, services, listeners=listeners)
        server = serve_in_thread(
            build_web_app(
                runtime.bolt,
                runtime.services,
                alert_token=settings.alert_token,
                signing_secret=settings.slack_signing_secret or "",
            )
        )
        try:
            # every request carries the harness's alert token (Slack's endpoints ignore it)
            auth = {"Authorization": f"Bearer {HARNESS_ALERT_TOKEN}"}
            with httpx.Client(base_url=server.url, timeout=10, headers=auth) as http:
                yield SlackHarness(fake, settings, runtime, server, http)
        finally:
            server.stop()
            runtime.close()


# -- aoi bot as a real process ------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(fake: FakeSlackAPI, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AOI_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
        AOI_DATABASE_URL=f"sqlite:///{db}",
        AOI_GUIDANCE_EMBEDDER="off",
        AOI_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def start_bot_process(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "aoi.bot.cli", *args, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise AssertionError(
                f"aoi {' '.join(args)} exited: {process.stdout.read().decode() if process.stdout else ''}"
            )
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"aoi {' '.join(args)} did not become healthy in 60 s")


def signed_event(port: int, event: dict[str, object]) -> httpx.Response:
    body = json.dumps(event_body(event))
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
        or "",
    }
    return httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body, headers=headers, timeout=10)


def stop_bot_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then the graceful shutdown; uvicorn re-raises the signal once it is done."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)


def backdate_proposal(bot: SlackHarness, proposal_id: str, hours: float) -> None:
    """Make a stored proposal ``hours`` older (what a fix left in the thread overnight looks like)."""
    with bot.store.transaction(write=True) as session:
        row = session.get(Proposal, proposal_id)
        assert row is not None
        row.created_at = row.created_at - timedelta(hours=hours)
        session.add(row)
