"""The in-process adapter over ``aoi.sim.SimCluster``: the fast path for demos, evals and training.

Two classes, mirroring the credential split of a real cluster: ``SimReadBackend`` exposes only the
read half of the simulator and ``SimWriteBackend`` only the write half. Both wrap the same
``SimCluster`` so writes are visible to later reads (and to the grader). Simulator exceptions are
translated into ``BackendError``s carrying the simulator's full message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aoi.agents.backends.base import (
    BackendError,
    NotFoundError,
    PatchType,
    WriteOp,
    apply_op,
)
from aoi.sim import NotFound, SimCluster
from aoi.sim import promql as sim_promql

T = TypeVar("T")


@contextmanager
def _translated() -> Iterator[None]:
    """Re-raise simulator errors as backend errors with the full upstream text."""
    try:
        yield
    except BackendError:
        raise
    except NotFound as exc:
        raise NotFoundError(str(exc)) from exc
    except (ValueError, KeyError, TypeError, LookupError) as exc:
        raise BackendError(f"{type(exc).__name__}: {exc}") from exc


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with _translated():
        return fn(*args, **kwargs)


class SimReadBackend:
    """Read-only view of a simulated cluster (implements ``ReadBackend``)."""

    name = "sim"

    def __init__(self, cluster: SimCluster) -> None:
        self._cluster = cluster

    def now(self) -> float:
        return float(self._cluster.now())

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        return _call(
            self._cluster.list_objects,
            kind,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return _call(self._cluster.get_object, kind, namespace, name)

    def pod_logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
    ) -> str:
        return _call(
            self._cluster.pod_logs,
            namespace,
            pod,
            container=container,
            tail_lines=tail_lines,
            since_seconds=since_seconds,
            previous=previous,
        )

    def metric_names(self) -> list[str]:
        return _call(self._cluster.metric_names)

    def prom_query(self, expr: str, time: float | None = None) -> dict[str, Any]:
        at = self.now() if time is None else time
        return _call(sim_promql.query, self._cluster, expr, at)

    def prom_query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        return _call(sim_promql.query_range, self._cluster, expr, start, end, step)

    def trace_services(self) -> list[str]:
        return _call(self._cluster.trace_services)

    def find_traces(
        self,
        service: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 20,
        errors_only: bool = False,
        min_duration_us: int | None = None,
    ) -> list[dict[str, Any]]:
        return _call(
            self._cluster.find_traces,
            service=service,
            start=start,
            end=end,
            limit=limit,
            errors_only=errors_only,
            min_duration_us=min_duration_us,
        )


class SimWriteBackend:
    """The executor's writer on a simulated cluster (implements ``WriteBackend``).

    Dry runs apply the op to a deep copy of the cluster, so they catch every error the real write
    would raise and change nothing.
    """

    name = "sim"
    supports_dry_run = True

    def __init__(self, cluster: SimCluster) -> None:
        self._cluster = cluster

    def scale(self, namespace: str, deployment: str, replicas: int) -> dict[str, Any]:
        if replicas < 0:
            raise BackendError(f"replicas must be >= 0, got {replicas}")
        return _call(self._cluster.scale, namespace, deployment, replicas)

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: PatchType = "merge",
    ) -> dict[str, Any]:
        return _call(self._cluster.patch_object, kind, namespace, name, patch, patch_type=patch_type)

    def set_image(self, namespace: str, deployment: str, container: str, image: str) -> dict[str, Any]:
        return _call(self._cluster.set_image, namespace, deployment, container, image)

    def rollout_restart(self, namespace: str, deployment: str) -> dict[str, Any]:
        return _call(self._cluster.rollout_restart, namespace, deployment)

    def rollout_undo(self, namespace: str, deployment: str, to_revision: int | None = None) -> dict[str, Any]:
        return _call(self._cluster.rollout_undo, namespace, deployment, to_revision=to_revision)

    def delete_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return _call(self._cluster.delete_object, "Pod", namespace, name)

    def delete_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return _call(self._cluster.delete_object, kind, namespace, name)

    def uncordon(self, node: str) -> dict[str, Any]:
        result = _call(self._cluster.uncordon, node)
        return result if isinstance(result, dict) else _call(self._cluster.get_object, "Node", None, node)

    def exec_db(self, namespace: str, pod: str, command: str) -> str:
        return _call(self._cluster.exec_db, namespace, pod, command)

    def dry_run(self, op: WriteOp) -> str:
        scratch = SimWriteBackend(copy.deepcopy(self._cluster))
        result = apply_op(scratch, op)
        if isinstance(result, dict):
            meta = result.get("metadata", {})
            what = f"{result.get('kind', 'object')} {meta.get('namespace', '')}/{meta.get('name', '')}"
            return f"dry run ok: {op.describe()} -> {what.strip()}"
        return f"dry run ok: {op.describe()} -> {str(result)[:200]}"
