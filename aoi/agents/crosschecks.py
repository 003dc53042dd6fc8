"""Port cross-checks between listings the investigation already made, kept for the Observer's memory.

Why: a Service whose ``targetPort`` no container listens on is healthy in every single listing —
pods Running, deployments 1/1, endpoints present (an endpoint's port *is* the targetPort) — so the
per-output notable lines (``aoi.agents.highlights``) never flag it, and the one comparison that
reveals it (the Service's TARGET-PORT against the backing deployment's PORTS) spans two outputs the
memory keeps only as one line each. A model that must conclude then has nothing in its prompt that
names the broken Service. Popeye lints exactly this ("no target ports match container ports"); this
module does the same over text the model was shown, so any planner — a frontier model or the
packaged small one — sees the mismatch, and rows rebuilt from stored trajectories (which keep only
text) see it too.

Contracts: a pure function of the history's outputs (the latest ``get_services``, ``get_endpoints``
and ``get_deployments`` tables of the incident's namespace); only numeric ports are compared (a named
targetPort such as ``http`` resolves inside the pod spec, which these tables do not show); a Service
is matched to the deployment its selector value or its own name names, and skipped when none or when
that deployment declares no ports; deterministic, at most ``MAX_LINES`` lines; never raises.
"""

from __future__ import annotations

from collections.abc import Sequence

from aoi.agents.highlights import squeeze, table_rows
from aoi.agents.planners.base import HistoryItem

MAX_LINES = 3
_LISTINGS = ("get_services", "get_endpoints", "get_deployments")


def _ports(cell: str) -> set[int]:
    """``9090`` / ``16686,14268`` / ``9090/TCP,80/TCP`` / ``10.0.0.1:9090,10.0.0.2:9090`` → ints."""
    ports = set()
    for part in cell.split(","):
        value = part.rsplit(":", 1)[-1].split("/", 1)[0].strip()
        if value.isdigit():
            ports.add(int(value))
    return ports


def _latest(history: Sequence[HistoryItem]) -> dict[str, list[dict[str, str]]]:
    """The newest ok table of each listing (same namespace as the newest ``get_deployments``)."""
    found: dict[str, list[dict[str, str]]] = {}
    namespace: object = None
    for item in reversed(history):
        tool, result = item.step.tool or "", item.result
        if tool not in _LISTINGS or tool in found or result is None or result.status != "ok":
            continue
        ns = item.step.args.get("namespace")
        if namespace is not None and ns is not None and ns != namespace:
            continue
        namespace = ns if namespace is None else namespace
        found[tool] = table_rows(result.output)
    return found


def _backing(service: dict[str, str], deployments: dict[str, set[int]]) -> str | None:
    """The deployment a Service fronts: the one its selector values name, else its own name."""
    for pair in service.get("SELECTOR", "").split(","):
        value = pair.partition("=")[2].strip()
        if value in deployments:
            return value
    name = service.get("NAME", "")
    return name if name in deployments else None


def port_mismatches(history: Sequence[HistoryItem]) -> list[str]:
    """``Service user-service: targetPort 9999 matches no container port of deployment user-service
    (9090)`` lines. The ports compared are the *declared* ones (``containerPort`` is informational in
    Kubernetes, so this is a lead as strong as Popeye's warning, not proof)."""
    try:
        tables = _latest(history)
        deployments = {
            row.get("NAME", ""): _ports(row.get("PORTS", "")) for row in tables.get("get_deployments", [])
        }
        if not deployments:
            return []
        lines: list[str] = []
        flagged: set[str] = set()
        for row in tables.get("get_services", []):
            target = _backing(row, deployments)
            listens = deployments.get(target or "", set())
            wrong = sorted(_ports(row.get("TARGET-PORT", "")) - listens) if listens else []
            if target and wrong:
                flagged.add(row["NAME"])
                lines.append(
                    f"Service {row['NAME']}: targetPort {','.join(map(str, wrong))} matches no container "
                    f"port of deployment {target} ({','.join(map(str, sorted(listens)))})"
                )
        for row in tables.get("get_endpoints", []):
            name = row.get("NAME", "")
            listens = deployments.get(name, set())
            wrong = sorted(_ports(row.get("ENDPOINTS", "")) - listens) if listens else []
            if name not in flagged and wrong:
                flagged.add(name)
                lines.append(
                    f"Endpoints {name}: port {','.join(map(str, wrong))} matches no container port of "
                    f"deployment {name} ({','.join(map(str, sorted(listens)))})"
                )
        return [squeeze(line, 120) for line in lines[:MAX_LINES]]
    except Exception:  # memory must never fail an investigation over odd text
        return []
