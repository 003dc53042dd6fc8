"""Writes through the HTTP API change the simulated state that the grader judges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from aoi.sim import SimCluster, grade, load_suite
from tests.sim_api.conftest import Served, serve

SOCIAL = "test-social-network"


def _served(problem_id: str, tmp_path: Path) -> Iterator[tuple[Served, object]]:
    problem = load_suite("aiopslab")[problem_id]
    for served in serve(SimCluster.from_problem(problem), tmp_path):
        yield served, problem


@pytest.fixture
def target_port(tmp_path: Path) -> Iterator[tuple[Served, object]]:
    yield from _served("k8s_target_port-misconfig-mitigation-1", tmp_path)


@pytest.fixture
def scaled_to_zero(tmp_path: Path) -> Iterator[tuple[Served, object]]:
    yield from _served("scale_pod_zero_social_net-mitigation-1", tmp_path)


def test_patching_the_target_port_back_passes_the_mitigation_grade(
    target_port: tuple[Served, object],
) -> None:
    served, problem = target_port
    core, apps = k8s.CoreV1Api(served.writer), k8s.AppsV1Api(served.writer)
    assert not grade(problem, served.cluster, {}).success  # type: ignore[arg-type]
    apps.patch_namespaced_deployment(  # a wrong fix: restarting the service does not touch its Service
        "user-service",
        SOCIAL,
        {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}},
    )
    assert not grade(problem, served.cluster, {}).success  # type: ignore[arg-type]
    port = core.read_namespaced_service("user-service", SOCIAL).spec.ports[0].port
    core.patch_namespaced_service(
        "user-service", SOCIAL, {"spec": {"ports": [{"port": port, "targetPort": 9090}]}}
    )
    result = grade(problem, served.cluster, {})  # type: ignore[arg-type]
    assert result.success, result.details


def test_scaling_up_through_the_scale_subresource_passes_the_mitigation_grade(
    scaled_to_zero: tuple[Served, object],
) -> None:
    served, problem = scaled_to_zero
    apps = k8s.AppsV1Api(served.writer)
    assert apps.read_namespaced_deployment_scale("user-service", SOCIAL).spec.replicas == 0
    assert not grade(problem, served.cluster, {}).success  # type: ignore[arg-type]
    apps.patch_namespaced_deployment_scale("user-service", SOCIAL, {"spec": {"replicas": 1}})
    result = grade(problem, served.cluster, {})  # type: ignore[arg-type]
    assert result.success, result.details
