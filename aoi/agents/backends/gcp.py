"""The GCP backend: Cloud Monitoring time series and metric descriptors, read-only.

``GcpReader`` wraps the official ``google-cloud-monitoring`` client (gRPC) for the Observer's tools.
AOI performs no GCP writes (the policy has no GCP verbs), so there is no writer here; should one be
added, build it from a *different* service account, as for AWS and Kubernetes (DESIGN.md §3).
Every method returns plain JSON-able data (unix-second times, no protobuf objects); failures raise
``BackendError`` subclasses with the full gRPC status message (``ForbiddenError`` for
PERMISSION_DENIED/UNAUTHENTICATED, ``NotFoundError`` for NOT_FOUND).

Minimal IAM for the reader's service account: ``roles/monitoring.viewer`` on the project, or a
custom role with exactly the two permissions this class uses::

    gcloud iam roles create aoiMonitoringReader --project=PROJECT \\
      --permissions=monitoring.timeSeries.list,monitoring.metricDescriptors.list

See docs/cloud-permissions.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from google.api import metric_pb2
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3

from aoi.agents.backends.base import BackendError, ForbiddenError, NotFoundError

_FORBIDDEN = (gexc.PermissionDenied, gexc.Unauthenticated)
_KIND, _VALUE = metric_pb2.MetricDescriptor.MetricKind, metric_pb2.MetricDescriptor.ValueType


def _enum_name(enum: Any, value: Any) -> str:
    """Enum names whether the client hands back a proto-plus enum or a raw protobuf int."""
    return str(getattr(value, "name", None) or enum.Name(int(value)))


@contextmanager
def _translated(invocation: str) -> Iterator[None]:
    try:
        yield
    except gexc.NotFound as exc:
        raise NotFoundError(f"{invocation}: {exc}") from exc
    except _FORBIDDEN as exc:
        raise ForbiddenError(f"{invocation}: {exc}") from exc
    except gexc.GoogleAPIError as exc:
        raise BackendError(f"{invocation}: {type(exc).__name__}: {exc}") from exc


def _seconds(timestamp: Any) -> float:
    """A protobuf Timestamp (or the datetime proto-plus gives back) as unix seconds."""
    if hasattr(timestamp, "timestamp"):
        return float(timestamp.timestamp())
    return float(timestamp.seconds) + float(timestamp.nanos) / 1e9


def _value(typed: monitoring_v3.TypedValue) -> float | bool | None:
    kind = monitoring_v3.TypedValue.pb(typed).WhichOneof("value")
    if kind == "double_value":
        return float(typed.double_value)
    if kind == "int64_value":
        return float(typed.int64_value)
    if kind == "bool_value":
        return bool(typed.bool_value)
    if kind == "distribution_value":
        return float(typed.distribution_value.mean)
    return None  # string values carry no number


class GcpReader:
    """Read-only Cloud Monitoring access for one project."""

    name = "gcp"

    def __init__(self, client: monitoring_v3.MetricServiceClient, project: str) -> None:
        if not project:
            raise BackendError("a GCP project id is required (e.g. my-project)")
        self._client = client
        self._project = project

    @classmethod
    def from_credentials(cls, project: str, credentials_file: str | None = None) -> GcpReader:
        """Build with a service-account key file, or Application Default Credentials when None."""
        if credentials_file:
            client = monitoring_v3.MetricServiceClient.from_service_account_file(credentials_file)
        else:
            client = monitoring_v3.MetricServiceClient()
        return cls(client, project)

    @property
    def project_name(self) -> str:
        return f"projects/{self._project}"

    def now(self) -> float:
        return time.time()

    def gcp_time_series(
        self,
        filter: str,
        start: float | None = None,
        end: float | None = None,
        aligner: str | None = None,
        alignment_period_s: int | None = None,
        reducer: str | None = None,
        group_by: Sequence[str] = (),
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Time series matching a Monitoring ``filter`` over ``[start, end]`` (default: the last hour).

        ``filter`` is Cloud Monitoring filter syntax, e.g.
        ``metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = "checkout"``.
        ``aligner``/``reducer`` are enum names (``ALIGN_RATE``, ``REDUCE_SUM``). Each series comes back
        as ``{"metric": {"type", "labels"}, "resource": {"type", "labels"}, "metric_kind",
        "value_type", "points": [[unix_seconds, value], ...]}`` with points oldest first; at most
        ``limit`` series.
        """
        end = self.now() if end is None else end
        start = end - 3600 if start is None else start
        request: dict[str, Any] = {
            "name": self.project_name,
            "filter": filter,
            "interval": {"start_time": _timestamp(start), "end_time": _timestamp(end)},
            "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        }
        if aligner or reducer:
            request["aggregation"] = {
                "alignment_period": {"seconds": alignment_period_s or 60},
                "per_series_aligner": aligner or "ALIGN_NONE",
                "cross_series_reducer": reducer or "REDUCE_NONE",
                "group_by_fields": list(group_by),
            }
        series: list[dict[str, Any]] = []
        with _translated(f"gcp monitoring.list_time_series(name={self.project_name!r}, filter={filter!r})"):
            for item in self._client.list_time_series(request=request):
                series.append(_series(item))
                if len(series) >= limit:
                    break
        return series

    def gcp_metric_descriptors(self, filter: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Metric types available in the project (e.g. ``filter='metric.type = starts_with("run.")'``)."""
        request: dict[str, Any] = {"name": self.project_name}
        if filter:
            request["filter"] = filter
        out: list[dict[str, Any]] = []
        with _translated(
            f"gcp monitoring.list_metric_descriptors(name={self.project_name!r}, filter={filter!r})"
        ):
            for descriptor in self._client.list_metric_descriptors(request=request):
                out.append(
                    {
                        "type": descriptor.type,
                        "metric_kind": _enum_name(_KIND, descriptor.metric_kind),
                        "value_type": _enum_name(_VALUE, descriptor.value_type),
                        "unit": descriptor.unit,
                        "description": descriptor.description,
                    }
                )
                if len(out) >= limit:
                    break
        return out


def _timestamp(seconds: float) -> dict[str, int]:
    whole = int(seconds)
    return {"seconds": whole, "nanos": min(round((seconds - whole) * 1e9), 999_999_999)}


def _series(item: monitoring_v3.TimeSeries) -> dict[str, Any]:
    pairs = [(_seconds(point.interval.end_time), _value(point.value)) for point in item.points]
    pairs.sort(key=lambda pair: pair[0])
    return {
        "metric": {"type": item.metric.type, "labels": dict(item.metric.labels)},
        "resource": {"type": item.resource.type, "labels": dict(item.resource.labels)},
        "metric_kind": _enum_name(_KIND, item.metric_kind),
        "value_type": _enum_name(_VALUE, item.value_type),
        "points": [[when, value] for when, value in pairs],
    }
