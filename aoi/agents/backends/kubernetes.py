"""The Kubernetes backend: the official ``kubernetes`` client for objects, Prometheus and Jaeger over httpx.

Read and write are two classes built from two *different* kubeconfig/context pairs (DESIGN.md §3):
``KubernetesReadBackend`` never receives the writer's ``ApiClient`` and ``KubernetesWriteBackend``
never serves the Observer. ``make_backends`` is the one constructor the composition root calls.
Objects come back as the API server's own JSON (``_preload_content=False``), not client models, so
they are byte-for-byte what ``kubectl get -o json`` shows. Upstream failures raise ``BackendError``
subclasses carrying the API server's full ``Status`` message.

Minimal read-only RBAC for the reader's ServiceAccount (a ClusterRole, or a Role per namespace)::

    - apiGroups: [""]
      resources: [pods, pods/log, services, endpoints, configmaps, events,
                  persistentvolumeclaims, persistentvolumes, nodes, namespaces]
      verbs: [get, list, watch]
    - apiGroups: [apps]
      resources: [deployments, replicasets, statefulsets]
      verbs: [get, list, watch]

Secrets are deliberately absent: investigations read *references* to secrets from pod specs and
events (``secret "x" not found``), never their values. Metrics and traces need network access to
Prometheus (``AOI_PROMETHEUS_URL``) and Jaeger query (``AOI_JAEGER_URL``), nothing in RBAC.

Write RBAC for the executor's ServiceAccount (only the verbs the policy allows; ``aoi policy rbac``
generates the exact rules from ``policies/``)::

    - apiGroups: [apps]
      resources: [deployments]                   verbs: [get, list, patch]   # set image, restart, undo, patch
    - apiGroups: [apps]
      resources: [deployments/scale]             verbs: [get, patch]
    - apiGroups: [apps]
      resources: [replicasets]                   verbs: [get, list]          # rollout undo reads revisions
    - apiGroups: [""]
      resources: [pods]                          verbs: [get, list, delete]
    - apiGroups: [""]
      resources: [services, configmaps]          verbs: [get, patch]
    - apiGroups: [""]
      resources: [nodes]                         verbs: [get, patch]         # uncordon
    - apiGroups: [""]
      resources: [pods/exec]                     verbs: [create, get]        # database repairs only
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from aoi.agents.backends.base import BackendError, NotFoundError, UnsupportedError
from aoi.agents.backends.kubernetes_api import Objects, translated
from aoi.agents.backends.kubernetes_write import KubernetesWriteBackend

LOG_BYTES = 4_000_000  # one log read at most: a tail of a chatty pod must not take a minute and 30 MB


class _Telemetry:
    """Prometheus HTTP API and Jaeger query API clients (one httpx.Client each)."""

    def __init__(self, prometheus_url: str | None, jaeger_url: str | None, timeout_s: float) -> None:
        self.prometheus = httpx.Client(base_url=prometheus_url, timeout=timeout_s) if prometheus_url else None
        self.jaeger = httpx.Client(base_url=jaeger_url, timeout=timeout_s) if jaeger_url else None

    def prom(self, path: str, params: dict[str, Any]) -> Any:
        if self.prometheus is None:
            raise UnsupportedError(
                "no Prometheus configured for the Kubernetes backend (set AOI_PROMETHEUS_URL)"
            )
        try:
            response = self.prometheus.get(path, params=params)
            body = response.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise BackendError(
                f"Prometheus {self.prometheus.base_url}{path} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if body.get("status") != "success":
            raise BackendError(
                f"Prometheus {response.status_code} {body.get('errorType', 'error')}: "
                f"{body.get('error', body)}"
            )
        return body["data"]

    def traces(self, path: str, params: dict[str, Any]) -> Any:
        if self.jaeger is None:
            raise UnsupportedError(
                "no Jaeger query service configured for the Kubernetes backend (set AOI_JAEGER_URL)"
            )
        try:
            response = self.jaeger.get(path, params=params)
            body = response.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise BackendError(
                f"Jaeger {self.jaeger.base_url}{path} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code == 404:
            raise NotFoundError(f"Jaeger 404: {body.get('errors')}")
        if response.status_code != 200 or body.get("errors"):
            raise BackendError(f"Jaeger {response.status_code}: {body.get('errors') or body}")
        return body.get("data") or []


class KubernetesReadBackend:
    """``ReadBackend`` over a cluster's API (reader credentials), Prometheus and Jaeger."""

    name = "kubernetes"

    def __init__(
        self,
        api_client: k8s.ApiClient,
        prometheus_url: str | None = None,
        jaeger_url: str | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self._objects = Objects(api_client)
        self._telemetry = _Telemetry(prometheus_url, jaeger_url, timeout_s)

    def now(self) -> float:
        """The metrics server's clock (Prometheus ``time()``), so windows match its data; else local time."""
        if self._telemetry.prometheus is None:
            return time.time()
        return float(self._telemetry.prom("/api/v1/query", {"query": "time()"})["result"][1])

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        with translated():
            body = self._objects.list(kind, namespace, label_selector, field_selector)
        api_version = body.get("apiVersion", "v1")
        return [{"apiVersion": api_version, "kind": kind, **item} for item in body.get("items", [])]

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        with translated():
            return dict(self._objects.call("read", kind, namespace, name))

    def pod_logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
    ) -> str:
        with translated():
            response: Any = self._objects.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail_lines,
                since_seconds=since_seconds,
                previous=previous or None,
                limit_bytes=LOG_BYTES,
                _preload_content=False,
                _request_timeout=self._objects.timeout,
            )
            return str(response.data.decode("utf-8", errors="replace"))

    def metric_names(self) -> list[str]:
        return [str(n) for n in self._telemetry.prom("/api/v1/label/__name__/values", {})]

    def prom_query(self, expr: str, time: float | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = time
        return dict(self._telemetry.prom("/api/v1/query", params))

    def prom_query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        params = {"query": expr, "start": start, "end": end, "step": step}
        return dict(self._telemetry.prom("/api/v1/query_range", params))

    def trace_services(self) -> list[str]:
        return [str(s) for s in self._telemetry.traces("/api/services", {})]

    def find_traces(
        self,
        service: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 20,
        errors_only: bool = False,
        min_duration_us: int | None = None,
    ) -> list[dict[str, Any]]:
        """Jaeger needs a service per search: without one, every service is searched and merged."""
        params: dict[str, Any] = {"limit": limit}
        if start is not None:
            params["start"] = int(start * 1e6)
        if end is not None:
            params["end"] = int(end * 1e6)
        if errors_only:
            params["tags"] = json.dumps({"error": "true"})
        if min_duration_us is not None:
            params["minDuration"] = f"{int(min_duration_us)}us"
        services = [service] if service else self.trace_services()
        found: dict[str, dict[str, Any]] = {}
        for name in services:
            for trace in self._telemetry.traces("/api/traces", {**params, "service": name}):
                found.setdefault(str(trace.get("traceID")), trace)
        newest = sorted(
            found.values(), key=lambda t: -min((s.get("startTime", 0) for s in t.get("spans", [])), default=0)
        )
        return newest[:limit]


def load_api_client(kubeconfig: Path | None, context: str | None) -> k8s.ApiClient:
    """A fresh ``ApiClient`` (own Configuration, own connection pool) for one kubeconfig context."""
    try:
        return k8s_config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None, context=context
        )
    except (k8s_config.ConfigException, OSError, TypeError) as exc:
        where = f"{kubeconfig or '~/.kube/config'}" + (
            f" context {context!r}" if context else " (current context)"
        )
        raise BackendError(f"cannot load Kubernetes credentials from {where}: {exc}") from exc


