"""Jaeger-style traces sampled from the health history.

One request is sampled every ``SLOT_S`` seconds: an operation is drawn by its traffic rate, then its
call tree is walked with each call's real odds — a connection that fails leaves only the caller's
client span (tagged ``error``, with the client's error message) and no span from the callee; a slow
network shows as a client span much longer than the server span under it. Deterministic per seed.
Output matches Jaeger's query API: ``{traceID, spans[], processes{}}`` with times in microseconds.
"""

from __future__ import annotations

import bisect
import math
import random
from typing import Any

from aoi.sim.behaviour.health import AppHealth, Epoch, NodeEval
from aoi.sim.kube.builder import stable_int
from aoi.sim.world import State

SLOT_S = 4.0
MAX_SCAN = 3000
DB_KINDS = {"mongodb": "mongodb", "redis": "redis", "memcached": "memcached", "kafka": "kafka"}
FAIL_TEXT = {
    "refused": "connection refused",
    "dns": "no such host",
    "timeout": "context deadline exceeded",
    "down": "connection refused",
    "noconfig": "missing address",
    "tls": "connection closed",
    "auth_failed": "Authentication failed.",
    "unauthorized": "not authorized",
    "unauthenticated": "requires authentication",
    "x509": "x509: certificate has expired or is not yet valid",
}
Obj = dict[str, Any]


def _tag(key: str, value: object) -> Obj:
    kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
    return {"key": key, "type": kind, "value": value}


