"""The slice of ``aoi.sim.SimCluster`` (CONTRACTS.md) that the HTTP APIs use, as a Protocol.

Naming the exact methods keeps the network face honest about what it relies on and lets mypy check
every call; the server itself holds no cluster state of its own.
"""

from __future__ import annotations

from typing import Any, Protocol

from aoi.sim.behaviour.pod_shell import ExecResult


class ServedCluster(Protocol):
    def now(self) -> float: ...

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]: ...

    def pod_logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
    ) -> str: ...

    def patch_object(
        self, kind: str, namespace: str | None, name: str, patch: Any, patch_type: str = "merge"
    ) -> dict[str, Any]: ...

    def scale(self, namespace: str, deployment: str, replicas: int) -> dict[str, Any]: ...

    def delete_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]: ...

    def exec_command(
        self, namespace: str, pod: str, argv: list[str], container: str | None = None
    ) -> ExecResult: ...

    def metric_names(self) -> list[str]: ...

    def metric_series(
        self, name: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]: ...

    def trace_services(self) -> list[str]: ...

    def find_traces(
        self,
        service: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 20,
        errors_only: bool = False,
        min_duration_us: int | None = None,
    ) -> list[dict[str, Any]]: ...
