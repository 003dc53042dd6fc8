"""A loopback fake of the Slack Web API for bot tests and benchmarks.

A ``ThreadingHTTPServer`` on ``127.0.0.1:0`` answers ``POST /<method>`` the way Slack does (HTTP 200,
``{"ok": true, ...}``) and records every call, so tests assert on what the bot *sent* rather than on
its internals. Point ``slack_sdk.WebClient(base_url=fake.base_url)`` at it (the trailing slash of
``base_url`` matters).

What it models, because the bot depends on it:
- ``auth.test`` (Bolt calls it when ``App()`` is built) returns fixed team/bot/user ids;
- ``chat.postMessage`` returns a fresh, increasing ``ts`` per message, and ``chat.update`` echoes;
- ``conversations.info`` / ``conversations.history`` serve channels registered with ``add_channel``;
- ``files.getUploadURLExternal`` → a loopback upload URL (the bytes POSTed there are kept, see
  ``uploaded``) → ``files.completeUploadExternal``: the three steps of ``files_upload_v2``;
- ``usergroups.users.list`` serves groups registered with ``set_usergroup`` (unknown group → error
  ``no_such_subteam``, like Slack);
- scripted failures: ``fail(method, status=429, retry_after=1)`` or ``fail(method, error="...")``
  answer the next N calls of a method with an HTTP error or an ``ok: false`` body.

Bodies may be form-encoded or JSON (the SDK uses both); ``blocks``/``view``/``attachments`` given as JSON
strings in a form are decoded so tests can read them as data.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

BOT_USER_ID = "UAOIBOT"
BOT_ID = "BAOIBOT"
TEAM_ID = "T0AOI"
_JSON_FIELDS = ("blocks", "view", "attachments", "metadata", "files")
UPLOAD_PATH = "upload/"  # where files_upload_v2 sends a file's bytes (Slack: files.slack.com/upload/v1/...)


@dataclass
class RecordedCall:
    """One Web API call as the fake received it."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    error: str | None
    retry_after: int | None
    remaining: int


@dataclass
class _State:
    calls: list[RecordedCall] = field(default_factory=list)
    failures: dict[str, list[_Failure]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)
    delay_s: dict[str, float] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)


