"""What the heuristic planner knows: facts parsed from the tool results in the history, nothing else.

The heuristic planner is stateless — every step it rebuilds ``Facts`` from ``context.history`` — so
it can take over an investigation another planner started (fallback) and its behaviour is a pure
function of what the tools returned. It never sees the problem definition or the injected fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aoi.agents.planners.base import HistoryItem, PlannerContext

_NAMESPACE = re.compile(r"namespace[:=\s]+[`'\"]?([a-z0-9]([-a-z0-9]*[a-z0-9])?)", re.IGNORECASE)


def _key(tool: str, args: dict[str, Any]) -> str:
    return tool + json.dumps(args, sort_keys=True, separators=(",", ":"))


@dataclass
class Facts:
    """Indexed tool results. Keys are workload/service/object names within ``namespace``."""

    namespace: str | None = None
    namespaces: list[str] | None = None
    done: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    pods: list[dict[str, Any]] | None = None
    deployments: list[dict[str, Any]] | None = None
    services: list[dict[str, Any]] | None = None
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] | None = None
    nodes: list[dict[str, Any]] | None = None
    pvcs: list[dict[str, Any]] | None = None
    pvs: list[dict[str, Any]] | None = None
    configmap_names: list[str] | None = None
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    pod_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployment_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, bool], list[str]] = field(default_factory=dict)  # (workload, previous) -> lines
    log_pods: dict[tuple[str, bool], str] = field(default_factory=dict)
    trace_services: list[str] | None = None
    traces: dict[tuple[str, bool], dict[str, Any]] = field(default_factory=dict)  # (service, errors_only)
    metric_names: list[str] | None = None
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # query -> series
    evidence: dict[str, int] = field(default_factory=dict)  # tool-call key -> step index

    # -- lookups -----------------------------------------------------------------------------
    def was_done(self, tool: str, args: dict[str, Any]) -> bool:
        return _key(tool, args) in self.done

    def step_of(self, tool: str, args: dict[str, Any]) -> int | None:
        return self.evidence.get(_key(tool, args))

    def pods_of(self, workload: str) -> list[dict[str, Any]]:
        return [p for p in self.pods or [] if p["workload"] == workload]

    def deployment(self, name: str) -> dict[str, Any] | None:
        return next((d for d in self.deployments or [] if d["name"] == name), None)

    def service(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.services or [] if s["name"] == name), None)

    def workloads(self) -> list[str]:
        names = [d["name"] for d in self.deployments or []]
        for p in self.pods or []:
            if p["workload"] not in names:
                names.append(p["workload"])
        return names

    def log_lines(self, workload: str) -> list[str]:
        return self.logs.get((workload, True), []) + self.logs.get((workload, False), [])


def _absorb(facts: Facts, item: HistoryItem) -> None:
    step, result = item.step, item.result
    if result is None or step.tool is None:
        return
    args = step.args
    key = _key(step.tool, args)
    facts.done.add(key)
    facts.evidence.setdefault(key, item.index)
    if result.status == "error":
        facts.errors[key] = result.error or ""
        return
    data = result.data
    tool = step.tool
    empty = result.status == "no_data"
    if tool == "get_namespaces":
        facts.namespaces = list(data or [])
    elif tool == "get_pods" and (args.get("namespace") == facts.namespace or facts.namespace is None):
        facts.pods = [] if empty else list(data or [])
    elif tool == "get_deployments":
        facts.deployments = [] if empty else list(data or [])
    elif tool == "get_services":
        facts.services = [] if empty else list(data or [])
    elif tool == "get_endpoints":
        for row in data or []:
            facts.endpoints[row["name"]] = row
    elif tool == "get_events":
        if "object_name" not in args:
            facts.events = [] if empty else list(data or [])
    elif tool == "get_nodes":
        facts.nodes = [] if empty else list(data or [])
    elif tool == "get_pvcs":
        facts.pvcs = [] if empty else list(data or [])
    elif tool == "get_pvs":
        facts.pvs = [] if empty else list(data or [])
    elif tool == "get_configmaps":
        facts.configmap_names = [] if empty else [row["name"] for row in data or []]
    elif tool == "describe_configmap" and data:
        facts.configmaps[data["name"]] = dict(data.get("data") or {})
    elif tool == "describe_pod" and data:
        facts.pod_details[str(args.get("name"))] = data
    elif tool == "describe_deployment" and data:
        facts.deployment_details[str(args.get("name"))] = data
    elif tool == "describe_service" and data:
        facts.service_details[str(args.get("name"))] = data
    elif tool == "get_logs":
        workload = str(args.get("name"))
        previous = bool(args.get("previous", False))
        lines = [] if empty else list((data or {}).get("lines") or [])
        if not args.get("grep"):
            facts.logs[(workload, previous)] = lines
        else:
            facts.logs.setdefault((workload, previous), []).extend(lines)
        if data:
            facts.log_pods[(workload, previous)] = str(data.get("pod"))
    elif tool == "get_trace_services":
        facts.trace_services = list(data or [])
    elif tool == "get_traces":
        facts.traces[(str(args.get("service")), bool(args.get("errors_only", False)))] = data or {}
    elif tool == "list_metrics":
        facts.metric_names = list(data or [])
    elif tool == "query_metrics":
        facts.metrics[str(args.get("query"))] = [] if empty else list(data or [])


def namespace_from_incident(incident: str) -> str | None:
    match = _NAMESPACE.search(incident)
    return match.group(1) if match else None


def build_facts(context: PlannerContext) -> Facts:
    """Facts from the whole history (results of any planner, including another model's probes)."""
    facts = Facts(namespace=namespace_from_incident(context.incident))
    for item in context.history:
        if item.step.tool == "get_namespaces":
            _absorb(facts, item)
    if facts.namespace is None and facts.namespaces:
        from aoi.agents.planners.heuristic.rules import load_rules

        system = set(load_rules().system_namespaces)
        candidates = [n for n in facts.namespaces if n not in system]
        facts.namespace = candidates[0] if candidates else None
    for item in context.history:
        _absorb(facts, item)
    return facts
