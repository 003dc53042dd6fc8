"""A loopback OpenAI-compatible server for planner tests.

The real ``openai`` client (v3, on httpx2) is not intercepted by respx, so tests point it at this
server instead: a ``ThreadingHTTPServer`` on ``127.0.0.1:0`` that answers ``POST /v1/chat/completions``
from a *script* and ``GET /v1/models`` with one model. A script is either a list of ``Scripted``
responses, consumed one per completion request, or a callable ``(request_json) -> Scripted``.
Every request (path, headers, JSON body) is recorded in ``server.requests``.

Scripted responses cover what a real endpoint does to a client: a content answer, native tool calls,
HTTP 429 with ``Retry-After``, 5xx, a slow answer (the client times out), a truncated or garbage body.
An exhausted script answers 500 with a message saying so, so a test that under-scripts fails loudly.

Use it with ``max_retries=0`` on the client so that retries are the planner's, not the SDK's::

    with FakeOpenAIServer([reply('{"action_type": "submit"}')]) as server:
        client = OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ID = "fake-model"


@dataclass
class Scripted:
    """One scripted answer to a chat-completions request.

    ``status`` 200 answers a completion with ``content`` and/or ``tool_calls`` (``[{"name", "arguments"}]``,
    arguments a dict or a raw string). Any other status answers an OpenAI-style error body. ``body``
    overrides the whole response body with raw bytes (truncated JSON, garbage). ``delay_s`` sleeps first
    (the server stops sleeping when it is closed). ``usage`` ``None`` omits the usage block.
    ``trickle_s`` sends the body one byte at a time with that pause between bytes (a gateway keeping
    a slow connection alive). ``error_param``/``error_code`` fill an error body's ``param``/``code``.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay_s: float = 0.0
    usage: tuple[int, int] | None = (100, 20)
    finish_reason: str = "stop"
    error_message: str = "scripted error"
    error_param: str | None = None
    error_code: str | None = None
    trickle_s: float = 0.0


def reply(content: str, usage: tuple[int, int] | None = (100, 20)) -> Scripted:
    """A normal assistant message with ``content``."""
    return Scripted(content=content, usage=usage)


def step_reply(step: dict[str, Any], usage: tuple[int, int] | None = (100, 20)) -> Scripted:
    """A normal assistant message whose content is ``step`` serialised as JSON."""
    return Scripted(content=json.dumps(step), usage=usage)


def tool_call(name: str, arguments: dict[str, Any] | str, content: str | None = None) -> Scripted:
    """An assistant message with one native tool call (OpenAI ``tool_calls`` format)."""
    return Scripted(
        content=content,
        tool_calls=[{"name": name, "arguments": arguments}],
        finish_reason="tool_calls",
    )


def rate_limited(retry_after_s: float | None = 0.0) -> Scripted:
    """HTTP 429, with a ``Retry-After`` header unless ``retry_after_s`` is None."""
    headers = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
    return Scripted(status=429, headers=headers, error_message="Rate limit reached")


def server_error(status: int = 500) -> Scripted:
    """An HTTP 5xx with an OpenAI-style error body."""
    return Scripted(status=status, error_message="The server had an error while processing your request")


def unsupported(param: str) -> Scripted:
    """HTTP 400 as OpenAI's reasoning models refuse ``max_tokens`` or a non-default temperature."""
    if param == "max_tokens":
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        code = "unsupported_parameter"
    else:
        message = (
            f"Unsupported value: '{param}' does not support 0 with this model. "
            "Only the default (1) value is supported."
        )
        code = "unsupported_value"
    return Scripted(status=400, error_message=message, error_param=param, error_code=code)


def slow(delay_s: float, then: Scripted | None = None) -> Scripted:
    """Answer only after ``delay_s`` seconds (used to make the client time out)."""
    base = then or reply('{"action_type": "submit"}')
    return Scripted(**{**base.__dict__, "delay_s": delay_s})


def truncated(step: dict[str, Any], keep: float = 0.5) -> Scripted:
    """A 200 whose JSON *body* is cut after ``keep`` of its bytes: the client cannot parse it."""
    full = json.dumps(_completion_body(step_reply(step), MODEL_ID)).encode()
    return Scripted(body=full[: max(1, int(len(full) * keep))])


def garbage() -> Scripted:
    """A 200 whose body is not JSON at all."""
    return Scripted(body=b"<html><body>502 Bad Gateway (upstream hiccup)</body></html>")


Script = Sequence[Scripted] | Callable[[dict[str, Any]], Scripted]


@dataclass
class RecordedRequest:
    """One request as received; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None


def _completion_body(answer: Scripted, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call["arguments"]
                    if isinstance(call["arguments"], str)
                    else json.dumps(call["arguments"]),
                },
            }
            for index, call in enumerate(answer.tool_calls)
        ]
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
    }
    if answer.usage is not None:
        prompt, completion = answer.usage
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return body


class FakeOpenAIServer:
    """The loopback server; a context manager that starts and stops it (see the module docstring)."""

    def __init__(self, script: Script, model: str = MODEL_ID) -> None:
        self._script = script
        self._position = 0
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def completion_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every chat-completions request, in arrival order."""
        return [r.json for r in self.requests if r.path.endswith("/chat/completions") and r.json]

    @property
    def remaining(self) -> int:
        """Scripted answers not yet consumed (0 for a callable script)."""
        if callable(self._script):
            return 0
        return len(self._script) - self._position

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next_answer(self, request_json: dict[str, Any]) -> Scripted:
        with self._lock:
            if callable(self._script):
                return self._script(request_json)
            if self._position >= len(self._script):
                return Scripted(
                    status=500,
                    error_message=f"fake OpenAI server: script exhausted after {self._position} answers",
                )
            answer = self._script[self._position]
            self._position += 1
            return answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Answer in one segment: without TCP_NODELAY each small answer waits ~40 ms for a
            # delayed ACK, which made every planner test crawl.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                return

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None, trickle_s: float = 0.0
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    if not trickle_s:
                        self.wfile.write(body)
                        return
                    for index in range(len(body)):
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                        if server._closing.wait(trickle_s):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (timeout); nothing to answer

            def _record(self, payload: dict[str, Any] | None) -> None:
                with server._lock:
                    server.requests.append(
                        RecordedRequest(
                            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, payload
                        )
                    )

            def do_GET(self) -> None:
                self._record(None)
                if self.path.rstrip("/").endswith("/models"):
                    body = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    payload = None
                self._record(payload)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                    return
                if not isinstance(payload, dict):
                    self._send(400, json.dumps({"error": {"message": "body is not a JSON object"}}).encode())
                    return
                answer = server._next_answer(payload)
                if answer.delay_s and server._closing.wait(answer.delay_s):
                    return
                if answer.body is not None:
                    self._send(answer.status, answer.body, answer.headers)
                elif answer.status != 200:
                    error = {
                        "error": {
                            "message": answer.error_message,
                            "type": "scripted",
                            "param": answer.error_param,
                            "code": answer.error_code,
                        }
                    }
                    self._send(answer.status, json.dumps(error).encode(), answer.headers)
                else:
                    body = _completion_body(answer, payload.get("model") or server.model)
                    self._send(200, json.dumps(body).encode(), answer.headers, answer.trickle_s)

        return Handler
