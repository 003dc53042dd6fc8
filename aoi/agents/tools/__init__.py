"""The read tools the Observer may use. ``read_tools(backend)`` binds them all to one backend."""

from __future__ import annotations

from aoi.agents.backends.base import ReadBackend
from aoi.agents.tools.base import Tool, ToolArgumentError, ToolDef, ToolSpec, read_tool
from aoi.agents.tools.describe import (
    describe_configmap,
    describe_deployment,
    describe_node,
    describe_pod,
    describe_pvc,
    describe_service,
)
from aoi.agents.tools.kube import (
    get_configmaps,
    get_deployments,
    get_endpoints,
    get_events,
    get_namespaces,
    get_nodes,
    get_pods,
    get_pvcs,
    get_pvs,
    get_services,
)
from aoi.agents.tools.logs import get_logs
from aoi.agents.tools.telemetry import get_trace_services, get_traces, list_metrics, query_metrics

READ_TOOLS: tuple[ToolDef, ...] = (
    get_namespaces,
    get_pods,
    describe_pod,
    get_deployments,
    describe_deployment,
    get_services,
    describe_service,
    get_endpoints,
    get_configmaps,
    describe_configmap,
    get_nodes,
    describe_node,
    get_pvcs,
    describe_pvc,
    get_pvs,
    get_events,
    get_logs,
    list_metrics,
    query_metrics,
    get_trace_services,
    get_traces,
)


def read_tools(backend: ReadBackend) -> list[Tool]:
    """Every read tool, bound to ``backend``."""
    return [definition.bind(backend) for definition in READ_TOOLS]


__all__ = ["READ_TOOLS", "Tool", "ToolArgumentError", "ToolDef", "ToolSpec", "read_tool", "read_tools"]