class TraceRenderer:
    def __init__(self, state: State, history: list[Epoch]) -> None:
        self.state, self.history = state, history
        self.times = [e.t for e in history]
        self.namespaces = sorted(state.apps)
        self._cache: dict[tuple[int, int], Obj | None] = {}

    def services(self) -> list[str]:
        names: set[str] = set()
        for app in self.state.apps.values():
            kinds = {s.name: s.kind for s in app.services}
            for op in app.operations:
                stack = [op.root]
                while stack:
                    node = stack.pop()
                    if kinds[node.svc] not in DB_KINDS:
                        names.add(node.svc)
                    stack.extend(node.calls)
        return sorted(names)

    def find(
        self,
        service: str | None,
        start: float | None,
        end: float | None,
        limit: int,
        errors_only: bool,
        min_duration_us: int | None,
    ) -> list[Obj]:
        now = self.state.now
        end = min(now, end if end is not None else now)
        start = start if start is not None else end - 3600.0
        out: list[Obj] = []
        slot = int(end // SLOT_S)
        for _ in range(MAX_SCAN):
            if slot * SLOT_S < max(start, self.times[0]) or len(out) >= limit:
                break
            trace = self._trace(slot)
            slot -= 1
            if trace is None or trace["spans"][0]["startTime"] > end * 1e6:
                continue
            if service and not any(p["serviceName"] == service for p in trace["processes"].values()):
                continue
            if errors_only and not any(any(t["key"] == "error" for t in s["tags"]) for s in trace["spans"]):
                continue
            if min_duration_us and max(s["duration"] for s in trace["spans"]) < min_duration_us:
                continue
            out.append(trace)
        return out

    def _trace(self, slot: int) -> Obj | None:
        idx = max(0, bisect.bisect_right(self.times, slot * SLOT_S) - 1)
        key = (slot, idx)
        if key not in self._cache:
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = self._build(slot, self.history[idx])
        return self._cache[key]

    def _build(self, slot: int, epoch: Epoch) -> Obj | None:
        ns = self.namespaces[slot % len(self.namespaces)]
        health = epoch.apps.get(ns)
        if health is None or not health.ops:
            return None
        rng = random.Random(stable_int(self.state.seed, ns, slot))
        _, rate, root = rng.choices(health.ops, weights=[max(r, 1e-9) for _, r, _ in health.ops])[0]
        if rate <= 0 or rng.random() >= root.edge.ok:
            return None
        builder = _Builder(rng, health, self.state, ns)
        t0 = (slot * SLOT_S + rng.random() * SLOT_S) * 1e6
        builder.server(root, None, t0)
        return {
            "traceID": builder.trace_id,
            "spans": builder.spans,
            "processes": builder.processes,
            "warnings": None,
        }


class _Builder:
    def __init__(self, rng: random.Random, health: AppHealth, state: State, ns: str) -> None:
        self.rng, self.health, self.state, self.ns = rng, health, state, ns
        self.trace_id = f"{rng.getrandbits(128):032x}"
        self.spans: list[Obj] = []
        self.processes: dict[str, Obj] = {}
        app = state.apps[ns]
        self.kinds = {s.name: s.kind for s in app.services}
        self.protocol = app.protocol

    def _process(self, svc: str) -> str:
        for pid, proc in self.processes.items():
            if proc["serviceName"] == svc:
                return pid
        pid = f"p{len(self.processes) + 1}"
        pod = next(
            (name for name, p in sorted(self.health.pods.items()) if p.service == svc and p.ready), svc
        )
        obj = self.state.store.get("Pod", self.ns, pod)
        run = self.state.pods.get(obj["metadata"]["uid"]) if obj else None
        run_ip = run.ip if run else ""
        self.processes[pid] = {
            "serviceName": svc,
            "tags": [
                _tag("hostname", pod),
                _tag("ip", run_ip),
                _tag("client-uuid", f"{stable_int(pod) % 2**63:x}"),
            ],
        }
        return pid

    def _span(
        self,
        svc: str,
        op: str,
        parent: str | None,
        start: float,
        dur: float,
        tags: list[Obj],
        logs: list[Obj],
    ) -> Obj:
        span = {
            "traceID": self.trace_id,
            "spanID": f"{self.rng.getrandbits(64):016x}",
            "flags": 1,
            "operationName": op,
            "references": []
            if parent is None
            else [{"refType": "CHILD_OF", "traceID": self.trace_id, "spanID": parent}],
            "startTime": int(start),
            "duration": max(1, int(dur)),
            "tags": tags,
            "logs": logs,
            "processID": self._process(svc),
            "warnings": None,
        }
        self.spans.append(span)
        return span

    def _own_ms(self, n: NodeEval) -> float:
        spent = sum(c.edge.ok * (c.lat_ms + c.edge.delay_ms) for c in n.children)
        return max(0.1, n.lat_ms - spent) * math.exp(self.rng.gauss(0, 0.35))

    def server(self, n: NodeEval, parent: str | None, start: float) -> tuple[float, bool]:
        """Emit the server span of ``n`` (and everything under it); returns (duration µs, failed)."""
        span = self._span(n.svc, n.op, parent, start, 0, [_tag("span.kind", "server")], [])
        cursor = start + self._own_ms(n) * 500
        failed = False
        for child in n.children:
            dur, child_failed = self.client(n, child, span["spanID"], cursor)
            cursor += dur
            failed |= child_failed and child.critical
        msg = None
        if n.own_fail and self.rng.random() < n.own_fail:
            failed, msg = True, n.own_error or "internal error"
        end = cursor + self._own_ms(n) * 500
        span["duration"] = max(1, int(end - start))
        code = 500 if failed else 200
        span["tags"] += [
            _tag("component", "grpc" if self.protocol == "grpc" else self.protocol),
            _tag("http.status_code", code),
        ]
        if failed:
            span["tags"] += [_tag("error", True), _tag("otel.status_code", "ERROR")]
            span["logs"].append(
                {
                    "timestamp": int(end),
                    "fields": [_tag("event", "error"), _tag("message", msg or "upstream call failed")],
                }
            )
        return end - start, failed

    def client(self, parent: NodeEval, n: NodeEval, parent_span: str, start: float) -> tuple[float, bool]:
        e = n.edge
        kind = self.kinds.get(n.svc, "app")
        tags = [
            _tag("span.kind", "client"),
            _tag("peer.service", n.svc),
            _tag("net.peer.name", e.host),
            _tag("net.peer.port", e.port),
        ]
        if kind in DB_KINDS:
            tags.append(_tag("db.system", DB_KINDS[kind]))
        op = n.op if kind in DB_KINDS else f"{n.svc}/{n.op.split('/')[-1]}"
        span = self._span(parent.svc, op, parent_span, start, 0, tags, [])
        if self.rng.random() >= e.ok:
            timeout = e.kind == "timeout"
            dur = (
                (3e6 if self.protocol == "grpc" else 1e7 if self.protocol == "thrift" else 5e6)
                if timeout
                else self.rng.uniform(300, 2500)
            )
            span["duration"] = int(dur)
            span["tags"] += [_tag("error", True), _tag("otel.status_code", "ERROR")]
            span["logs"].append(
                {
                    "timestamp": int(start + dur),
                    "fields": [
                        _tag("event", "error"),
                        _tag("message", f"{e.host}:{e.port}: {FAIL_TEXT.get(e.kind or '', 'error')}"),
                    ],
                }
            )
            return dur, True
        delay = e.delay_ms * 1000 * math.exp(self.rng.gauss(0, 0.1))
        if kind in DB_KINDS:
            dur = self._own_ms(n) * 1000 + delay
            failed = False
        else:
            inner, failed = self.server(n, span["spanID"], start + delay / 2 + 50)
            dur = inner + delay + 100
        span["duration"] = max(1, int(dur))
        if failed:
            span["tags"] += [_tag("error", True), _tag("otel.status_code", "ERROR")]
        return dur, failed
