"""A probe the heuristic planner wants to make, and the follow-ups a dependency complaint calls for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aoi.agents.planners.heuristic.facts import Facts


@dataclass(frozen=True)
class Probe:
    tool: str
    args: dict[str, Any]
    why: str


def mounted_configmaps(facts: Facts, workload: str) -> list[str]:
    """ConfigMaps a workload reads (volumes, envFrom, env refs), from its describe output."""
    details = facts.deployment_details.get(workload) or {}
    spec = ((details.get("spec") or {}).get("template") or {}).get("spec") or {}
    names = [
        str((v.get("configMap") or {}).get("name")) for v in spec.get("volumes") or [] if v.get("configMap")
    ]
    for container in spec.get("containers") or []:
        for ref in container.get("envFrom") or []:
            if ref.get("configMapRef"):
                names.append(str(ref["configMapRef"].get("name")))
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
            if ref:
                names.append(str(ref.get("name")))
    return list(dict.fromkeys(names))


def dependency_probes(
    facts: Facts, ns: str, caller: str, host: str, port: int | None, kind: str
) -> Iterator[Probe]:
    """What to read after ``caller`` complained about ``host:port``."""
    svc = facts.service(host) if host else None
    if svc is not None:
        yield Probe(
            "describe_service",
            {"namespace": ns, "name": host},
            f"how {caller} reaches {host}: ports, endpoints",
        )
    if kind == "mongo" and svc is not None:
        yield Probe(
            "describe_deployment", {"namespace": ns, "name": host}, f"how the database {host} is configured"
        )
        yield Probe(
            "get_logs",
            {"namespace": ns, "name": host, "tail": 100},
            f"what the database {host} says about its clients",
        )
    misdirected = svc is None or (port is not None and svc.get("ports") and port not in svc["ports"])
    if kind in ("network", "mongo") and misdirected:
        yield Probe(
            "describe_deployment",
            {"namespace": ns, "name": caller},
            f"where {caller} gets the address {host}:{port}",
        )
        for cm in mounted_configmaps(facts, caller):
            yield Probe(
                "describe_configmap", {"namespace": ns, "name": cm}, f"the configuration {caller} loads"
            )
