"""Recovery checks after a write, made with the *read* tools (the same eyes the Observer has).

A fix is only reported as succeeded when the cluster shows it: the target workload has all its
replicas Ready, no pod of the namespace is crash-looping or stuck, a Service has endpoints again, a
node is schedulable. The check is polled until it passes or the timeout elapses; ``sleep`` is
injected so that a simulated cluster can advance its own clock instead of the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aoi.agents.tools.base import Tool

STUCK = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "Error",
    "OOMKilled",
)


@dataclass(frozen=True)
class Verification:
    ok: bool
    text: str
    checks: int


def _namespace_problems(tools: dict[str, Tool], namespace: str) -> list[str]:
    result = tools["get_pods"](namespace=namespace)
    if result.status == "error":
        return [f"could not list pods: {result.error}"]
    problems = []
    for pod in result.data or []:
        if not pod["healthy"] and pod["phase"] != "Succeeded":
            problems.append(f"pod {pod['name']} is {pod['status']} ({pod['ready']}/{pod['total']} ready)")
    return problems


def _deployment_problems(
    tools: dict[str, Tool], namespace: str, name: str, replicas: int | None
) -> list[str]:
    result = tools["get_deployments"](namespace=namespace)
    if result.status == "error":
        return [f"could not list deployments: {result.error}"]
    for dep in result.data or []:
        if dep["name"] == name:
            desired = dep["desired"] if replicas is None else replicas
            if desired < 1:
                return [f"deployment {name} has {desired} desired replicas"]
            if dep["ready"] < desired:
                return [f"deployment {name} has {dep['ready']}/{desired} replicas ready"]
            return []
    return []  # not a Deployment (e.g. a StatefulSet): the namespace check covers it


def _service_problems(tools: dict[str, Tool], namespace: str, name: str) -> list[str]:
    result = tools["get_endpoints"](namespace=namespace, name=name)
    if result.status == "error":
        return [f"could not read endpoints of {name}: {result.error}"]
    rows = result.data or []
    if not rows or not rows[0]["ready"]:
        return [f"service {name} has no ready endpoints"]
    return _port_mapping_problems(tools, namespace, name)


def _port_mapping_problems(tools: dict[str, Tool], namespace: str, name: str) -> list[str]:
    """A numeric targetPort must be a port the selected pods' containers declare."""
    services = tools["get_services"](namespace=namespace).data or []
    service = next((s for s in services if s["name"] == name), None)
    if service is None:
        return [f"service {name} not found"]
    selector = service.get("selector") or {}
    ports: set[int] = set()
    for dep in tools["get_deployments"](namespace=namespace).data or []:
        labels = dep.get("template_labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            ports.update(int(p) for p in dep.get("ports") or [] if p is not None)
    wrong = [t for t in service.get("target_ports") or [] if isinstance(t, int) and ports and t not in ports]
    if wrong:
        return [f"service {name} targetPort {wrong[0]} is not a container port ({sorted(ports)})"]
    return []


def _node_problems(tools: dict[str, Tool], name: str) -> list[str]:
    """A node has recovered when it is listed, Ready and schedulable; a listing that failed proves
    nothing (it once read as "healthy")."""
    result = tools["get_nodes"]()
    if result.status == "error":
        return [f"could not list nodes: {result.error}"]
    node = next((n for n in result.data or [] if n["name"] == name), None)
    if node is None:
        return [f"node {name} not found"]
    if node["unschedulable"] or not node["ready"]:
        return [f"node {name} is {node['status']}"]
    return []


def _volume_problems(tools: dict[str, Tool], name: str, claim_namespace: str | None) -> list[str]:
    """A released volume has recovered once a claim (of ``claim_namespace``) is bound to it again."""
    result = tools["get_pvs"]()
    if result.status == "error":
        return [f"could not list persistent volumes: {result.error}"]
    row = next((pv for pv in result.data or [] if pv["name"] == name), None)
    if row is None:
        return [f"persistent volume {name} not found"]
    if row["phase"] != "Bound":
        return [f"persistent volume {name} is {row['phase']}, not Bound"]
    if claim_namespace and row["claim_namespace"] != claim_namespace:
        return [f"persistent volume {name} is bound to a claim in {row['claim_namespace']}"]
    if claim_namespace:
        claims = tools["get_pvcs"](namespace=claim_namespace).data or []
        claim = next((c for c in claims if c["name"] == row["claim_name"]), None)
        if claim is None or claim["phase"] != "Bound":
            return [f"claim {claim_namespace}/{row['claim_name']} is not Bound"]
    return []


def check_once(
    tools: dict[str, Tool], target_kind: str, namespace: str | None, target: str, params: dict[str, Any]
) -> list[str]:
    """Problems that remain right now (empty = recovered)."""
    problems: list[str] = []
    if target_kind == "Node":
        problems += _node_problems(tools, target)
    if target_kind == "PersistentVolume":
        claim_namespace = params.get("claim_namespace")
        problems += _volume_problems(tools, target, str(claim_namespace) if claim_namespace else None)
    if target_kind == "Deployment" and namespace:
        replicas = params.get("replicas")
        problems += _deployment_problems(
            tools, namespace, target, int(replicas) if replicas is not None else None
        )
    if target_kind == "Service" and namespace:
        problems += _service_problems(tools, namespace, target)
    if namespace:
        problems += _namespace_problems(tools, namespace)
    return problems


def verify_recovery(
    tools: dict[str, Tool],
    target_kind: str,
    namespace: str | None,
    target: str,
    params: dict[str, Any],
    *,
    timeout_s: float,
    interval_s: float,
    sleep: Callable[[float], None],
) -> Verification:
    """Poll ``check_once`` until it passes or ``timeout_s`` of (possibly simulated) time has elapsed."""
    waited = 0.0
    checks = 0
    while True:
        checks += 1
        problems = check_once(tools, target_kind, namespace, target, params)
        if not problems:
            where = f" in {namespace}" if namespace else ""
            return Verification(
                True,
                f"recovered after {waited:.0f}s: {target_kind} {target}{where} healthy, all pods Ready",
                checks,
            )
        if waited >= timeout_s:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            return Verification(False, f"not recovered after {waited:.0f}s: {shown}", checks)
        sleep(interval_s)
        waited += interval_s
