"""Metrics (PromQL) and traces (Jaeger) as read tools, summarised for a reader with little context.

Metrics: an instant query prints one value per series; a range query prints min/avg/max/last per
series, which is what a human reads off a Grafana panel. Traces: spans are aggregated per service and
operation (count, errors, p50/max duration, p50 *self* time), and each erroring span whose children
did not error is reported as an *error origin* — where a failure starts rather than where it surfaces.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

from aoi.agents.backends.base import ReadBackend
from aoi.agents.tools.base import ToolCall, read_tool
from aoi.agents.tools.render import table


def _series_label(metric: dict[str, Any]) -> str:
    name = metric.get("__name__", "")
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}" if labels else (name or "{}")


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    return f"{value:.4g}"


@read_tool("list_metrics")
def list_metrics(backend: ReadBackend, call: ToolCall, match: str | None = None) -> str:
    """List available metric names (optionally only those containing ``match``).

    Args:
        match: substring the metric name must contain
    """
    call.invocation = "GET /api/v1/label/__name__/values" + (f" | grep {match}" if match else "")
    names = sorted(n for n in backend.metric_names() if not match or match in n)
    call.data = names
    return "\n".join(names)


@read_tool("query_metrics", max_chars=5000)
def query_metrics(
    backend: ReadBackend, call: ToolCall, query: str, minutes: int | None = None, step_seconds: int = 60
) -> str:
    """Run a PromQL query: instant by default, or over the last ``minutes`` with min/avg/max/last.

    Args:
        query: the PromQL expression, e.g. sum by (service) (rate(http_requests_total{status="500"}[5m]))
        minutes: look back this many minutes and summarise each series (instant query when omitted)
        step_seconds: resolution of a range query (default 60)
    """
    if minutes:
        end = backend.now()
        start = end - 60 * minutes
        step = max(1, step_seconds)
        call.invocation = f"PromQL query_range [{minutes}m, step {step}s]: {query}"
        data = backend.prom_query_range(query, start, end, step)
    else:
        call.invocation = f"PromQL query: {query}"
        data = backend.prom_query(query)
    result = data.get("result") or []
    rows: list[tuple[str, ...]] = []
    series: list[dict[str, Any]] = []
    if data.get("resultType") == "matrix":
        for item in result:
            values = [float(v) for _, v in item.get("values") or []]
            if not values:
                continue
            summary = {
                "min": min(values),
                "avg": sum(values) / len(values),
                "max": max(values),
                "last": values[-1],
            }
            series.append({"metric": item.get("metric") or {}, **summary})
            rows.append(
                (
                    _series_label(item.get("metric") or {}),
                    *(_fmt(summary[k]) for k in ("min", "avg", "max", "last")),
                )
            )
        call.data = series
        return table(["SERIES", "MIN", "AVG", "MAX", "LAST"], rows) if rows else ""
    if data.get("resultType") == "scalar":
        call.data = [{"metric": {}, "value": float(result[1])}]
        return f"scalar {_fmt(float(result[1]))}"
    for item in result:
        value = float((item.get("value") or [0, "nan"])[1])
        series.append({"metric": item.get("metric") or {}, "value": value})
        rows.append((_series_label(item.get("metric") or {}), _fmt(value)))
    call.data = series
    return table(["SERIES", "VALUE"], rows) if rows else ""


@read_tool("get_trace_services")
def get_trace_services(backend: ReadBackend, call: ToolCall) -> str:
    """List the services that report traces."""
    call.invocation = "GET /api/services"
    names = sorted(backend.trace_services())
    call.data = names
    return "\n".join(names)


def _is_error(span: dict[str, Any]) -> bool:
    for tag in span.get("tags") or []:
        key, value = tag.get("key"), tag.get("value")
        if key == "error" and value in (True, "true", "True"):
            return True
        if key == "otel.status_code" and str(value).upper() == "ERROR":
            return True
    return False


def _error_message(span: dict[str, Any]) -> str:
    for tag in span.get("tags") or []:
        if tag.get("key") in ("error.message", "otel.status_description", "exception.message", "message"):
            return str(tag.get("value"))
    fields = {f.get("key"): f.get("value") for log in span.get("logs") or [] for f in log.get("fields") or []}
    for key in ("error.message", "exception.message", "message", "event"):
        if fields.get(key):
            return str(fields[key])
    return ""


def _tag(span: dict[str, Any], key: str) -> Any:
    return next((t.get("value") for t in span.get("tags") or [] if t.get("key") == key), None)


def summarise_traces(traces: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-(service, operation) statistics, error origins, failed calls and time on the wire.

    A client span (``span.kind=client`` with ``peer.service``) that errored while its callee's span
    did not — or that has no callee span at all — is a *failed call* to that peer; the client span's
    duration minus its callee's server span is the time spent between them (network, queues).
    """
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    self_times: dict[str, list[float]] = defaultdict(list)
    gaps: dict[str, list[float]] = defaultdict(list)
    errors: Counter[tuple[str, str]] = Counter()
    origins: Counter[str] = Counter()
    origin_messages: dict[str, Counter[str]] = defaultdict(Counter)
    failed_calls: Counter[str] = Counter()
    call_messages: dict[str, Counter[str]] = defaultdict(Counter)
    for trace in traces:
        processes = trace.get("processes") or {}
        spans = trace.get("spans") or []

        def service_of(span: dict[str, Any], processes: dict[str, Any] = processes) -> str:
            return str((processes.get(str(span.get("processID"))) or {}).get("serviceName", "unknown"))

        children: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for span in spans:
            for ref in span.get("references") or []:
                if ref.get("refType", "CHILD_OF") == "CHILD_OF":
                    children[str(ref.get("spanID"))].append(span)
        for span in spans:
            service = service_of(span)
            op = str(span.get("operationName", ""))
            duration = float(span.get("duration") or 0) / 1000.0
            kids = children.get(str(span.get("spanID")), [])
            child_ms = sum(float(k.get("duration") or 0) for k in kids) / 1000.0
            durations[(service, op)].append(duration)
            self_times[service].append(max(0.0, duration - child_ms))
            peer = _tag(span, "peer.service")
            callee = [k for k in kids if service_of(k) == peer] if peer else []
            if peer and callee:
                gaps[str(peer)].append(
                    max(0.0, duration - max(float(k.get("duration") or 0) for k in callee) / 1000.0)
                )
            if not _is_error(span) or any(_is_error(k) for k in kids):
                continue
            errors[(service, op)] += 1
            message = _error_message(span)
            if peer and _tag(span, "span.kind") == "client":
                edge = f"{service}->{peer}"
                failed_calls[edge] += 1
                if message:
                    call_messages[edge][message] += 1
                if not callee:
                    continue  # the callee never answered: not an error *in* this service
            origins[service] += 1
            if message:
                origin_messages[service][message] += 1
    by_op = []
    for (service, op), values in sorted(durations.items()):
        by_op.append(
            {
                "service": service,
                "operation": op,
                "spans": len(values),
                "errors": errors[(service, op)],
                "p50_ms": statistics.median(values),
                "max_ms": max(values),
            }
        )
    return {
        "operations": by_op,
        "error_origins": dict(origins),
        "error_messages": {svc: dict(c.most_common(3)) for svc, c in origin_messages.items()},
        "failed_calls": dict(failed_calls),
        "failed_call_messages": {edge: dict(c.most_common(2)) for edge, c in call_messages.items()},
        "self_p50_ms": {svc: statistics.median(vals) for svc, vals in self_times.items() if vals},
        "wire_p50_ms": {peer: statistics.median(vals) for peer, vals in gaps.items() if vals},
        "traces": len(traces),
    }


