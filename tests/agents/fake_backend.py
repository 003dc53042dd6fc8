"""A tiny hand-written ReadBackend for unit tests that must not depend on the simulator."""

from __future__ import annotations

import copy
from typing import Any

from aoi.agents.backends.base import NotFoundError


def pod(
    name: str, namespace: str, workload: str, *, ready: bool = True, waiting: str | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}} if waiting is None else {"waiting": {"reason": waiting}}
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": workload, "pod-template-hash": "abc12"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"{workload}-abc12"}],
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"containers": [{"name": workload, "image": f"img/{workload}:1"}], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "containerStatuses": [
                {"name": workload, "ready": ready, "restartCount": 3 if waiting else 0, "state": state}
            ],
        },
    }


class FakeBackend:
    """Objects by kind; logs by pod; counts calls so tests can assert what was read."""

    name = "fake"

    def __init__(self, objects: dict[str, list[dict[str, Any]]], logs: dict[str, str] | None = None) -> None:
        self.objects = objects
        self.logs = logs or {}
        self.calls: list[str] = []

    def now(self) -> float:
        return 1704067800.0  # 2024-01-01T00:10:00Z

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(f"list {kind}")
        items = [
            o
            for o in self.objects.get(kind, [])
            if namespace is None or o["metadata"].get("namespace") == namespace
        ]
        return copy.deepcopy(items)

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        self.calls.append(f"get {kind}/{name}")
        for o in self.list_objects(kind, namespace):
            if o["metadata"]["name"] == name:
                return o
        raise NotFoundError(f'{kind.lower()}s "{name}" not found')

    def pod_logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
    ) -> str:
        self.calls.append(f"logs {pod}")
        if pod not in self.logs:
            raise NotFoundError(f'pods "{pod}" not found')
        lines = self.logs[pod].splitlines()
        return "\n".join(lines[-tail_lines:] if tail_lines else lines)

    def metric_names(self) -> list[str]:
        return ["http_requests_total"]

    def prom_query(self, expr: str, time: float | None = None) -> dict[str, Any]:
        return {"resultType": "vector", "result": [{"metric": {"service": "geo"}, "value": [0, "0.5"]}]}

    def prom_query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        return {
            "resultType": "matrix",
            "result": [{"metric": {"service": "geo"}, "values": [[0, "1"], [60, "3"]]}],
        }

    def trace_services(self) -> list[str]:
        return ["frontend"]

    def find_traces(
        self,
        service: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 20,
        errors_only: bool = False,
        min_duration_us: int | None = None,
    ) -> list[dict[str, Any]]:
        return []
