"""Reading the metrics panels: which services error, which calls fail, what got slow, what restarted.

Each query comes from ``rules.metric_queries`` with the metric names the cluster actually exposes
(``list_metrics``); results are compared with their own recent history (range queries), never with a
hard-coded baseline, so the same reading works for any application.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.rules import Rules


def rendered_queries(facts: Facts, rules: Rules) -> dict[str, tuple[str, int, int]]:
    """query id → (PromQL, minutes, step) for the queries whose metrics exist; empty before list_metrics."""
    if facts.metric_names is None or facts.namespace is None:
        return {}
    names: dict[str, str] = {}
    for metric in facts.metric_names:
        role = rules.role_of(metric)
        if role is not None:
            names.setdefault(role, metric)
    out = {}
    for query in rules.metric_queries:
        if all(role in names for role in query.roles):
            promql = query.promql.format(ns=facts.namespace, **names)
            out[query.id] = (promql, query.minutes, query.step_seconds)
    return out


def _millicores(value: object) -> float | None:
    """``500m`` → 500, ``2`` → 2000; None when absent or unparsable."""
    if value is None:
        return None
    text = str(value)
    try:
        return float(text[:-1]) if text.endswith("m") else float(text) * 1000.0
    except ValueError:
        return None


def workload_of_pod(facts: Facts, pod: str) -> str:
    row = next((p for p in facts.pods or [] if p["name"] == pod), None)
    return str(row["workload"]) if row else pod.rsplit("-", 2)[0]


@dataclass
class Signals:
    """What the panels say. Services/workloads are names in the namespace under investigation."""

    erroring: dict[str, float] = field(default_factory=dict)  # service -> 5xx rate
    failing_edges: dict[tuple[str, str], tuple[str, float]] = field(
        default_factory=dict
    )  # (caller, peer) -> code
    slower: dict[str, float] = field(default_factory=dict)  # service -> latency last/min
    baseline_ms: dict[str, float] = field(default_factory=dict)  # service -> lowest average latency
    restarted: list[str] = field(default_factory=list)  # workloads whose restart count grew
    throttled: dict[str, float] = field(default_factory=dict)  # workload -> throttled share / saturation
    growing_memory: dict[str, float] = field(default_factory=dict)  # workload -> memory last/min
    young: list[str] = field(default_factory=list)  # workloads with a recently replaced pod
    wire: dict[str, float] = field(default_factory=dict)  # callee -> time on the wire (ms), from traces
    trace_failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (caller, peer) -> message

    def any(self) -> bool:
        return bool(
            self.erroring or self.failing_edges or self.slower or self.restarted or self.throttled
            or self.growing_memory or self.wire or self.trace_failures
        )  # fmt: skip

    def broken_edges(self) -> list[tuple[str, str]]:
        """Calls that fail to connect or time out (not the peer answering with an error), worst first."""
        edges = [(e, v) for e, (code, v) in self.failing_edges.items() if code != "500"]
        edges += [(e, 0.0) for e in self.trace_failures if e not in self.failing_edges]
        return [e for e, _ in sorted(edges, key=lambda ev: -ev[1])]

    def deepest_erroring(self) -> str | None:
        """An erroring service none of whose own calls fail: where the errors start."""
        callers_with_failures = {caller for caller, _ in self.failing_edges}
        roots = [s for s in self.erroring if s not in callers_with_failures]
        return max(roots, key=lambda s: self.erroring[s]) if roots else None

    def slowest(self) -> str | None:
        return max(self.slower, key=lambda s: self.slower[s]) if self.slower else None


def _series(facts: Facts, queries: dict[str, tuple[str, int, int]], query_id: str) -> list[dict[str, Any]]:
    if query_id not in queries:
        return []
    return facts.metrics.get(queries[query_id][0], [])


def read_signals(facts: Facts, rules: Rules) -> Signals:
    limits = rules.thresholds
    queries = rendered_queries(facts, rules)
    sig = Signals()
    for row in _series(facts, queries, "server_errors"):
        service = row["metric"].get("service")
        if service and row.get("value", 0) >= limits.error_rate:
            sig.erroring[service] = row["value"]
    for row in _series(facts, queries, "edge_errors"):
        labels = row["metric"]
        caller, peer, code = labels.get("service"), labels.get("peer_service"), str(labels.get("code", ""))
        if caller and peer and row.get("value", 0) >= limits.error_rate:
            sig.failing_edges[(caller, peer)] = (code, row["value"])
    for row in _series(facts, queries, "latency"):
        service = row["metric"].get("service")
        low, last = row.get("min", 0.0), row.get("last", 0.0)
        if service and low and low > 0 and last == last and last / low >= limits.latency_ratio:
            sig.slower[service] = last / low
            sig.baseline_ms[service] = low * 1000.0
    for row in _series(facts, queries, "restarts"):
        pod = row["metric"].get("pod")
        if pod and row.get("last", 0) > row.get("min", 0):
            sig.restarted.append(workload_of_pod(facts, pod))
    for row in _series(facts, queries, "throttling"):
        pod = row["metric"].get("pod")
        if pod and row.get("value", 0) >= limits.throttled_share:
            sig.throttled[workload_of_pod(facts, pod)] = row["value"]
    limits_m = {d["name"]: _millicores((d.get("cpu_limits") or [None])[0]) for d in facts.deployments or []}
    for row in _series(facts, queries, "cpu_usage"):
        pod = row["metric"].get("pod")
        workload = workload_of_pod(facts, pod) if pod else None
        limit = limits_m.get(workload) if workload else None
        if workload and limit and row.get("value", 0) * 1000.0 >= limits.cpu_saturation * limit:
            sig.throttled.setdefault(workload, row["value"] * 1000.0 / limit)
    for row in _series(facts, queries, "memory"):
        pod = row["metric"].get("pod")
        low, last = row.get("min", 0.0), row.get("last", 0.0)
        if pod and low and last / low >= limits.memory_ratio:
            sig.growing_memory[workload_of_pod(facts, pod)] = last / low
    ages = [p["age_s"] for p in facts.pods or [] if p.get("age_s")]
    if ages:
        typical = statistics.median(ages)
        sig.young = sorted(
            {
                p["workload"]
                for p in facts.pods or []
                if p.get("age_s") and p["age_s"] < limits.young_pod_ratio * typical
            }
        )
    for summary in facts.traces.values():
        for callee, ms in (summary.get("wire_p50_ms") or {}).items():
            if ms >= limits.network_gap_ms:
                sig.wire[callee] = max(ms, sig.wire.get(callee, 0.0))
        for edge, _count in (summary.get("failed_calls") or {}).items():
            caller, _, peer = edge.partition("->")
            messages = (summary.get("failed_call_messages") or {}).get(edge) or {}
            sig.trace_failures[(caller, peer)] = next(iter(messages), "")
    return sig


def enabled_flags(facts: Facts, rules: Rules) -> list[tuple[str, str, str]]:
    """(configmap, flag, description) for feature flags whose default variant is not an off value."""
    out = []
    off = {v.lower() for v in rules.flag_off_variants}
    for name, data in facts.configmaps.items():
        for key, text in data.items():
            try:
                doc = json.loads(text)
            except (TypeError, ValueError):
                continue
            flags = doc.get("flags") if isinstance(doc, dict) else None
            if not isinstance(flags, dict):
                continue
            for flag, spec in flags.items():
                if not isinstance(spec, dict):
                    continue
                variant = str(spec.get("defaultVariant", "off"))
                value = (spec.get("variants") or {}).get(variant)
                if (
                    variant.lower() not in off
                    and str(value).lower() not in off
                    and spec.get("state") != "DISABLED"
                ):
                    out.append((f"{name}/{key}", flag, str(spec.get("description", ""))))
    return out
