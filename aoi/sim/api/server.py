"""One ASGI app serving the Kubernetes, Prometheus and Jaeger APIs of a ``SimCluster``, and its runner.

All three share one port; their paths do not collide (Kubernetes has no ``query``/``labels``/
``series``/``label`` resources under ``/api/v1``, and its only version under ``/api`` is ``v1``):
Kubernetes at ``/version``, ``/api``, ``/apis``; Prometheus at ``/api/v1/{query,query_range,series,
labels,label}``; Jaeger at ``/api/{services,traces}``. ``SimApiServer`` binds 127.0.0.1 (port 0 picks
a free one), runs uvicorn in a thread for tests and benchmarks, or in the foreground for
``aoi sim serve``, and writes a kubeconfig with a read and a write context.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from aoi.sim.api.auth import READER_USER, WRITER_USER, Credentials
from aoi.sim.api.cluster import ServedCluster
from aoi.sim.api.jaeger import JaegerApi
from aoi.sim.api.kube import KubeApi
from aoi.sim.api.prometheus import PrometheusApi
from aoi.sim.api.status import ApiError

READ_CONTEXT = "aoi-sim-read"
WRITE_CONTEXT = "aoi-sim-write"
CLUSTER_NAME = "aoi-sim"


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return ApiError(404, "the server could not find the requested resource").response()


def build_app(
    cluster: ServedCluster, credentials: Credentials, lock: threading.RLock | None = None
) -> Starlette:
    """The ASGI app. ``lock`` serialises access to ``cluster`` with any in-process user of it."""
    shared = lock or threading.RLock()
    routes = [
        *PrometheusApi(cluster, shared).routes(),
        *JaegerApi(cluster, shared).routes(),
        *KubeApi(cluster, shared, credentials).routes(),
    ]
    return Starlette(routes=routes, exception_handlers={404: _not_found})


def kubeconfig(server_url: str, credentials: Credentials) -> dict[str, Any]:
    """A kubeconfig with two users and contexts: ``aoi-sim-read`` (current) and ``aoi-sim-write``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": server_url}}],
        "users": [
            {"name": READER_USER, "user": {"token": credentials.read_token}},
            {"name": WRITER_USER, "user": {"token": credentials.write_token}},
        ],
        "contexts": [
            {
                "name": READ_CONTEXT,
                "context": {"cluster": CLUSTER_NAME, "user": READER_USER, "namespace": "default"},
            },
            {
                "name": WRITE_CONTEXT,
                "context": {"cluster": CLUSTER_NAME, "user": WRITER_USER, "namespace": "default"},
            },
        ],
        "current-context": READ_CONTEXT,
        "preferences": {},
    }


class SimApiServer:
    """Serve a cluster on 127.0.0.1; use as a context manager (background thread) or ``serve_forever``."""

    def __init__(
        self,
        cluster: ServedCluster,
        port: int = 0,
        host: str = "127.0.0.1",
        credentials: Credentials | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.cluster = cluster
        self.credentials = credentials or Credentials()
        self.lock = lock or threading.RLock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from exc
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            build_app(cluster, self.credentials, self.lock),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: Path) -> Path:
        """Write the kubeconfig (mode 0600: it holds the write token) and return its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(kubeconfig(self.url, self.credentials), sort_keys=False))
        path.chmod(0o600)
        return path

    def serve_forever(self) -> None:
        """Run in the calling (main) thread until Ctrl-C / SIGTERM; uvicorn shuts down gracefully."""
        self._server.run(sockets=[self._socket])

    def start(self, timeout_s: float = 10.0) -> SimApiServer:
        """Run in a daemon thread and wait until the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="aoi-sim-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated API server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> SimApiServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
