"""The runner of the simulator's HTTP face: a TLS Kubernetes API and a plain-HTTP telemetry API.

Two listeners on 127.0.0.1 (port 0 picks a free one):

- ``https://127.0.0.1:<port>`` — the Kubernetes API (``/version``, ``/api``, ``/apis``, pods/exec
  websocket). TLS because kubectl sends bearer tokens only over https; the kubeconfig carries the
  per-start CA, a read context (current) and a write context.
- ``http://127.0.0.1:<telemetry_port>`` — Prometheus (``/api/v1/query``, ``query_range``, ``series``,
  ``labels``, ``label/<name>/values``) and Jaeger (``/api/services``, ``/api/traces``), unauthenticated
  like a default Prometheus/Jaeger, so Grafana or ``curl`` can point at it directly.

``SimApiServer`` runs both uvicorn servers in daemon threads (tests, benchmarks, ``aoi sim serve``);
``serve_forever`` blocks until Ctrl-C or SIGTERM and then shuts both down cleanly.
"""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType
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
from aoi.sim.api.pod_exec import PodExec
from aoi.sim.api.prometheus import PrometheusApi
from aoi.sim.api.status import ApiError
from aoi.sim.api.tls import make_serving_cert

READ_CONTEXT = "aoi-sim-read"
WRITE_CONTEXT = "aoi-sim-write"
CLUSTER_NAME = "aoi-sim"


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return ApiError(404, "the server could not find the requested resource").response()


def build_kube_app(cluster: ServedCluster, credentials: Credentials, lock: threading.RLock) -> Starlette:
    """The Kubernetes API app. ``lock`` serialises access to ``cluster`` with in-process users."""
    routes = [*PodExec(cluster, lock, credentials).routes(), *KubeApi(cluster, lock, credentials).routes()]
    return Starlette(routes=routes, exception_handlers={404: _not_found})


def build_telemetry_app(cluster: ServedCluster, lock: threading.RLock) -> Starlette:
    """The Prometheus + Jaeger app (their paths do not collide)."""
    return Starlette(routes=[*PrometheusApi(cluster, lock).routes(), *JaegerApi(cluster, lock).routes()])


def kubeconfig(server_url: str, credentials: Credentials, ca_pem: bytes) -> dict[str, Any]:
    """Two users and contexts: ``aoi-sim-read`` (current, get/list only) and ``aoi-sim-write``."""
    cluster = {"server": server_url, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": cluster}],
        "users": [
            {"name": READER_USER, "user": {"token": credentials.read_token}},
            {"name": WRITER_USER, "user": {"token": credentials.write_token}},
        ],
        "contexts": [
            {"name": READ_CONTEXT, "context": {"cluster": CLUSTER_NAME, "user": READER_USER}},
            {"name": WRITE_CONTEXT, "context": {"cluster": CLUSTER_NAME, "user": WRITER_USER}},
        ],
        "current-context": READ_CONTEXT,
        "preferences": {},
    }


def _listen(host: str, port: int, what: str) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the listener's
    # proto is TCP; with proto 0 every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen for the {what} on {host}:{port}: {exc.strerror}; pick another port"
        ) from exc
    return sock


class SimApiServer:
    """Serve ``cluster`` on 127.0.0.1; a context manager (background threads) or ``serve_forever``."""

    def __init__(
        self,
        cluster: ServedCluster,
        port: int = 0,
        telemetry_port: int = 0,
        host: str = "127.0.0.1",
        credentials: Credentials | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.cluster = cluster
        self.credentials = credentials or Credentials()
        self.lock = lock or threading.RLock()
        self._cert = make_serving_cert(host)
        self._sockets = [_listen(host, port, "Kubernetes API")]
        try:
            self._sockets.append(_listen(host, telemetry_port, "Prometheus/Jaeger API"))
        except OSError:
            self._sockets[0].close()
            raise
        self.host = host
        self.port = self._sockets[0].getsockname()[1]
        self.telemetry_port = self._sockets[1].getsockname()[1]
        common: dict[str, Any] = {
            "log_level": "warning",
            "access_log": False,
            "lifespan": "off",
            "timeout_graceful_shutdown": 2,
        }
        kube = uvicorn.Config(
            build_kube_app(cluster, self.credentials, self.lock),
            ssl_certfile=str(self._cert.cert_file),
            ssl_keyfile=str(self._cert.key_file),
            **common,
        )
        telemetry = uvicorn.Config(build_telemetry_app(cluster, self.lock), **common)
        self._servers = [uvicorn.Server(kube), uvicorn.Server(telemetry)]
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The Kubernetes API base URL."""
        return f"https://{self.host}:{self.port}"

    @property
    def telemetry_url(self) -> str:
        """The Prometheus and Jaeger base URL."""
        return f"http://{self.host}:{self.telemetry_port}"

    @property
    def ca_pem(self) -> bytes:
        return self._cert.ca_pem

    def kubeconfig(self) -> dict[str, Any]:
        return kubeconfig(self.url, self.credentials, self._cert.ca_pem)

    def write_kubeconfig(self, path: Path) -> Path:
        """Write the kubeconfig (mode 0600: it holds the write token) and return its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        return path

    def start(self, timeout_s: float = 10.0) -> SimApiServer:
        """Run both servers in daemon threads and wait until they accept connections."""
        for server, sock in zip(self._servers, self._sockets, strict=True):
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="aoi-sim-api", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + timeout_s
        while not all(s.started for s in self._servers):
            if not all(t.is_alive() for t in self._threads) or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the simulated API server did not start on {self.url} / {self.telemetry_url}"
                )
            time.sleep(0.01)
        return self

    def stop(self, graceful: bool = False) -> None:
        """Stop both servers; ``graceful`` lets in-flight requests finish (idle keep-alive TLS clients
        are not waited for: their SSL shutdown would otherwise hold the server for up to 30 s)."""
        for server in self._servers:
            server.should_exit = True
            server.force_exit = not graceful
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        for sock in self._sockets:
            sock.close()
        shutil.rmtree(self._cert.directory, ignore_errors=True)

    def serve_forever(self) -> None:
        """Block until Ctrl-C or SIGTERM, then stop both servers (graceful: in-flight requests finish).

        Starts the servers unless ``start`` was called already (callers that print URLs start first,
        so the URLs they print are accepting connections)."""
        stopping = threading.Event()

        def _handle(_signum: int, _frame: FrameType | None) -> None:
            stopping.set()

        previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not self._threads:
                self.start()
            while not stopping.wait(0.5):
                if not all(t.is_alive() for t in self._threads):
                    raise RuntimeError("the simulated API server stopped unexpectedly")
        finally:
            self.stop(graceful=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self) -> SimApiServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
