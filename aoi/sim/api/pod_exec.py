"""``pods/exec`` over the Kubernetes websocket channel protocol, for database-shell repairs only.

The simulator's pods have no shell; what they can run is the cluster's ``exec_db`` (a minimal mongo
shell for ``db.grantRolesToUser``/``db.createUser``-style repairs). This route accepts a command
line ``mongo|mongosh [db] [-u U -p P] --eval <script>`` (or ``sh -c "mongo ..."``) as the official
Python client (``kubernetes.stream``) and ``kubectl exec`` send it, answers on the
``v4.channel.k8s.io`` protocol (first byte of each binary frame = channel: 1 stdout, 2 stderr, 3 the
final ``Status`` with the exit code), and refuses anything else with exit code 126 and a message
saying what is supported. Exec is a write: the reader token
gets a 403 before the websocket is accepted.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from aoi.sim.api.auth import Credentials
from aoi.sim.api.cluster import ServedCluster
from aoi.sim.api.resources import BY_KIND
from aoi.sim.api.status import ApiError, forbidden
from aoi.sim.errors import SimError

STDOUT, STDERR, ERROR = 1, 2, 3
PROTOCOLS = ("v4.channel.k8s.io", "v5.channel.k8s.io")
SHELLS = ("mongo", "mongosh")
NOT_EXECUTABLE = 126


def db_command(argv: list[str]) -> str | None:
    """The mongo shell command line to hand to ``exec_db``, or None if ``argv`` does not run one.

    Accepts ``mongo|mongosh ...`` directly or wrapped in ``sh -c``/``bash -c``; the cluster's shell
    parses the invocation itself (database, ``-u/-p``, ``--eval``).
    """
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash") and argv[1] == "-c":
        inner = shlex.split(argv[2]) if argv[2].strip() else []
        return argv[2] if inner and inner[0].rsplit("/", 1)[-1] in SHELLS else None
    if argv and argv[0].rsplit("/", 1)[-1] in SHELLS:
        return shlex.join(argv)
    return None


def _exit_code(message: str) -> int:
    found = re.search(r"exit code (\d+)", message)
    return int(found.group(1)) if found else 1


def exit_status(code: int, message: str = "") -> dict[str, Any]:
    """The error-channel Status the kubelet sends when the process ends."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": message or f"command terminated with non-zero exit code: {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


class PodExec:
    def __init__(self, cluster: ServedCluster, lock: threading.RLock, credentials: Credentials) -> None:
        self.cluster = cluster
        self.lock = lock
        self.credentials = credentials

    def routes(self) -> list[BaseRoute]:
        return [WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{pod}/exec", self._exec)]

    async def _deny(self, websocket: WebSocket, error: ApiError) -> None:
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(error.response())
        else:
            await websocket.close(code=1008, reason=error.message[:120])

    async def _exec(self, websocket: WebSocket) -> None:
        namespace, pod = websocket.path_params["namespace"], websocket.path_params["pod"]
        try:
            user, may_write = self.credentials.identify(websocket.headers.get("authorization"))
            if not may_write:
                raise forbidden(user, "create", BY_KIND["Pod"], "exec", pod, namespace)
        except ApiError as exc:
            await self._deny(websocket, exc)
            return
        offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
        chosen = next((p for p in PROTOCOLS if p in offered), None)
        if chosen is None:
            await self._deny(
                websocket, ApiError(400, f"exec needs one of the subprotocols {', '.join(PROTOCOLS)}")
            )
            return
        await websocket.accept(subprotocol=chosen)
        argv = websocket.query_params.getlist("command")
        command = db_command(argv)
        if command is None:
            message = (
                f"the simulated pod {namespace}/{pod} can only run its database shell: "
                f"mongo [db] [-u USER -p PASS] --eval '<script>' (got {shlex.join(argv) or 'no command'})\n"
            )
            await self._finish(websocket, "", message, NOT_EXECUTABLE)
            return
        try:
            with self.lock:
                output = self.cluster.exec_db(namespace, pod, command)
        except SimError as exc:
            await self._finish(websocket, "", f"{exc}\n", _exit_code(str(exc)))
            return
        await self._finish(websocket, output, "", 0)

    @staticmethod
    async def _finish(websocket: WebSocket, out: str, err: str, code: int) -> None:
        if out:
            await websocket.send_bytes(bytes([STDOUT]) + out.encode())
        if err:
            await websocket.send_bytes(bytes([STDERR]) + err.encode())
        await websocket.send_bytes(bytes([ERROR]) + json.dumps(exit_status(code)).encode())
        await websocket.close()
