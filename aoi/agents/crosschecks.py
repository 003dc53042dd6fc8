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

Contracts: a pure function of the history's outputs — the newest ``get_deployments`` table listed
for one namespace, and the newest ``get_services``/``get_endpoints`` tables of that same namespace
(all-namespace listings are never used: names collide across namespaces); only numeric ports are
compared (a named targetPort such as ``http`` is judged through the Endpoints row, where it appears
resolved); a Service is matched to the one deployment its selector values or its own name name, and
skipped when none, when several, or when that deployment declares no ports; an Endpoints row is
judged only through its Service's row. Deterministic, at most ``MAX_LINES`` lines; never raises.
"""

from __future__ import annotations

from collections.abc import Sequence

from aoi.agents.highlights import squeeze, table_rows
from aoi.agents.planners.base import HistoryItem

MAX_LINES = 3


def _ports(cell: str) -> set[int]:
    """``9090`` / ``16686,14268`` / ``9090/TCP,80/TCP`` / ``10.0.0.1:9090,10.0.0.2:9090`` → ints."""
    ports = set()
    for part in cell.split(","):
        value = part.rsplit(":", 1)[-1].split("/", 1)[0].strip()
        if value.isdigit():
            ports.add(int(value))
    return ports


def _newest(
    history: Sequence[HistoryItem], tool: str, namespace: str | None = None
) -> tuple[str, list[dict[str, str]]] | None:
    """The newest ok ``tool`` table of one namespace (of any namespace when ``namespace`` is None), as
    ``(namespace, rows)``. A listing without a namespace (all namespaces) is never used: its names
    collide across namespaces."""
    for item in reversed(history):
        result, ns = item.result, item.step.args.get("namespace")
        if item.step.tool != tool or result is None or result.status != "ok" or not isinstance(ns, str):
            continue
        if namespace is None or ns == namespace:
            rows = table_rows(result.output)
            return (ns, rows) if rows and "NAMESPACE" not in rows[0] else None
    return None


def _backing(service: dict[str, str], deployments: dict[str, set[int]]) -> str | None:
    """The one deployment a Service fronts: the one its selector values name, else its own name; None
    when the selector names several (``component=redis,name=cache``: which one is ambiguous)."""
    named = {
        value
        for pair in service.get("SELECTOR", "").split(",")
        if (value := pair.partition("=")[2].strip()) in deployments
    }
    if len(named) > 1:
        return None
    if named:
        return named.pop()
    name = service.get("NAME", "")
    return name if name in deployments else None


def _ports_text(ports: set[int]) -> str:
    return ",".join(map(str, sorted(ports)))


def _mismatch(
    service: dict[str, str] | None, ports_cell: str, deployments: dict[str, set[int]]
) -> tuple[str, set[int], set[int]] | None:
    """``(deployment, wrong ports, declared ports)`` when ports shown for ``service`` (its TARGET-PORT
    cell, or its Endpoints cell) include one its backing deployment does not declare."""
    target = _backing(service, deployments) if service is not None else None
    listens = deployments.get(target or "", set())
    wrong = _ports(ports_cell) - listens if listens else set()
    return (str(target), wrong, listens) if target and wrong else None


def port_mismatches(history: Sequence[HistoryItem]) -> list[str]:
    """``Service user-service: targetPort 9999 matches no container port of deployment user-service
    (9090)`` lines. The ports compared are the *declared* ones (``containerPort`` is informational in
    Kubernetes, so this is a lead as strong as Popeye's warning, not proof)."""
    try:
        found = _newest(history, "get_deployments")
        if found is None:
            return []
        namespace, rows = found
        deployments = {row.get("NAME", ""): _ports(row.get("PORTS", "")) for row in rows}
        services = {
            row.get("NAME", ""): row for row in (_newest(history, "get_services", namespace) or ("", []))[1]
        }
        endpoints = (_newest(history, "get_endpoints", namespace) or ("", []))[1]
        # Each Service once: by its TARGET-PORT, else by its Endpoints row, which shows a named
        # targetPort (``http``) resolved to the number the Service table cannot show.
        shown = [
            ("Service", name, "targetPort", row.get("TARGET-PORT", "")) for name, row in services.items()
        ]
        shown += [("Endpoints", row.get("NAME", ""), "port", row.get("ENDPOINTS", "")) for row in endpoints]
        lines: list[str] = []
        flagged: set[str] = set()
        for kind, name, what, cell in shown:
            hit = None if name in flagged else _mismatch(services.get(name), cell, deployments)
            if hit is not None:
                target, wrong, listens = hit
                flagged.add(name)
                lines.append(
                    f"{kind} {name}: {what} {_ports_text(wrong)} matches no container port of "
                    f"deployment {target} ({_ports_text(listens)})"
                )
        return [squeeze(line, 120) for line in lines[:MAX_LINES]]
    except Exception:  # memory must never fail an investigation over odd text
        return []
