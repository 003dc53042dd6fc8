"""Port cross-checks: a Service targeting a port its deployment does not listen on reaches the memory."""

# ruff: noqa: E501 — the fixtures are real-width tool outputs

from __future__ import annotations

from typing import Any

import pytest

from aoi.agents.crosschecks import port_mismatches
from aoi.agents.evaluation.suite import load_problems
from aoi.agents.memory import build_memory
from aoi.agents.planners.base import HistoryItem
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.planners.prompt import render_memory
from aoi.agents.records import Step, ToolResult
from aoi.training.rollout import run_episodes

NS = "test-social-network"

DEPLOYMENTS = """\
NAME                   READY   UP-TO-DATE   AVAILABLE   AGE   PORTS                    IMAGES
compose-post-service   1/1     1            1           60m   9090                     deathstarbench/social-network-microservices:latest
jaeger                 1/1     1            1           60m   16686,14268,14250,6831   jaegertracing/all-in-one:1.57
media-frontend         1/1     1            1           60m   8080                     yg397/media-frontend:xenial
user-service           1/1     1            1           60m   9090                     deathstarbench/social-network-microservices:latest
worker                 1/1     1            1           60m   <none>                   example/worker:1"""

SERVICES = """\
NAME                   TYPE        CLUSTER-IP      PORT(S)                                  TARGET-PORT              SELECTOR
compose-post-service   ClusterIP   10.96.55.61     9090/TCP                                 9090                     service=compose-post-service
jaeger                 ClusterIP   10.96.33.104    16686/TCP,14268/TCP,14250/TCP,6831/TCP   16686,14268,14250,6831   service=jaeger
media-frontend         ClusterIP   10.96.85.44     8081/TCP                                 8080                     service=media-frontend
user-service           ClusterIP   10.96.7.10      9090/TCP                                 9999                     service=user-service
web                    ClusterIP   10.96.7.11      80/TCP                                   http                     app=user-service
worker                 ClusterIP   10.96.7.12      80/TCP                                   7000                     app=worker"""

ENDPOINTS = """\
NAME                   ENDPOINTS            NOT-READY
compose-post-service   10.244.1.4:9090      -
media-frontend         10.244.3.5:8080      -
user-service           10.244.2.10:9999     -"""


def _item(index: int, tool: str, output: str, namespace: str = NS, status: str = "ok") -> HistoryItem:
    args: dict[str, Any] = {"namespace": namespace}
    return HistoryItem(
        index=index,
        step=Step(action_type="probe", tool=tool, args=args, summary=f"ran {tool}"),
        result=ToolResult(tool=tool, invocation=f"kubectl {tool}", status=status, output=output),  # type: ignore[arg-type]
    )


def test_a_service_targeting_a_port_its_deployment_does_not_listen_on_is_named() -> None:
    lines = port_mismatches([_item(1, "get_deployments", DEPLOYMENTS), _item(2, "get_services", SERVICES)])
    assert lines == [
        "Service user-service: targetPort 9999 matches no container port of deployment user-service (9090)"
    ]


def test_endpoints_resolve_a_named_target_port_and_a_mismatch_is_named_once() -> None:
    endpoints = ENDPOINTS + "\nweb                    10.244.2.10:9999     -"
    lines = port_mismatches(
        [
            _item(1, "get_deployments", DEPLOYMENTS),
            _item(2, "get_services", SERVICES),
            _item(3, "get_endpoints", endpoints),
        ]
    )
    assert lines == [
        "Service user-service: targetPort 9999 matches no container port of deployment user-service (9090)",
        "Endpoints web: port 9999 matches no container port of deployment user-service (9090)",
    ]


def test_endpoints_are_judged_only_through_their_service() -> None:
    # Without the Service table the Endpoints name says nothing about which pods it selects.
    alone = [_item(1, "get_deployments", DEPLOYMENTS), _item(2, "get_endpoints", ENDPOINTS)]
    assert port_mismatches(alone) == []
    # Service frontend selects frontend-v2 (port 9000): the endpoints on 9000 are right, although a
    # deployment named frontend listens on 8080.
    deployments = (
        DEPLOYMENTS
        + "\nfrontend               1/1     1            1           60m   8080                     shop/frontend:1"
    )
    deployments += "\nfrontend-v2            1/1     1            1           60m   9000                     shop/frontend:2"
    services = (
        SERVICES
        + "\nfrontend               ClusterIP   10.96.7.13      80/TCP                                   9000                     app=frontend-v2"
    )
    endpoints = ENDPOINTS + "\nfrontend               10.244.2.11:9000     -"
    history = [
        _item(1, "get_deployments", deployments),
        _item(2, "get_services", services),
        _item(3, "get_endpoints", endpoints),
    ]
    assert not any("frontend" in line for line in port_mismatches(history))


