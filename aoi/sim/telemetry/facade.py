"""The telemetry half of ``SimCluster``'s read API (logs, metrics, traces), with caching.

After every write the cluster records a health epoch (``behaviour.health``); renderers read that
history. Results are cached per state version, so repeated reads between writes cost a dict lookup.
"""

from __future__ import annotations

import pickle
from typing import Any

from aoi.sim.behaviour.health import Epoch, compute_epoch
from aoi.sim.errors import ProblemError, SimError
from aoi.sim.kube import events
from aoi.sim.kube.store import API_VERSIONS, canonical_kind
from aoi.sim.telemetry.logs import LogRenderer
from aoi.sim.telemetry.metrics import MetricsRenderer
from aoi.sim.telemetry.traces import TraceRenderer
from aoi.sim.world import State

Obj = dict[str, Any]
_CACHE_LIMIT = 512


class TelemetryMixin:
    """Mixed into ``SimCluster``; relies on its ``_state`` and ``version``."""

    _state: State
    version: int

    def _telemetry_init(self) -> None:
        self._history: list[Epoch] = []
        self._noise: dict[str, dict[str, list[str]]] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._traces: TraceRenderer | None = None

    def _record_epoch(self) -> None:
        epoch = compute_epoch(self._state)
        if self._history and self._history[-1].t >= epoch.t:
            self._history[-1] = epoch
        else:
            self._history.append(epoch)
        self._cache.clear()
        self._traces = None

    def _cached(self, key: tuple[Any, ...], make: Any) -> Any:
        if key not in self._cache:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = make()
        return self._cache[key]

    # -- metrics ------------------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        """Names of the metrics this cluster exports (see README for their meaning)."""
        names: list[str] = self._cached(
            ("names",), lambda: MetricsRenderer(self._history, self._state.now).names()
        )
        return list(names)

    def metric_series(
        self, name: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """All series of ``name``: (labels with ``__name__``, [(unix s, value)]) on a ``step`` grid."""
        if step <= 0 or end < start:
            raise SimError(
                f"metric_series needs step > 0 and end >= start (got start={start}, end={end}, step={step})"
            )
        result = self._cached(
            ("series", name, start, end, step),
            lambda: MetricsRenderer(self._history, self._state.now).series(name, start, end, step),
        )
        return [(dict(labels), list(points)) for labels, points in result]

    # -- logs ---------------------------------------------------------------------------------------
    def pod_logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: float | None = None,
        previous: bool = False,
    ) -> str:
        """A container's log as ``kubectl logs`` prints it (``tail_lines``/``since_seconds`` filter)."""
        if tail_lines is not None and tail_lines < 0:
            raise SimError(f"tail_lines must be >= 0, got {tail_lines}")
        lines: list[tuple[float, str]] = self._cached(
            ("logs", namespace, pod, container, previous),
            lambda: LogRenderer(self._state, self._history, self._noise).pod_logs(
                namespace, pod, container, previous
            ),
        )
        if since_seconds is not None:
            cutoff = self._state.now - since_seconds
            lines = [x for x in lines if x[0] >= cutoff]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines else []
        return "".join(text + "\n" for _, text in lines)

    # -- traces -------------------------------------------------------------------------------------
    def _trace_renderer(self) -> TraceRenderer:
        if self._traces is None:
            self._traces = TraceRenderer(self._state, self._history)
        return self._traces

    def trace_services(self) -> list[str]:
        """Services that report spans (databases appear only as their callers' client spans)."""
        names: list[str] = self._cached(("trace_services",), lambda: self._trace_renderer().services())
        return list(names)

    def find_traces(
        self,
        service: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 20,
        errors_only: bool = False,
        min_duration_us: int | None = None,
    ) -> list[Obj]:
        """Newest-first traces in [start, end] (unix seconds; default the last hour) touching ``service``."""
        if limit <= 0:
            raise SimError(f"limit must be > 0, got {limit}")
        if service is not None and service not in self.trace_services():
            raise SimError(f"unknown trace service {service!r}; services: {', '.join(self.trace_services())}")
        key = ("traces", service, start, end, limit, errors_only, min_duration_us)
        blob: bytes = self._cached(
            key,
            lambda: pickle.dumps(
                self._trace_renderer().find(service, start, end, limit, errors_only, min_duration_us),
                protocol=pickle.HIGHEST_PROTOCOL,
            ),
        )
        found: list[Obj] = pickle.loads(blob)
        return found

    # -- noise (problem files' red-team and robustness lines) ------------------------------------------
    def _add_noise(self, noise: dict[str, Any]) -> None:
        for app_ns, app in self._state.apps.items():
            for svc, lines in (noise.get("logs") or {}).items():
                if svc in app.service_names:
                    self._noise.setdefault(app_ns, {}).setdefault(svc, []).extend(lines)
        for ev in noise.get("events") or []:
            obj = self._noise_target(str(ev["object"]))
            events.record(
                self._state, obj, ev["reason"], ev["message"], ev.get("type", "Warning"), component="kubelet"
            )
        for ref, planted in (noise.get("annotations") or {}).items():
            obj = self._noise_target(str(ref), "annotation")
            obj["metadata"]["annotations"] = {**(obj["metadata"].get("annotations") or {}), **planted}
            self._state.store.touch(obj)
        self._cache.clear()

    def _noise_target(self, ref: str, what: str = "event") -> Obj:
        """The live object a noise entry names: 'kind/name', or (events only) a service's workload."""
        store = self._state.store
        if "/" in ref:
            kind, name = ref.split("/", 1)
            kind = canonical_kind(kind)
            for ns in [*self._state.apps, ""]:
                obj = store.get(kind, ns, name)
                if obj is not None:
                    return obj
            existing = sorted(o["metadata"]["name"] for o in store.items(kind))[:20]
            raise ProblemError(
                f"noise {what} object {ref!r} does not exist; {kind} objects: {', '.join(existing) or 'none'}"
            )
        if what != "event":
            raise ProblemError(f"noise {what} object {ref!r} must be 'Kind/name' (e.g. 'deployment/geo')")
        for ns in self._state.apps:
            for kind in ("Deployment", "StatefulSet", "Service"):
                obj = store.get(kind, ns, ref)
                if obj is not None:
                    return obj
        kinds = ", ".join(sorted(API_VERSIONS))
        raise ProblemError(
            f"noise event object {ref!r} matches no Deployment/StatefulSet/Service; use 'kind/name' "
            f"with kind one of {kinds}"
        )