@read_tool("get_traces", max_chars=5000)
def get_traces(
    backend: ReadBackend,
    call: ToolCall,
    service: str,
    errors_only: bool = False,
    min_duration_ms: int | None = None,
    limit: int = 50,
    minutes: int = 15,
) -> str:
    """Summarise recent traces through a service: per operation counts, errors, p50/max latency,
    p50 self time per service, and the services where errors originate.

    Args:
        service: the service whose traces to fetch (e.g. the entry point: frontend, nginx-thrift)
        errors_only: only traces that contain an error
        min_duration_ms: only traces at least this slow
        limit: maximum number of traces (default 50)
        minutes: only traces from the last N minutes (default 15)
    """
    end = backend.now()
    start = end - 60 * max(1, minutes)
    params = [f"service={service}", f"start={int(start * 1e6)}", f"end={int(end * 1e6)}", f"limit={limit}"]
    if errors_only:
        params.append('tags={"error":"true"}')
    if min_duration_ms:
        params.append(f"minDuration={min_duration_ms}ms")
    call.invocation = "GET /api/traces?" + "&".join(params)
    traces = backend.find_traces(
        service=service,
        start=start,
        end=end,
        limit=limit,
        errors_only=errors_only,
        min_duration_us=min_duration_ms * 1000 if min_duration_ms else None,
    )
    if not traces:
        return ""
    summary = summarise_traces(traces)
    call.data = summary
    rows = [
        (o["service"], o["operation"], o["spans"], o["errors"], f"{o['p50_ms']:.1f}", f"{o['max_ms']:.1f}")
        for o in summary["operations"]
    ]
    lines = [
        f"{summary['traces']} traces",
        table(["SERVICE", "OPERATION", "SPANS", "ERRORS", "P50_MS", "MAX_MS"], rows),
    ]
    self_rows = sorted(summary["self_p50_ms"].items(), key=lambda kv: -kv[1])
    lines.append("self time p50 (ms) by service: " + ", ".join(f"{s}={v:.1f}" for s, v in self_rows[:8]))
    wire = sorted(summary["wire_p50_ms"].items(), key=lambda kv: -kv[1])
    if wire:
        lines.append("time on the wire p50 (ms) by callee: " + ", ".join(f"{s}={v:.1f}" for s, v in wire[:8]))
    if summary["failed_calls"]:
        lines.append("failed calls (the callee did not answer successfully):")
        for edge, count in sorted(summary["failed_calls"].items(), key=lambda kv: -kv[1]):
            messages = "; ".join(summary["failed_call_messages"].get(edge, {}))
            lines.append(f"  {edge}: {count}" + (f" — {messages}" if messages else ""))
    if summary["error_origins"]:
        lines.append("error origins (span errored, its children did not):")
        for svc, count in sorted(summary["error_origins"].items(), key=lambda kv: -kv[1]):
            messages = "; ".join(summary["error_messages"].get(svc, {}))
            lines.append(f"  {svc}: {count}" + (f" — {messages}" if messages else ""))
    return "\n".join(lines)