def make_reader(
    kubeconfig: Path | None,
    context: str | None,
    prometheus_url: str | None = None,
    jaeger_url: str | None = None,
) -> KubernetesReadBackend:
    """The Observer's backend, from the read-only kubeconfig/context."""
    return KubernetesReadBackend(load_api_client(kubeconfig, context), prometheus_url, jaeger_url)


def make_backends(
    read_kubeconfig: Path | None,
    read_context: str | None,
    write_kubeconfig: Path | None,
    write_context: str | None,
    prometheus_url: str | None = None,
    jaeger_url: str | None = None,
) -> tuple[KubernetesReadBackend, KubernetesWriteBackend]:
    """Reader and writer from two *different* credentials; refuses one identity for both (DESIGN.md §3)."""
    if (read_kubeconfig, read_context) == (write_kubeconfig, write_context):
        raise BackendError(
            "the Kubernetes reader and writer must use different credentials: set AOI_KUBECONFIG_WRITE "
            "and/or AOI_KUBE_CONTEXT_WRITE to a context bound to the executor's ServiceAccount (RBAC in "
            "aoi/agents/backends/kubernetes.py)"
        )
    reader = make_reader(read_kubeconfig, read_context, prometheus_url, jaeger_url)
    writer = KubernetesWriteBackend(load_api_client(write_kubeconfig, write_context))
    return reader, writer
