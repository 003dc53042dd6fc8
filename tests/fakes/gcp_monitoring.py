"""A loopback Cloud Monitoring ``MetricService`` (gRPC on 127.0.0.1:0) for testing the real client.

Cloud Monitoring has no emulator. This server speaks the real wire protocol with the library's own
message classes, and really implements what the client relies on: the filter subset AOI uses
(``key = "value"`` and ``key = starts_with("prefix")`` clauses joined by AND, over ``metric.type``,
``metric.labels.*``, ``resource.type`` and ``resource.labels.*``), the time interval (points outside
``[start, end]`` are dropped; series left empty are omitted), pagination (``page_size`` /
``page_token``), and gRPC errors (projects listed in ``denied`` get PERMISSION_DENIED, unknown ones
NOT_FOUND, malformed filters INVALID_ARGUMENT). Every request is recorded for assertions.
"""

from __future__ import annotations

import re
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.api import metric_pb2
from google.cloud import monitoring_v3

SERVICE = "google.monitoring.v3.MetricService"
_CLAUSE = re.compile(r'\s*([a-z_.]+)\s*=\s*(?:"([^"]*)"|starts_with\("([^"]*)"\))\s*')


def parse_filter(text: str) -> list[tuple[str, str, bool]]:
    """``(key, value, is_prefix)`` clauses; raises ValueError on anything outside the subset."""
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise ValueError(f"unsupported filter clause: {part!r}")
        key, exact, prefix = match.groups()
        clauses.append((key, exact if prefix is None else prefix, prefix is not None))
    return clauses


def _lookup(obj: Any, key: str) -> str | None:
    head, _, rest = key.partition(".")
    target = {"metric": obj.metric, "resource": obj.resource}.get(head)
    if target is None:
        return None
    if rest == "type":
        return str(target.type)
    if rest.startswith("labels."):
        return target.labels.get(rest[len("labels.") :])
    return None


def _matches(obj: Any, clauses: list[tuple[str, str, bool]]) -> bool:
    for key, value, is_prefix in clauses:
        actual = _lookup(obj, key)
        if actual is None or (not actual.startswith(value) if is_prefix else actual != value):
            return False
    return True


@dataclass
class FakeMetricService:
    project: str
    series: list[monitoring_v3.TimeSeries] = field(default_factory=list)
    descriptors: list[metric_pb2.MetricDescriptor] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)
    page_size: int = 2
    requests: list[Any] = field(default_factory=list)

    def _check_project(self, name: str, context: grpc.ServicerContext) -> None:
        project = name.removeprefix("projects/")
        if project in self.denied:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"Permission monitoring.timeSeries.list denied on {name}"
            )
        if project != self.project:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Project {name} not found")

    def _page(self, items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
        start = int(token or 0)
        size = size or self.page_size
        end = start + min(size, self.page_size)
        return items[start:end], (str(end) if end < len(items) else "")

    def _filtered(self, text: str, items: list[Any], context: grpc.ServicerContext) -> list[Any]:
        try:
            clauses = parse_filter(text)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Field filter had an invalid value: {exc}")
        return [item for item in items if _matches(item, clauses)]

    def list_time_series(
        self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.ServicerContext
    ) -> Any:
        self.requests.append(request)
        self._check_project(request.name, context)
        start, end = request.interval.start_time, request.interval.end_time
        kept = []
        for series in self._filtered(request.filter, self.series, context):
            points = [p for p in series.points if start <= p.interval.end_time <= end]
            if points:
                copy = monitoring_v3.TimeSeries(series)
                copy.points = points
                kept.append(copy)
        page, token = self._page(kept, request.page_token, request.page_size)
        return monitoring_v3.ListTimeSeriesResponse(time_series=page, next_page_token=token)

    def list_metric_descriptors(
        self, request: monitoring_v3.ListMetricDescriptorsRequest, context: grpc.ServicerContext
    ) -> Any:
        self.requests.append(request)
        self._check_project(request.name, context)
        clauses = parse_filter(request.filter) if request.filter else []
        kept = [
            d
            for d in self.descriptors
            if all(
                (d.type.startswith(v) if prefix else d.type == v)
                for k, v, prefix in clauses
                if k == "metric.type"
            )
        ]
        page, token = self._page(kept, request.page_token, request.page_size)
        return monitoring_v3.ListMetricDescriptorsResponse(metric_descriptors=page, next_page_token=token)


def serve(service: FakeMetricService) -> tuple[grpc.Server, str]:
    """Start the fake on 127.0.0.1 with an OS-chosen port; returns the server and ``host:port``."""
    handlers = {
        "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
            service.list_time_series,
            request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
            response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
        ),
        "ListMetricDescriptors": grpc.unary_unary_rpc_method_handler(
            service.list_metric_descriptors,
            request_deserializer=monitoring_v3.ListMetricDescriptorsRequest.deserialize,
            response_serializer=monitoring_v3.ListMetricDescriptorsResponse.serialize,
        ),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
