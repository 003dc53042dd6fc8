"""Backend faults: a slow, failing or partly forbidden cluster API never crashes an investigation; the
Observer ends with a partial diagnosis that names what it could not read, at a lower confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aoi.agents.backends.base import BackendError, ForbiddenError
from aoi.agents.backends.kubernetes import make_backends
from aoi.agents.backends.sim import SimReadBackend
from aoi.agents.observer import Budget, Observer
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.records import Diagnosis
from aoi.agents.tools import read_tools
from aoi.sim import SimCluster, grade, load_problem
from aoi.sim.api.server import READ_CONTEXT, WRITE_CONTEXT, SimApiServer
from tests.agents.faulty_backend import Fault, FaultyReadBackend, slow

PROBLEM = "auth_miss_mongodb-localization-1"
INCIDENT = "Errors in namespace test-social-network"
FORBIDDEN = ForbiddenError('pods "x" is forbidden: User "aoi-investigator" cannot get resource "pods/log"')
METRICS_DOWN = BackendError("Prometheus answered HTTP 500: Internal Server Error")
METHODS = ("list_objects", "get_object", "pod_logs", "metric_names", "prom_query", "prom_query_range")


def investigate(backend: Any, budget: Budget | None = None) -> Diagnosis:
    trajectory = Observer(read_tools(backend), HeuristicPlanner(), budget).run(INCIDENT, "localization")
    assert trajectory.diagnosis is not None
    return trajectory.diagnosis


@pytest.fixture
def cluster() -> SimCluster:
    return SimCluster.from_problem(load_problem(PROBLEM))


def test_a_healthy_backend_gives_a_full_diagnosis(cluster: SimCluster) -> None:
    diagnosis = investigate(SimReadBackend(cluster))
    assert diagnosis.unread == [] and diagnosis.confidence == 0.9


CASES: dict[str, tuple[dict[str, Fault], set[str] | None, str]] = {
    "logs_forbidden": ({"pod_logs": FORBIDDEN}, None, "get_logs("),
    "events_timeout": ({"list_objects": TimeoutError("read timed out after 10s")}, {"Event"}, "get_events("),
    "deployments_500": ({"list_objects": BackendError("HTTP 500")}, {"Deployment"}, "get_deployments("),
    "pods_forbidden": ({"list_objects": FORBIDDEN}, {"Pod"}, "get_pods("),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_partly_failing_reads_give_a_partial_diagnosis_naming_them(cluster: SimCluster, case: str) -> None:
    faults, kinds, unread_tool = CASES[case]
    backend = FaultyReadBackend(SimReadBackend(cluster), faults, kinds)
    diagnosis = investigate(backend)
    assert backend.failed, "the fault must actually have been hit"
    assert diagnosis.unread and any(line.startswith(unread_tool) for line in diagnosis.unread)
    assert any(note.startswith("partial diagnosis") for note in diagnosis.notes)
    assert 0 < diagnosis.confidence < 0.9


def test_forbidden_logs_still_find_the_broken_service(cluster: SimCluster) -> None:
    diagnosis = investigate(FaultyReadBackend(SimReadBackend(cluster), {"pod_logs": FORBIDDEN}))
    assert any("cannot get resource" in line for line in diagnosis.unread)
    assert grade(load_problem(PROBLEM), cluster, diagnosis.to_json_dict()).success


def test_an_api_that_fails_every_read_still_ends_with_a_diagnosis(cluster: SimCluster) -> None:
    faults: dict[str, Fault] = {m: BackendError("connection refused") for m in METHODS}
    diagnosis = investigate(FaultyReadBackend(SimReadBackend(cluster), faults))
    assert {line.split("(")[0] for line in diagnosis.unread} >= {"get_pods", "get_services", "get_events"}
    assert diagnosis.confidence <= 0.25 * 0.9 + 1e-9


def test_a_slow_api_ends_at_the_deadline_with_what_was_read(cluster: SimCluster) -> None:
    faults: dict[str, Fault] = {m: slow(0.05) for m in METHODS}
    diagnosis = investigate(FaultyReadBackend(SimReadBackend(cluster), faults), Budget(deadline_s=0.3))
    assert diagnosis.degraded and any("deadline of 0s passed" in n for n in diagnosis.notes)
    assert 1 <= diagnosis.steps < 25


def test_over_http_metrics_down_and_the_reader_token_give_a_partial_diagnosis(tmp_path: Path) -> None:
    cluster = SimCluster.from_problem(load_problem("astronomy_shop_ad_service_failure-detection-1"))
    with SimApiServer(cluster) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        dead = "http://127.0.0.1:9"  # discard port: nothing listens, every telemetry read fails
        reader, _ = make_backends(path, READ_CONTEXT, path, WRITE_CONTEXT, dead, dead)
        with pytest.raises(ForbiddenError):
            reader.list_objects("Secret", "astronomy-shop")  # the reader token is refused Secrets
        trajectory = Observer(read_tools(reader), HeuristicPlanner()).run(
            "Errors in namespace astronomy-shop", "detection"
        )
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and diagnosis.unread
    assert {line.split("(")[0] for line in diagnosis.unread} & {"list_metrics", "query_metrics", "get_traces"}
    assert any(s.result is not None and s.result.status == "ok" for s in trajectory.steps)  # the API answered