def test_a_selector_naming_two_deployments_is_not_judged() -> None:
    deployments = (
        DEPLOYMENTS
        + "\nredis                  1/1     1            1           60m   6379                     redis:7"
    )
    deployments += (
        "\ncache                  1/1     1            1           60m   11211                    memcached:1"
    )
    services = (
        SERVICES
        + "\ncache                  ClusterIP   10.96.7.14      11211/TCP                                11211                    component=redis,name=cache"
    )
    history = [_item(1, "get_deployments", deployments), _item(2, "get_services", services)]
    assert not any("cache" in line for line in port_mismatches(history))


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(lambda: [_item(1, "get_services", SERVICES)], id="no deployments listed yet"),
        pytest.param(
            lambda: [
                _item(1, "get_deployments", DEPLOYMENTS, namespace="other"),
                _item(2, "get_services", SERVICES),
            ],
            id="deployments of another namespace",
        ),
        pytest.param(
            lambda: [_item(1, "get_deployments", "", status="error"), _item(2, "get_services", SERVICES)],
            id="the deployments listing failed",
        ),
        pytest.param(
            lambda: [
                HistoryItem(
                    index=1,
                    step=Step(action_type="probe", tool="get_deployments", args={}, summary="all"),
                    result=ToolResult(
                        tool="get_deployments",
                        invocation="kubectl get deployments -A",
                        status="ok",
                        output="NAMESPACE  " + DEPLOYMENTS.replace("\n", "\nshop       "),
                    ),
                ),
                _item(2, "get_services", SERVICES),
            ],
            id="deployments of all namespaces (names collide across them)",
        ),
        pytest.param(
            lambda: [
                _item(1, "get_deployments", DEPLOYMENTS),
                _item(2, "get_services", SERVICES, namespace="other"),
            ],
            id="services of another namespace",
        ),
        pytest.param(
            lambda: [
                _item(1, "get_deployments", DEPLOYMENTS),
                _item(2, "get_services", "not a table\n\x00 at all"),
            ],
            id="odd text",
        ),
    ],
)
def test_nothing_is_claimed_without_both_listings_of_one_namespace(history: Any) -> None:
    assert port_mismatches(history()) == []


def test_named_ports_unknown_backends_and_portless_deployments_are_not_judged() -> None:
    lines = port_mismatches([_item(1, "get_deployments", DEPLOYMENTS), _item(2, "get_services", SERVICES)])
    assert not any(name in line for line in lines for name in ("web", "worker", "jaeger", "media-frontend"))


def test_the_newest_listing_wins_after_a_fix() -> None:
    fixed = SERVICES.replace(
        "9090/TCP                                 9999", "9090/TCP                                 9090"
    )
    history = [
        _item(1, "get_deployments", DEPLOYMENTS),
        _item(2, "get_services", SERVICES),
        _item(3, "get_services", fixed),
    ]
    assert port_mismatches(history) == []


def _history(problem_id: str) -> list[HistoryItem]:
    problem = next(p for p in load_problems("aiopslab") if p.id == problem_id)
    (episode,) = run_episodes([problem], HeuristicPlanner())
    return [HistoryItem(index=s.index, step=s.step, result=s.result) for s in episode.trajectory.steps]


def test_the_simulated_target_port_fault_reaches_the_prompt_memory_and_a_healthy_app_gives_nothing() -> None:
    history = _history("k8s_target_port-misconfig-localization-1")
    line = "Cross-check: Service user-service: targetPort 9999 matches no container port of deployment user-service (9090)"
    assert line in render_memory(history)  # the planners' prompt
    assert line in build_memory(history)  # the Observer's memory and the training rows
    assert "Cross-check" not in render_memory(_history("noop_detection_hotel_reservation-1"))
