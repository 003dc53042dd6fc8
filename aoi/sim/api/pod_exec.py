"""``pods/exec`` over the Kubernetes websocket channel protocol, for database-shell repairs.

The simulated pods run what ``SimCluster.exec_command`` offers: their database shell
(``mongo``/``mongosh``), directly or through ``sh -c`` with the container's environment expanded —
so ``kubectl exec POD -- sh -c 'mongo -u "$MONGO_INITDB_ROOT_USERNAME" ...'`` authenticates without
the caller ever holding the password. This route takes the argv as the official Python client
(``kubernetes.stream``) and ``kubectl exec`` send it (``command`` query parameters, optional
``container``), answers on the ``v4.channel.k8s.io`` protocol (first byte of each binary frame =
channel: 1 stdout, 2 stderr, 3 the final ``Status`` with the exit code); anything else a pod cannot
run exits 127 with a message saying what is supported. Exec is a write: the reader token gets a 403
before the websocket is accepted.
"""

from __future__ import annotations

import asyncio
import json
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
FIRST_OUTPUT_DELAY_S = 0.3


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
        argv = websocket.query_params.getlist("command")
        container = websocket.query_params.get("container") or None
        try:
            with self.lock:
                result = self.cluster.exec_command(namespace, pod, argv, container)
        except SimError as exc:  # no such pod or container: the API server refuses the upgrade
            await self._deny(websocket, ApiError(exc.code, str(exc)))
            return
        await websocket.accept(subprotocol=chosen)
        # A real process's first output comes some time after the upgrade. kubectl's websocket client
        # starts reading before it has registered its streams and drops a frame for a stream it does
        # not know yet ("Unknown stream id 1, discarding message"): answering at once lost the output
        # on a loaded machine.
        await asyncio.sleep(FIRST_OUTPUT_DELAY_S)
        await self._finish(websocket, result.stdout, result.stderr, result.code)

    @staticmethod
    async def _finish(websocket: WebSocket, out: str, err: str, code: int) -> None:
        if out:
            await websocket.send_bytes(bytes([STDOUT]) + out.encode())
        if err:
            await websocket.send_bytes(bytes([STDERR]) + err.encode())
        await websocket.send_bytes(bytes([ERROR]) + json.dumps(exit_status(code)).encode())
        await websocket.close()
