"""The GCP backend: the real google-cloud-monitoring client against a loopback gRPC MetricService.

Seeded incident: Cloud Run service ``checkout`` answers with 5xx for the last five minutes while
``cart`` is healthy, and a Compute instance runs at 97% CPU.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.api import metric_pb2
from google.auth.credentials import AnonymousCredentials
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

from aoi.agents.backends.base import BackendError, ForbiddenError, NotFoundError
from aoi.agents.backends.gcp import GcpReader
from tests.fakes.gcp_monitoring import FakeMetricService, serve

PROJECT = "aoi-test"
NOW = float(int(time.time()))
REQUESTS = "run.googleapis.com/request_count"
CPU = "compute.googleapis.com/instance/cpu/utilization"
_KIND, _VALUE = metric_pb2.MetricDescriptor.MetricKind, metric_pb2.MetricDescriptor.ValueType


def _series(
    metric: str,
    metric_labels: dict[str, str],
    resource: str,
    resource_labels: dict[str, str],
    values: list[float],
    kind: str = "double_value",
) -> monitoring_v3.TimeSeries:
    points = [
        monitoring_v3.Point(
            interval=monitoring_v3.TimeInterval(end_time={"seconds": int(NOW - 60 * (len(values) - 1 - i))}),
            value=monitoring_v3.TypedValue(**{kind: value}),
        )
        for i, value in enumerate(values)
    ]
    return monitoring_v3.TimeSeries(
        metric={"type": metric, "labels": metric_labels},
        resource={"type": resource, "labels": resource_labels},
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.DELTA,
        value_type=metric_pb2.MetricDescriptor.ValueType.INT64
        if kind == "int64_value"
        else metric_pb2.MetricDescriptor.ValueType.DOUBLE,
        points=points,
    )


def _seeded() -> FakeMetricService:
    run = "cloud_run_revision"
    series = [
        _series(
            REQUESTS,
            {"response_code_class": "5xx"},
            run,
            {"service_name": "checkout"},
            [0, 0, 0, 0, 0, 40, 42, 45, 41, 44],
            "int64_value",
        ),
        _series(
            REQUESTS,
            {"response_code_class": "2xx"},
            run,
            {"service_name": "checkout"},
            [90.0] * 10,
            "int64_value",
        ),
        _series(
            REQUESTS,
            {"response_code_class": "2xx"},
            run,
            {"service_name": "cart"},
            [120.0] * 10,
            "int64_value",
        ),
        _series(
            REQUESTS, {"response_code_class": "5xx"}, run, {"service_name": "cart"}, [0.0] * 10, "int64_value"
        ),
        _series(
            CPU, {}, "gce_instance", {"instance_id": "1234", "zone": "europe-west1-b"}, [0.35, 0.97, 0.97]
        ),
    ]
    descriptors = [
        metric_pb2.MetricDescriptor(
            type=REQUESTS, unit="1", description="Requests", metric_kind=_KIND.DELTA, value_type=_VALUE.INT64
        ),
        metric_pb2.MetricDescriptor(
            type=CPU, unit="10^2.%", description="CPU", metric_kind=_KIND.GAUGE, value_type=_VALUE.DOUBLE
        ),
    ]
    return FakeMetricService(project=PROJECT, series=series, descriptors=descriptors, denied={"locked"})


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeMetricService, monitoring_v3.MetricServiceClient]]:
    service = _seeded()
    server, address = serve(service)
    channel = grpc.insecure_channel(address)
    transport = MetricServiceGrpcTransport(channel=channel, credentials=AnonymousCredentials())
    try:
        yield service, monitoring_v3.MetricServiceClient(transport=transport)
    finally:
        channel.close()
        server.stop(grace=None)


@pytest.fixture
def reader(fake: tuple[FakeMetricService, Any]) -> GcpReader:
    fake[0].requests.clear()
    return GcpReader(fake[1], PROJECT)


def test_5xx_series_of_the_failing_service_is_returned_oldest_first(reader: GcpReader) -> None:
    flt = (
        f'metric.type = "{REQUESTS}" AND metric.labels.response_code_class = "5xx" '
        'AND resource.labels.service_name = "checkout"'
    )
    [series] = reader.gcp_time_series(flt, end=NOW)
    assert series["resource"] == {"type": "cloud_run_revision", "labels": {"service_name": "checkout"}}
    assert series["metric"]["labels"] == {"response_code_class": "5xx"} and series["value_type"] == "INT64"
    assert [value for _, value in series["points"]] == [0, 0, 0, 0, 0, 40, 42, 45, 41, 44]
    times = [t for t, _ in series["points"]]
    assert times == sorted(times) and times[-1] == NOW


def test_request_carries_project_filter_and_interval(
    reader: GcpReader, fake: tuple[FakeMetricService, Any]
) -> None:
    reader.gcp_time_series(f'metric.type = "{CPU}"', start=NOW - 600, end=NOW)
    sent = fake[0].requests[0]
    assert sent.name == f"projects/{PROJECT}" and sent.filter == f'metric.type = "{CPU}"'
    assert sent.interval.start_time.timestamp() == NOW - 600 and sent.interval.end_time.timestamp() == NOW


def test_time_window_drops_older_points(reader: GcpReader) -> None:
    [series] = reader.gcp_time_series(f'metric.type = "{CPU}"', start=NOW - 90, end=NOW)
    assert [value for _, value in series["points"]] == [0.97, 0.97]


def test_all_pages_are_followed(reader: GcpReader, fake: tuple[FakeMetricService, Any]) -> None:
    series = reader.gcp_time_series(f'metric.type = "{REQUESTS}"', end=NOW)
    assert len(series) == 4 > fake[0].page_size
    assert len(fake[0].requests) == 2  # two pages of two
    assert len(reader.gcp_time_series(f'metric.type = "{REQUESTS}"', end=NOW, limit=3)) == 3


def test_prefix_filter_and_metric_descriptors(reader: GcpReader) -> None:
    assert len(reader.gcp_time_series('metric.type = starts_with("compute.")', end=NOW)) == 1
    found = reader.gcp_metric_descriptors('metric.type = starts_with("run.")')
    assert found == [
        {
            "type": REQUESTS,
            "metric_kind": "DELTA",
            "value_type": "INT64",
            "unit": "1",
            "description": "Requests",
        }
    ]
    assert {d["type"] for d in reader.gcp_metric_descriptors()} == {REQUESTS, CPU}


def test_aggregation_is_sent_when_asked(reader: GcpReader, fake: tuple[FakeMetricService, Any]) -> None:
    reader.gcp_time_series(
        f'metric.type = "{REQUESTS}"',
        end=NOW,
        aligner="ALIGN_RATE",
        reducer="REDUCE_SUM",
        group_by=["resource.labels.service_name"],
        alignment_period_s=300,
    )
    aggregation = fake[0].requests[0].aggregation
    assert aggregation.per_series_aligner == monitoring_v3.Aggregation.Aligner.ALIGN_RATE
    assert aggregation.cross_series_reducer == monitoring_v3.Aggregation.Reducer.REDUCE_SUM
    assert list(aggregation.group_by_fields) == ["resource.labels.service_name"]
    assert aggregation.alignment_period.total_seconds() == 300


def test_permission_denied_becomes_forbidden_with_the_grpc_message(
    fake: tuple[FakeMetricService, Any],
) -> None:
    with pytest.raises(
        ForbiddenError, match=r"Permission monitoring\.timeSeries\.list denied on projects/locked"
    ):
        GcpReader(fake[1], "locked").gcp_time_series(f'metric.type = "{CPU}"')


def test_unknown_project_becomes_not_found(fake: tuple[FakeMetricService, Any]) -> None:
    with pytest.raises(NotFoundError, match="projects/elsewhere not found"):
        GcpReader(fake[1], "elsewhere").gcp_metric_descriptors()


def test_invalid_filter_is_a_backend_error_naming_the_invocation(reader: GcpReader) -> None:
    with pytest.raises(
        BackendError,
        match=r"list_time_series\(name='projects/aoi-test', filter='metric.type ~ x'\).*InvalidArgument",
    ):
        reader.gcp_time_series("metric.type ~ x")


def test_empty_project_is_refused_at_construction(fake: tuple[FakeMetricService, Any]) -> None:
    with pytest.raises(BackendError, match="project id is required"):
        GcpReader(fake[1], "")
