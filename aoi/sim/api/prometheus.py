"""Prometheus HTTP API routes over the simulator's metrics (the PromQL subset of ``aoi.sim.promql``).

Paths (GET, and POST with a form body where Prometheus allows it)::

    /api/v1/query?query=&time=                    instant query  -> vector | scalar | matrix
    /api/v1/query_range?query=&start=&end=&step=  range query    -> matrix
    /api/v1/series?match[]=&start=&end=           label sets of matching series
    /api/v1/labels[?match[]=]                     label names
    /api/v1/label/<name>/values[?match[]=]        label values (``__name__`` lists metrics)
    /api/v1/status/buildinfo                      what Grafana probes

Times are unix seconds or RFC 3339; ``step`` is seconds or a duration (``30s``). ``time`` defaults to
the simulated clock, and ``start`` of series/label calls to one hour before it. Errors follow the
Prometheus envelope: ``{"status": "error", "errorType": "bad_data", "error": "..."}`` with HTTP 400.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aoi.sim import promql
from aoi.sim.api.cluster import ServedCluster
from aoi.sim.api.promql_parser import parse_duration
from aoi.sim.api.status import json_response

DEFAULT_SERIES_WINDOW_S = 3600.0


class _BadData(Exception):
    pass


def _time(value: str | None, default: float, name: str) -> float:
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise _BadData(
            f"invalid parameter {name!r}: cannot parse {value!r} to a valid timestamp "
            "(expected unix seconds or RFC 3339)"
        ) from exc


def _step(value: str | None) -> float:
    if not value:
        raise _BadData("invalid parameter 'step': a step is required, e.g. step=30 or step=30s")
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_duration(value)
    except promql.PromQLError as exc:
        raise _BadData(f"invalid parameter 'step': {exc}") from exc


class PrometheusApi:
    """The Prometheus-compatible part of the simulator's HTTP face."""

    def __init__(self, cluster: ServedCluster, lock: threading.RLock) -> None:
        self.cluster = cluster
        self.lock = lock

    def routes(self) -> list[BaseRoute]:
        both = ["GET", "POST"]
        return [
            Route("/api/v1/query", self._endpoint(self._query), methods=both),
            Route("/api/v1/query_range", self._endpoint(self._query_range), methods=both),
            Route("/api/v1/series", self._endpoint(self._series), methods=both),
            Route("/api/v1/labels", self._endpoint(self._labels), methods=both),
            Route("/api/v1/label/{name}/values", self._endpoint(self._label_values)),
            Route("/api/v1/status/buildinfo", self._endpoint(lambda _p, _r: _BUILD_INFO)),
        ]

    def _endpoint(self, handler: Callable[[QueryParams | FormData, Request], Any]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            params: QueryParams | FormData = request.query_params
            if request.method == "POST":
                content_type = request.headers.get("content-type", "").split(";")[0].strip()
                if content_type != "application/x-www-form-urlencoded":
                    message = (
                        f"POST needs Content-Type application/x-www-form-urlencoded, got {content_type!r}"
                    )
                    return json_response({"status": "error", "errorType": "bad_data", "error": message}, 400)
                form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
                params = FormData([*request.query_params.multi_items(), *form])
            try:
                with self.lock:
                    data = handler(params, request)
            except (_BadData, promql.PromQLError) as exc:
                return json_response({"status": "error", "errorType": "bad_data", "error": str(exc)}, 400)
            return json_response({"status": "success", "data": data})

        return endpoint

    def _query(self, params: QueryParams | FormData, _request: Request) -> Any:
        expr = _required(params, "query")
        return promql.query(self.cluster, expr, _time(_str(params, "time"), self.cluster.now(), "time"))

    def _query_range(self, params: QueryParams | FormData, _request: Request) -> Any:
        expr = _required(params, "query")
        start = _time(_required(params, "start"), 0.0, "start")
        end = _time(_required(params, "end"), 0.0, "end")
        return promql.query_range(self.cluster, expr, start, end, _step(_str(params, "step")))

    def _window(self, params: QueryParams | FormData) -> tuple[float, float]:
        end = _time(_str(params, "end"), self.cluster.now(), "end")
        return _time(_str(params, "start"), end - DEFAULT_SERIES_WINDOW_S, "start"), end

    def _series(self, params: QueryParams | FormData, _request: Request) -> Any:
        start, end = self._window(params)
        return promql.series(self.cluster, _matches(params), start, end)

    def _labels(self, params: QueryParams | FormData, _request: Request) -> Any:
        start, end = self._window(params)
        return promql.label_names(self.cluster, start, end, _matches(params) or None)

    def _label_values(self, params: QueryParams | FormData, request: Request) -> Any:
        start, end = self._window(params)
        name = request.path_params["name"]
        return promql.label_values(self.cluster, name, start, end, _matches(params) or None)


_BUILD_INFO = {"version": "2.53.0-aoi-sim", "revision": "simulated", "branch": "", "goVersion": "go1.23.0"}


def _str(params: QueryParams | FormData, key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) else None


def _required(params: QueryParams | FormData, key: str) -> str:
    value = _str(params, key)
    if not value:
        raise _BadData(f"invalid parameter {key!r}: the parameter is required")
    return value


def _matches(params: QueryParams | FormData) -> list[str]:
    return [v for v in params.getlist("match[]") if isinstance(v, str)]
