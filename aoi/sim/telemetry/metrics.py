"""Prometheus-style time series rendered from the health history.

Counters integrate per-epoch rates with a gentle, series-specific diurnal-like wobble (so ``rate()``
looks like real traffic yet stays monotonic); gauges follow per-epoch values; latency histograms
use a log-normal around each service's latency plus a point mass at the client timeout for calls
that time out, so ``histogram_quantile`` recovers p50/p99. Samples sit on multiples of ``step``.
See ``METRICS`` for names, types, labels and meaning (also in the README).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator
from functools import partial

from aoi.sim.behaviour.health import CallStats, Epoch, PodSample, ServiceStats
from aoi.sim.kube.builder import stable_int
from aoi.sim.world import crash_cycles

Labels = dict[str, str]
Series = tuple[Labels, list[tuple[float, float]]]
ValueFn = Callable[[int, float], float | None]
SeriesDef = tuple[Labels, str, ValueFn]
LE = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)
SIGMA = 0.45
PERIOD_S = 900.0
WOBBLE = 0.08

METRICS: dict[str, tuple[str, str]] = {
    "http_server_requests_total": ("counter", "requests served, by namespace, service and HTTP-style code"),
    "http_server_request_duration_seconds_bucket": ("histogram", "server latency buckets (le), per service"),
    "http_server_request_duration_seconds_sum": ("histogram", "sum of server latencies, per service"),
    "http_server_request_duration_seconds_count": ("histogram", "number of timed requests, per service"),
    "http_client_requests_total": (
        "counter",
        "outgoing calls by service, peer_service and code (503 = could "
        "not connect, 504 = timed out, 500 = peer answered with an error)",
    ),
    "container_cpu_usage_seconds_total": ("counter", "CPU seconds used, per pod and container"),
    "container_cpu_cfs_periods_total": ("counter", "CFS enforcement periods, per pod and container"),
    "container_cpu_cfs_throttled_periods_total": (
        "counter",
        "CFS periods in which the container was throttled",
    ),
    "container_memory_working_set_bytes": ("gauge", "working-set memory, per pod and container"),
    "kube_pod_container_status_restarts_total": ("counter", "container restarts, per pod and container"),
    "kube_pod_container_status_ready": ("gauge", "1 if the container is Ready"),
    "kube_pod_container_status_waiting_reason": ("gauge", "1 while the container waits, by reason"),
    "kube_pod_status_phase": ("gauge", "1 for the pod's current phase"),
    "kube_deployment_spec_replicas": ("gauge", "desired replicas, per deployment"),
    "kube_deployment_status_replicas_available": ("gauge", "available replicas, per deployment"),
    "kafka_consumergroup_lag": ("gauge", "messages not yet consumed, per consumer group and topic"),
}
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


def _phase(labels: Labels) -> float:
    return (stable_int(*sorted(labels.items())) % 6283) / 1000.0


def _antiderivative(t: float, phase: float) -> float:
    """∫ (1 + WOBBLE·sin(2πt/P + φ)) dt."""
    return t - WOBBLE * PERIOD_S / (2 * math.pi) * math.cos(2 * math.pi * t / PERIOD_S + phase)


def _cdf(le: float, median_s: float, timeout_frac: float, timeout_s: float) -> float:
    if math.isinf(le):
        return 1.0
    normal = 0.5 * (1 + math.erf((math.log(le) - math.log(max(median_s, 1e-6))) / (SIGMA * math.sqrt(2))))
    return (1 - timeout_frac) * normal + (timeout_frac if le >= timeout_s else 0.0)


class MetricsRenderer:
    """Renders series for one cluster; instances are cheap and may be rebuilt per history version."""

    def __init__(self, history: list[Epoch], now: float) -> None:
        self.history = history
        self.times = [e.t for e in history]
        self.now = now

    def names(self) -> list[str]:
        return sorted(n for n in METRICS if any(True for _ in self._series_defs(n)))

    def series(self, name: str, start: float, end: float, step: float) -> list[Series]:
        if step <= 0:
            raise ValueError("step must be > 0 seconds")
        first = math.ceil(start / step) * step
        last = min(end, self.now)
        grid: list[float] = []
        t = first
        while t <= last + 1e-9 and len(grid) < 11_000:
            grid.append(t)
            t += step
        grid = [t for t in grid if t >= self.times[0]]
        idx = [bisect.bisect_right(self.times, t) - 1 for t in grid]
        out: list[Series] = []
        for labels, kind, fn in self._series_defs(name):
            points = self._sample(labels, kind, fn, grid, idx)
            if points:
                out.append(({"__name__": name, **labels}, points))
        return out

    # -- sampling -----------------------------------------------------------------------------------
    def _sample(
        self,
        labels: Labels,
        kind: str,
        fn: Callable[[int, float], float | None],
        grid: list[float],
        idx: list[int],
    ) -> list[tuple[float, float]]:
        phase = _phase(labels)
        if kind == "gauge":
            pts = []
            for t, i in zip(grid, idx, strict=True):
                v = fn(i, t)
                if v is not None:
                    pts.append((t, v))
            return pts
        # counter: integrate per-epoch rates from the first epoch the series exists in
        cum = [0.0]
        for i in range(len(self.history) - 1):
            r = fn(i, self.times[i]) or 0.0
            span = _antiderivative(self.times[i + 1], phase) - _antiderivative(self.times[i], phase)
            cum.append(cum[-1] + r * span)
        pts = []
        for t, i in zip(grid, idx, strict=True):
            rate = fn(i, t)
            if rate is None:
                continue
            value = cum[i] + rate * (_antiderivative(t, phase) - _antiderivative(self.times[i], phase))
            pts.append((t, round(value, 3)))
        return pts

    # -- series definitions ---------------------------------------------------------------------------
    def _series_defs(self, name: str) -> Iterator[SeriesDef]:
        for ns in sorted({ns for e in self.history for ns in e.apps}):
            if name == "http_server_requests_total":
                yield from self._requests(ns)
            elif name.startswith("http_server_request_duration_seconds_"):
                yield from self._latency(ns, name.rsplit("_", 1)[1])
            elif name == "http_client_requests_total":
                yield from self._client(ns)
            elif name.startswith(("container_", "kube_pod_")):
                yield from self._pods(ns, name)
            elif name in ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_available"):
                yield from self._deployments(ns, 0 if name == "kube_deployment_spec_replicas" else 1)
            elif name == "kafka_consumergroup_lag":
                yield from self._lag(ns)

    def _stats(self, ns: str) -> Iterator[tuple[str, ServiceStats]]:
        for e in self.history:
            app = e.apps.get(ns)
            if app is not None:
                yield from app.services.items()

    def _requests(self, ns: str) -> Iterator[SeriesDef]:
        codes: dict[str, set[str]] = {}
        for svc, st in self._stats(ns):
            if st.rps_in > 0 or st.errors:
                codes.setdefault(svc, {"200"}).update(c for c, v in st.errors.items() if v > 0)
        for svc in sorted(codes):
            for code in sorted(codes[svc]):
                yield (
                    {"namespace": ns, "service": svc, "code": code},
                    "counter",
                    partial(_request_rate, self.history, ns, svc, code),
                )

    def _latency(self, ns: str, part: str) -> Iterator[SeriesDef]:
        services = sorted({svc for svc, st in self._stats(ns) if st.rps_in > 0})
        for svc in services:
            labels = {"namespace": ns, "service": svc}
            if part in ("sum", "count"):
                yield labels, "counter", partial(_latency_part, self.history, ns, svc, part)
                continue
            for le in LE:
                yield (
                    {**labels, "le": "+Inf" if math.isinf(le) else repr(le)},
                    "counter",
                    partial(_bucket, self.history, ns, svc, le),
                )

    def _client(self, ns: str) -> Iterator[SeriesDef]:
        seen: dict[tuple[str, str], set[str]] = {}
        for svc, st in self._stats(ns):
            for peer, cs in st.calls.items():
                codes = seen.setdefault((svc, peer), {"200"})
                codes.update(c for c, v in _call_codes(cs).items() if v > 1e-9)
        for (svc, peer), codes in sorted(seen.items()):
            for code in sorted(codes):
                yield (
                    {"namespace": ns, "service": svc, "peer_service": peer, "code": code},
                    "counter",
                    partial(_client_rate, self.history, ns, svc, peer, code),
                )

    def _pods(self, ns: str, name: str) -> Iterator[SeriesDef]:
        first: dict[str, PodSample] = {}
        reasons: dict[str, set[str]] = {}
        for e in self.history:
            app = e.apps.get(ns)
            for pod, sample in app.pods.items() if app else []:
                first.setdefault(pod, sample)
                reason = sample.waiting or ("CrashLoopBackOff" if sample.crash else None)
                if reason:
                    reasons.setdefault(pod, set()).add(reason)
        for pod in sorted(first):
            labels = {"namespace": ns, "pod": pod, "container": first[pod].container}
            get = partial(_pod_sample, self.history, ns, pod)
            if name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
                kind = "counter" if name.startswith("container_cpu") else "gauge"
                yield (
                    {**labels, "node": first[pod].node},
                    kind,
                    partial(_pod_value, get, name, _phase(labels)),
                )
            elif name == "kube_pod_container_status_waiting_reason":
                for reason in sorted(reasons.get(pod, ())):
                    yield {**labels, "reason": reason}, "gauge", partial(_waiting, get, reason)
            elif name == "kube_pod_status_phase":
                for phase in PHASES:
                    yield (
                        {"namespace": ns, "pod": pod, "phase": phase},
                        "gauge",
                        partial(_in_phase, get, phase),
                    )
            elif name in METRICS:
                kind = (
                    "gauge"
                    if name in ("kube_pod_container_status_ready", "kube_pod_container_status_restarts_total")
                    else "counter"
                )
                yield labels, kind, partial(_pod_value, get, name, 0.0)

    def _deployments(self, ns: str, col: int) -> Iterator[SeriesDef]:
        names = sorted({d for e in self.history if ns in e.apps for d in e.apps[ns].deployments})
        for dep in names:
            yield (
                {"namespace": ns, "deployment": dep},
                "gauge",
                partial(_deployment, self.history, ns, dep, col),
            )

    def _lag(self, ns: str) -> Iterator[SeriesDef]:
        latest = self.history[-1].apps.get(ns)
        if latest is None or "kafka" not in latest.services:
            return
        for group in ("accounting", "fraud-detection"):
            yield (
                {"namespace": ns, "consumergroup": group, "topic": "orders"},
                "gauge",
                partial(_lag, self.history, ns, group),
            )


def _service(history: list[Epoch], ns: str, svc: str, i: int) -> ServiceStats | None:
    app = history[i].apps.get(ns)
    return app.services.get(svc) if app else None


def _request_rate(history: list[Epoch], ns: str, svc: str, code: str, i: int, t: float) -> float | None:
    st = _service(history, ns, svc, i)
    if st is None:
        return 0.0
    if code == "200":
        return max(0.0, st.rps_in - sum(st.errors.values()))
    return st.errors.get(code, 0.0)


def _latency_part(history: list[Epoch], ns: str, svc: str, part: str, i: int, t: float) -> float | None:
    st = _service(history, ns, svc, i)
    if st is None:
        return 0.0
    if part == "count":
        return st.rps_in
    return st.rps_in * ((1 - st.timeout_frac) * st.lat_ms / 1000.0 + st.timeout_frac * st.timeout_s)


def _bucket(history: list[Epoch], ns: str, svc: str, le: float, i: int, t: float) -> float | None:
    st = _service(history, ns, svc, i)
    if st is None or st.rps_in <= 0:
        return 0.0
    return st.rps_in * _cdf(le, st.lat_ms / 1000.0, st.timeout_frac, st.timeout_s)


def _call_codes(cs: CallStats) -> dict[str, float]:
    timeout = cs.conn_fail if cs.kind == "timeout" else 0.0
    return {
        "200": max(0.0, cs.attempts - cs.conn_fail - cs.upstream_fail),
        "500": cs.upstream_fail,
        "503": cs.conn_fail - timeout,
        "504": timeout,
    }


def _client_rate(
    history: list[Epoch], ns: str, svc: str, peer: str, code: str, i: int, t: float
) -> float | None:
    st = _service(history, ns, svc, i)
    cs = st.calls.get(peer) if st else None
    return 0.0 if cs is None else _call_codes(cs)[code]


def _pod_sample(history: list[Epoch], ns: str, pod: str, i: int) -> PodSample | None:
    app = history[i].apps.get(ns)
    return app.pods.get(pod) if app else None


def _pod_value(
    get: Callable[[int], PodSample | None], name: str, phase: float, i: int, t: float
) -> float | None:
    p = get(i)
    if p is None:
        return None
    if name == "container_cpu_usage_seconds_total":
        return p.cpu_cores
    if name == "container_memory_working_set_bytes":
        return (
            round(p.mem_bytes * (1 + 0.03 * math.sin(2 * math.pi * t / 600 + phase))) if p.running else None
        )
    if name == "container_cpu_cfs_periods_total":
        return 10.0 if p.running else 0.0
    if name == "container_cpu_cfs_throttled_periods_total":
        return 10.0 * (1 - 1 / p.throttle) if p.throttle > 1 else 0.0
    if name == "kube_pod_container_status_ready":
        return float(p.ready)
    if name == "kube_pod_container_status_restarts_total":
        return float(p.restarts + (crash_cycles(p.crash[0], p.crash[1], t)[0] if p.crash else 0))
    return None


def _waiting(get: Callable[[int], PodSample | None], reason: str, i: int, t: float) -> float | None:
    p = get(i)
    if p is None:
        return None
    return 1.0 if (p.waiting or ("CrashLoopBackOff" if p.crash else None)) == reason else 0.0


def _in_phase(get: Callable[[int], PodSample | None], phase: str, i: int, t: float) -> float | None:
    p = get(i)
    return None if p is None else float(p.phase == phase)


def _deployment(history: list[Epoch], ns: str, dep: str, col: int, i: int, t: float) -> float | None:
    app = history[i].apps.get(ns)
    pair = app.deployments.get(dep) if app else None
    return None if pair is None else float(pair[col])


def _lag(history: list[Epoch], ns: str, group: str, i: int, t: float) -> float | None:
    st = _service(history, ns, "kafka", i)
    if st is None:
        return None
    base = 2.0 + (stable_int(group, int(t // 15)) % 5)
    return base + (st.lag * (t - history[i].t) / 6.0 if st.lag else 0.0)
