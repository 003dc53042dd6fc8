"""Prometheus and Jaeger HTTP APIs over a served problem: same answers as in process, real envelopes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from aoi.sim import SimCluster, load_suite, promql
from tests.sim_api.conftest import Served, serve

SOCIAL = "test-social-network"
ERRORS_BY_EDGE = 'sum by (service, peer_service) (rate(http_client_requests_total{code!="200"}[5m])) > 0'


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """SocialNetwork with user-service's Service pointing at the wrong targetPort."""
    problem = load_suite("aiopslab")["k8s_target_port-misconfig-mitigation-1"]
    yield from serve(SimCluster.from_problem(problem), tmp_path_factory.mktemp("broken"))


@pytest.fixture(scope="module")
def http(broken: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=broken.server.telemetry_url, timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", body
    return body["data"]


def test_instant_query_over_http_equals_the_in_process_answer(broken: Served, http: httpx.Client) -> None:
    data = _ok(http.get("/api/v1/query", params={"query": ERRORS_BY_EDGE}))
    assert data == promql.query(broken.cluster, ERRORS_BY_EDGE)
    failing_peers = {r["metric"]["peer_service"] for r in data["result"]}
    assert "user-service" in failing_peers  # the misrouted Service's callers see errors


def test_post_form_queries_range_queries_and_histogram_quantile(broken: Served, http: httpx.Client) -> None:
    now = broken.cluster.now()
    buckets = "rate(http_server_request_duration_seconds_bucket[5m])"
    p99 = f"histogram_quantile(0.99, sum by (le, service) ({buckets}))"
    data = _ok(http.post("/api/v1/query", data={"query": p99, "time": str(now)}))
    p99_by_service = {r["metric"]["service"]: float(r["value"][1]) for r in data["result"]}
    assert math.isnan(p99_by_service.pop("user-service"))  # no request reaches it: no observations
    assert p99_by_service and all(v > 0 for v in p99_by_service.values())
    ranged = _ok(
        http.get(
            "/api/v1/query_range",
            params={
                "query": "sum(rate(http_server_requests_total[5m]))",
                "start": now - 600,
                "end": now,
                "step": "60s",
            },
        )
    )
    assert ranged["resultType"] == "matrix"
    assert [v[0] for v in ranged["result"][0]["values"]] == [now - 600 + 60 * i for i in range(11)]


def test_series_and_label_endpoints(broken: Served, http: httpx.Client) -> None:
    assert _ok(http.get("/api/v1/label/__name__/values")) == sorted(broken.cluster.metric_names())
    assert {"__name__", "service", "namespace"} <= set(_ok(http.get("/api/v1/labels")))
    series = _ok(
        http.get("/api/v1/series", params={"match[]": 'http_server_requests_total{service="user-service"}'})
    )
    assert series and all(s["service"] == "user-service" for s in series)
    services = _ok(http.get("/api/v1/label/service/values"))
    assert "user-service" in services


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"query": "sum(rate(http_server_requests_total[5m]"}, "parse error"),
        ({"query": "http_server_requests_total and up"}, "set operator 'and'"),
        ({}, "'query': the parameter is required"),
        ({"query": "up", "time": "yesterday"}, "cannot parse 'yesterday'"),
    ],
)
def test_bad_queries_get_the_prometheus_error_envelope(
    http: httpx.Client, params: dict[str, str], fragment: str
) -> None:
    response = http.get("/api/v1/query", params=params)
    body = response.json()
    assert response.status_code == 400
    assert body["status"] == "error" and body["errorType"] == "bad_data" and fragment in body["error"]


def test_jaeger_services_traces_filters_and_lookup(broken: Served, http: httpx.Client) -> None:
    services = http.get("/api/services").json()["data"]
    assert services == sorted(broken.cluster.trace_services())
    found = http.get("/api/traces", params={"service": "compose-post-service", "limit": 5}).json()["data"]
    assert 0 < len(found) <= 5
    for trace in found:
        assert "compose-post-service" in {p["serviceName"] for p in trace["processes"].values()}
    errors = http.get(
        "/api/traces",
        params={"service": "compose-post-service", "tags": json.dumps({"error": "true"}), "limit": 10},
    ).json()["data"]
    assert errors and all(any(t["key"] == "error" for s in tr["spans"] for t in s["tags"]) for tr in errors)
    slow = http.get(
        "/api/traces", params={"service": "nginx-thrift", "minDuration": "1ms", "limit": 10}
    ).json()["data"]
    assert all(max(s["duration"] for s in tr["spans"]) >= 1000 for tr in slow)
    one = http.get(f"/api/traces/{found[0]['traceID']}").json()["data"]
    assert [t["traceID"] for t in one] == [found[0]["traceID"]]


def test_jaeger_errors_are_enveloped(http: httpx.Client) -> None:
    missing = http.get("/api/traces/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and missing.json()["errors"][0]["msg"] == "trace not found"
    no_service = http.get("/api/traces")
    assert no_service.status_code == 400 and "'service' is required" in no_service.json()["errors"][0]["msg"]
    bad_duration = http.get("/api/traces", params={"service": "nginx-thrift", "minDuration": "fast"})
    assert bad_duration.status_code == 400 and "minDuration" in bad_duration.json()["errors"][0]["msg"]


def test_pod_logs_through_the_python_client_follow_the_parameters(broken: Served) -> None:
    core = k8s.CoreV1Api(broken.reader)
    pod = broken.cluster.list_objects("Pod", SOCIAL, label_selector="service=compose-post-service")[0][
        "metadata"
    ]["name"]
    assert core.read_namespaced_pod_log(pod, SOCIAL, tail_lines=7) == broken.cluster.pod_logs(
        SOCIAL, pod, tail_lines=7
    )
    recent = core.read_namespaced_pod_log(pod, SOCIAL, since_seconds=60)
    assert recent == broken.cluster.pod_logs(SOCIAL, pod, since_seconds=60)
    assert "user-service" in core.read_namespaced_pod_log(pod, SOCIAL, tail_lines=50)  # its failing calls


def test_telemetry_port_serves_no_kubernetes_api(broken: Served, http: httpx.Client) -> None:
    assert http.get("/api/v1/namespaces/test-social-network/pods").status_code == 404
    assert Path(broken.kubeconfig).exists()
