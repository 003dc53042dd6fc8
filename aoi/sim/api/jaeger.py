"""Jaeger query-service HTTP API routes over the simulator's traces (``find_traces``).

Paths (the ones the Jaeger UI and clients use)::

    /api/services                               service names with traces
    /api/services/<service>/operations          operation names of one service
    /api/traces?service=&operation=&tags=&start=&end=&lookback=&limit=&minDuration=&maxDuration=
    /api/traces/<traceID>                       one trace

``start``/``end`` are unix microseconds (Jaeger's unit); ``lookback`` is ``1h``, ``2d`` … relative to
the simulated clock; durations are Go-style (``250ms``, ``1.5s``); ``tags`` is a JSON object
(``{"error":"true"}``) or repeated ``tag=key:value``. A trace matches the tags when one of its spans
carries all of them. Responses use Jaeger's envelope ``{"data", "total", "limit", "offset", "errors"}``.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aoi.sim.api.cluster import ServedCluster
from aoi.sim.api.status import json_response

DEFAULT_LIMIT = 20
DEFAULT_LOOKBACK_S = 3600.0
_GO_UNITS = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6, "m": 6e7, "h": 3.6e9}
_LOOKBACK_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ALL_TRACES_LIMIT = 1_000_000


class _BadRequest(Exception):
    pass


def go_duration_us(text: str, name: str) -> float:
    """``1.5s`` → 1500000.0 microseconds (Go ``time.ParseDuration`` syntax)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise _BadRequest(f"cannot parse {name} {text!r}: expected a duration such as 100ms, 1.5s or 2m")
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def _envelope(data: Any, code: int = 200, errors: list[dict[str, Any]] | None = None) -> Response:
    total = len(data) if isinstance(data, list) else 0
    return json_response({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}, code)


def _error(code: int, message: str) -> Response:
    return _envelope(None, code, [{"code": code, "msg": message}])


def _tags(request: Request) -> dict[str, str]:
    tags: dict[str, str] = {}
    raw = request.query_params.get("tags")
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _BadRequest(
                f'malformed \'tags\' parameter {raw!r}: expected a JSON object like {{"error":"true"}}'
            ) from exc
        if not isinstance(parsed, dict):
            raise _BadRequest(f"malformed 'tags' parameter {raw!r}: expected a JSON object")
        tags.update({str(k): str(v) for k, v in parsed.items()})
    for pair in request.query_params.getlist("tag"):
        key, sep, value = pair.partition(":")
        if not sep:
            raise _BadRequest(f"malformed 'tag' parameter {pair!r}: expected key:value")
        tags[key] = value
    return tags


def _span_has(span: dict[str, Any], tags: dict[str, str]) -> bool:
    values = {t.get("key"): str(t.get("value")).lower() for t in span.get("tags", [])}
    return all(values.get(k) == v.lower() for k, v in tags.items())


class JaegerApi:
    """The Jaeger-compatible part of the simulator's HTTP face."""

    def __init__(self, cluster: ServedCluster, lock: threading.RLock) -> None:
        self.cluster = cluster
        self.lock = lock

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/services", self._services),
            Route("/api/services/{service}/operations", self._operations),
            Route("/api/traces", self._traces),
            Route("/api/traces/{trace_id}", self._trace),
        ]

    async def _services(self, _request: Request) -> Response:
        with self.lock:
            return _envelope(sorted(self.cluster.trace_services()))

    async def _operations(self, request: Request) -> Response:
        service = request.path_params["service"]
        with self.lock:
            traces = self.cluster.find_traces(service=service, limit=ALL_TRACES_LIMIT)
        names = set()
        for trace in traces:
            processes = trace.get("processes", {})
            for span in trace.get("spans", []):
                if processes.get(span.get("processID"), {}).get("serviceName") == service:
                    names.add(span.get("operationName", ""))
        return _envelope(sorted(names))

    async def _traces(self, request: Request) -> Response:
        params = request.query_params
        try:
            service = params.get("service")
            if not service:
                raise _BadRequest("parameter 'service' is required")
            limit = int(params.get("limit") or DEFAULT_LIMIT)
            tags = _tags(request)
            min_us = (
                go_duration_us(params["minDuration"], "minDuration") if params.get("minDuration") else None
            )
            max_us = (
                go_duration_us(params["maxDuration"], "maxDuration") if params.get("maxDuration") else None
            )
            with self.lock:
                start, end = self._window(request)
                errors_only = tags.get("error", "").lower() == "true"
                traces = self.cluster.find_traces(
                    service=service,
                    start=start,
                    end=end,
                    limit=ALL_TRACES_LIMIT if (tags or params.get("operation") or max_us) else limit,
                    errors_only=errors_only,
                    min_duration_us=int(min_us) if min_us is not None else None,
                )
        except ValueError as exc:
            return _error(400, f"invalid parameter: {exc}")
        except _BadRequest as exc:
            return _error(400, str(exc))
        operation = params.get("operation")
        selected = []
        for trace in traces:
            spans = trace.get("spans", [])
            if operation and not any(s.get("operationName") == operation for s in spans):
                continue
            if tags and not any(_span_has(s, tags) for s in spans):
                continue
            if max_us is not None and max((s.get("duration", 0) for s in spans), default=0) > max_us:
                continue
            selected.append(trace)
        return _envelope(selected[:limit])

    def _window(self, request: Request) -> tuple[float, float]:
        params = request.query_params
        end = float(params["end"]) / 1e6 if params.get("end") else self.cluster.now()
        if params.get("start"):
            return float(params["start"]) / 1e6, end
        lookback = params.get("lookback") or "1h"
        if lookback == "custom":
            return end - DEFAULT_LOOKBACK_S, end
        match = re.fullmatch(r"(\d+)([smhdw])", lookback)
        if match is None:
            raise _BadRequest(
                f"cannot parse lookback {lookback!r}: expected e.g. 1h, 2d or custom with start/end"
            )
        return end - int(match.group(1)) * _LOOKBACK_UNITS[match.group(2)], end

    async def _trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"].lower()
        with self.lock:
            traces = self.cluster.find_traces(limit=ALL_TRACES_LIMIT)
        found = [t for t in traces if str(t.get("traceID", "")).lower() == trace_id]
        if not found:
            return _error(404, "trace not found")
        return _envelope(found[:1])