class FakeSlackAPI:
    """The loopback Slack Web API. Use as a context manager or call ``start()``/``close()``."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()  # re-entrant: wait_for's predicate may read the calls
        self._ts = itertools.count(1)
        self._changed = threading.Condition(self._lock)
        self.socket_url: str | None = None  # what apps.connections.open answers (a FakeSocketMode url)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeSlackAPI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    # -- scripting -------------------------------------------------------------------------------
    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        topic: str = "",
        purpose: str = "",
        messages: list[dict[str, Any]] | None = None,
    ) -> None:
        """Register a channel served by ``conversations.info``/``conversations.history``."""
        with self._lock:
            self._state.channels[channel_id] = {
                "id": channel_id,
                "name": name,
                "is_channel": True,
                "created": int(time.time()),
                "topic": {"value": topic},
                "purpose": {"value": purpose},
            }
            self._state.history[channel_id] = list(messages or [])

    def set_usergroup(self, group_id: str, users: list[str], handle: str | None = None) -> None:
        """Make ``usergroups.users.list(usergroup=group_id)`` return ``users`` (and ``usergroups.list``
        list the group under ``handle``)."""
        with self._lock:
            self._state.usergroups[group_id] = list(users)
            if handle:
                self._state.handles[group_id] = handle

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` (and ``Retry-After``) or,
        with status 200, an ``{"ok": false, "error": error}`` body."""
        with self._lock:
            self._state.failures.setdefault(method, []).append(
                _Failure(status=status, error=error, retry_after=retry_after, remaining=times)
            )

    def slow(self, method: str, delay_s: float) -> None:
        """Delay every answer to ``method`` by ``delay_s`` seconds (latency tests)."""
        with self._lock:
            self._state.delay_s[method] = delay_s

    # -- inspection ------------------------------------------------------------------------------
    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._state.calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def uploaded(self, file_id: str) -> bytes | None:
        """The bytes uploaded for ``file_id`` (``files_upload_v2``'s step 2), or None."""
        with self._lock:
            return self._state.uploads.get(file_id)

    def wait_for(
        self,
        predicate: Callable[[list[RecordedCall]], bool],
        timeout: float = 10.0,
        what: str = "the expected Slack calls",
    ) -> list[RecordedCall]:
        """Block until ``predicate(calls)`` holds; raise ``AssertionError`` naming ``what`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                calls = list(self._state.calls)
                if predicate(calls):
                    return calls
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    methods = [c.method for c in calls]
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; calls: {methods}")
                self._changed.wait(remaining)

    def wait_for_call(
        self, method: str, where: Callable[[RecordedCall], bool] = lambda c: True, timeout: float = 10.0
    ) -> RecordedCall:
        """Block until a call of ``method`` matching ``where`` arrives and return it."""
        found: list[RecordedCall] = []

        def _matches(calls: list[RecordedCall]) -> bool:
            found[:] = [c for c in calls if c.method == method and where(c)]
            return bool(found)

        self.wait_for(_matches, timeout, what=f"a matching {method} call")
        return found[0]

    # -- server ----------------------------------------------------------------------------------
    def _record(self, call: RecordedCall) -> None:
        with self._changed:
            self._state.calls.append(call)
            self._changed.notify_all()

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._state.failures.get(method, [])
            if not queue:
                return None
            failure = queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                queue.pop(0)
            return failure

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The ``ok: true`` body Slack would send for ``method``."""
        channel = str(params.get("channel", ""))
        if method == "auth.test":
            return {"url": "https://aoi.example/", "team": "AOI", "user": "aoi", "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID, "bot_id": BOT_ID}  # fmt: skip
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            message = {"ts": ts, "text": params.get("text", ""), "user": BOT_USER_ID, "bot_id": BOT_ID}
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            return {"channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            return {"channel": channel, "ts": params.get("ts"), "text": params.get("text", "")}
        if method == "chat.postEphemeral":
            return {"message_ts": f"1700000000.{next(self._ts):06d}"}
        if method in ("conversations.info", "conversations.join"):
            with self._lock:
                info = self._state.channels.get(channel)
            if info is None:
                return {"ok": False, "error": "channel_not_found"}
            return {"channel": info}
        if method == "conversations.history":
            with self._lock:
                return {"messages": list(self._state.history.get(channel, [])), "has_more": False}
        if method == "usergroups.users.list":
            with self._lock:
                users = self._state.usergroups.get(str(params.get("usergroup", "")))
            return {"ok": False, "error": "no_such_subteam"} if users is None else {"users": users}
        if method == "apps.connections.open":
            if self.socket_url is None:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"url": self.socket_url}
        if method == "usergroups.list":
            with self._lock:
                groups = [{"id": gid, "handle": h} for gid, h in self._state.handles.items()]
            return {"usergroups": groups}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {"upload_url": f"{self.base_url}{UPLOAD_PATH}{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            listed = params.get("files")
            with self._lock:
                files = [
                    {
                        "id": f.get("id"),
                        "title": f.get("title"),
                        "size": len(self._state.uploads.get(str(f.get("id")), b"")),
                    }
                    for f in (listed if isinstance(listed, list) else [])
                    if isinstance(f, dict)
                ]
            return {"files": files}
        if method in ("views.open", "views.publish", "views.update"):
            return {"view": {"id": f"V{next(self._ts):08d}", **dict(params.get("view") or {})}}
        return {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
                return

            def do_POST(self) -> None:
                method = self.path.strip("/").split("?", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                if method.startswith(UPLOAD_PATH):  # raw file bytes, no token (the URL is the secret)
                    file_id = method[len(UPLOAD_PATH) :]
                    data = self.rfile.read(length)
                    with fake._lock:
                        fake._state.uploads[file_id] = data
                    call = RecordedCall("upload", {"file_id": file_id, "size": len(data)}, None, time.time())
                    fake._record(call)
                    self._send(200, {"ok": True})
                    return
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                params = _parse_body(raw, self.headers.get("Content-Type", ""))
                auth = self.headers.get("Authorization", "")
                token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")
                received = time.time()
                with fake._lock:
                    delay = fake._state.delay_s.get(method, 0.0)
                if delay:
                    time.sleep(delay)
                failure = fake._take_failure(method)
                headers: dict[str, str] = {}
                status = 200
                if failure is not None and failure.status != 200:
                    status = failure.status
                    body = {"ok": False, "error": failure.error or "ratelimited"}
                    if failure.retry_after is not None:
                        headers["Retry-After"] = str(failure.retry_after)
                elif failure is not None:
                    body = {"ok": False, "error": failure.error or "fatal_error"}
                elif not token:
                    body = {"ok": False, "error": "not_authed"}
                else:
                    body = {"ok": True, **fake._answer(method, params)}
                fake._record(RecordedCall(method, params, token, received, status, body))
                self._send(status, body, headers)

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "application/json" in content_type:
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"_body": parsed}
    params: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            params[key] = json.loads(value)
    return params
