"""A loopback Slack Socket Mode endpoint: the websocket that ``apps.connections.open`` points to.

Slack's side of Socket Mode, enough for Bolt's ``SocketModeHandler``: greet each connection with a
``hello``, push envelopes (``events_api``, ``interactive``, ``slash_commands``) with ``send``, and record
the client's acks (``{"envelope_id": ...}``). Use with ``FakeSlackAPI.socket_url = fake.url``.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self.acks: list[dict[str, Any]] = []
        self.connections = 0
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Queue an envelope for the connected client; returns its ``envelope_id``."""
        envelope_id = f"env-{next(self._ids)}"
        self._outbox.put({"envelope_id": envelope_id, "type": kind, "payload": payload,
                          "accepts_response_payload": kind != "events_api", "retry_attempt": 0})  # fmt: skip
        return envelope_id

    def wait_for_connection(self, timeout: float = 30.0) -> None:
        self._wait(lambda: self.connections > 0, timeout, "a Socket Mode connection")

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self._wait(
            lambda: any(a.get("envelope_id") == envelope_id for a in self.acks), timeout, f"ack {envelope_id}"
        )
        return next(a for a in self.acks if a.get("envelope_id") == envelope_id)

    def _wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                self._lock.wait(remaining)

    def _handle(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0AOI"}})
        )
        with self._lock:
            self.connections += 1
            self._lock.notify_all()
        try:
            while True:
                try:
                    envelope = self._outbox.get(timeout=0.05)
                    connection.send(json.dumps(envelope))
                except queue.Empty:
                    pass
                try:
                    message = connection.recv(timeout=0.05)
                except TimeoutError:
                    continue
                with self._lock:
                    self.acks.append(json.loads(message))
                    self._lock.notify_all()
        except ConnectionClosed:
            return
