"""The two backend protocols: what the Observer's tools may read and what the executor may write.

Read and write are separate types on purpose (DESIGN.md §3): a read tool is built from a
``ReadBackend`` only, and only the executor is ever handed a ``WriteBackend``. A real deployment gives
the two different credentials (a read-only kubeconfig/context, AWS profile or GCP service account, and a
separate writer), so even a bug in the Observer cannot change the cluster.

Contracts shared by every implementation (sim, kubernetes, aws, gcp):

- Objects are Kubernetes JSON dicts (``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``),
  exactly as the Kubernetes API returns them; ``kind`` is the singular Kind (``Pod``, ``Service``…).
- Reads return copies: mutating a returned dict never changes the backend.
- Failures raise ``BackendError`` (or a subclass) whose message is the *full* upstream error, so that
  a tool can show it verbatim; nothing is swallowed.
- ``prom_query``/``prom_query_range`` return the ``data`` object of the Prometheus HTTP API
  (``{"resultType": ..., "result": [...]}``); ``find_traces`` returns Jaeger JSON traces.
- Times are unix seconds; ``now()`` is the backend's clock (the simulator's is simulated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

PatchType = Literal["merge", "strategic", "json"]


class BackendError(Exception):
    """A backend call failed; ``str(exc)`` is the full upstream error, shown verbatim by tools."""


class NotFoundError(BackendError):
    """The object, pod, metric or trace asked for does not exist."""


class ForbiddenError(BackendError):
    """The backend's credentials are not allowed to do this (RBAC/IAM)."""


class UnsupportedError(BackendError):
    """This backend cannot do this at all (e.g. traces on a cluster without Jaeger)."""


@runtime_checkable
class ReadBackend(Protocol):
    """Read-only access to a cluster and its telemetry. Implementations never change state."""

    name: str

    def now(self) -> float:
        """The backend's current time in unix seconds (telemetry windows end here)."""
        ...

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of one kind, optionally in one namespace and filtered by selectors."""
        ...

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        """One object; raises ``NotFoundError`` when it does not exist."""
        ...

    def pod_logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
    ) -> str:
        """A pod's log text (the previous container instance's when ``previous``)."""
        ...

    def metric_names(self) -> list[str]:
        """Names of the metrics the backend has (Prometheus ``/api/v1/label/__name__/values``)."""
        ...

    def prom_query(self, expr: str, time: float | None = None) -> dict[str, Any]:
        """An instant PromQL query; returns the Prometheus API ``data`` object."""
        ...

    def prom_query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        """A range PromQL query; returns the Prometheus API ``data`` object (``matrix``)."""
        ...

    def trace_services(self) -> list[str]:
        """Service names that have traces."""
        ...

    def find_traces(
        self,
        service: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 20,
        errors_only: bool = False,
        min_duration_us: int | None = None,
    ) -> list[dict[str, Any]]:
        """Jaeger JSON traces (``traceID``, ``spans``, ``processes``), newest first."""
        ...


@dataclass(frozen=True)
class WriteOp:
    """One backend write call as data: ``method`` is a ``WriteBackend`` method name, ``kwargs`` its args.

    The executor translates an approved ``ActionRequest`` into a list of these; ``dry_run`` validates
    one without changing anything, and ``WriteBackend.apply`` performs it.
    """

    method: Literal[
        "scale",
        "patch",
        "set_image",
        "rollout_restart",
        "rollout_undo",
        "delete_pod",
        "delete_object",
        "uncordon",
        "exec_db",
    ]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A one-line human form, for audit records and error messages."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{self.method}({args})"


@runtime_checkable
class WriteBackend(Protocol):
    """The executor's writer. Every method really changes state and returns the resulting object."""

    name: str
    supports_dry_run: bool

    def scale(self, namespace: str, deployment: str, replicas: int) -> dict[str, Any]:
        """Set a Deployment's replica count."""
        ...

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: PatchType = "merge",
    ) -> dict[str, Any]:
        """Patch an object (merge, strategic-merge or JSON patch)."""
        ...

    def set_image(self, namespace: str, deployment: str, container: str, image: str) -> dict[str, Any]:
        """Set one container's image in a Deployment's pod template."""
        ...

    def rollout_restart(self, namespace: str, deployment: str) -> dict[str, Any]:
        """Restart a Deployment's pods by stamping its template (``kubectl rollout restart``)."""
        ...

    def rollout_undo(self, namespace: str, deployment: str, to_revision: int | None = None) -> dict[str, Any]:
        """Roll a Deployment back to its previous (or the given) revision."""
        ...

    def delete_pod(self, namespace: str, name: str) -> dict[str, Any]:
        """Delete one pod (its controller recreates it)."""
        ...

    def delete_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        """Delete any object (e.g. a chaos experiment resource)."""
        ...

    def uncordon(self, node: str) -> dict[str, Any]:
        """Mark a node schedulable again."""
        ...

    def exec_db(self, namespace: str, pod: str, command: str) -> str:
        """Run one database shell command in a pod (``mongo --eval``-style repairs); returns its output."""
        ...

    def dry_run(self, op: WriteOp) -> str:
        """Validate ``op`` without changing anything; returns what it would do.

        Raises ``BackendError`` when the op would fail (missing object, invalid patch) and
        ``UnsupportedError`` when this backend has no dry run (``supports_dry_run`` is False).
        """
        ...


def apply_op(writer: WriteBackend, op: WriteOp) -> Any:
    """Perform ``op`` on ``writer`` (the one place a WriteOp becomes a method call)."""
    method = getattr(writer, op.method, None)
    if method is None:
        raise UnsupportedError(f"backend {writer.name!r} has no write method {op.method!r}")
    return method(**op.kwargs)
