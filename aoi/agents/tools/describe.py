"""``kubectl describe``-style read tools: one object in detail, with the events that concern it."""

from __future__ import annotations

import json
from typing import Any

from aoi.agents.backends.base import NotFoundError, ReadBackend
from aoi.agents.tools.base import ToolCall, read_tool
from aoi.agents.tools.kube import containers_of
from aoi.agents.tools.render import (
    annotations_text,
    endpoints_addresses,
    meta,
    node_status,
    pod_status,
    probe_text,
    selector_text,
)


def _events_for(backend: ReadBackend, namespace: str | None, name: str) -> list[str]:
    lines = []
    # The API server filters by involved object (what ``kubectl describe`` asks for), so a busy
    # namespace's thousands of events are not fetched to keep five; the name check stays for backends
    # that ignore the selector.
    for ev in backend.list_objects("Event", namespace, field_selector=f"involvedObject.name={name}"):
        involved = ev.get("involvedObject") or {}
        if involved.get("name") == name:
            count = int(ev.get("count") or 1)
            suffix = f" (x{count})" if count > 1 else ""
            lines.append(
                f"  {ev.get('type', 'Normal')}  {ev.get('reason', '')}  {ev.get('message', '')}{suffix}"
            )
    return lines or ["  <none>"]


def _labels(obj: dict[str, Any]) -> str:
    return selector_text(meta(obj).get("labels"))


def _container_lines(containers: list[dict[str, Any]], statuses: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["Containers:"]
    for c in containers:
        lines.append(f"  {c['name']}:")
        lines.append(f"    Image:      {c['image']}")
        if c["command"]:
            lines.append(f"    Command:    {' '.join(map(str, c['command']))}")
        if c["args"]:
            lines.append(f"    Args:       {' '.join(map(str, c['args']))}")
        lines.append(f"    Ports:      {', '.join(f'{p}/TCP' for p in c['ports']) or '<none>'}")
        st = statuses.get(c["name"])
        if st is not None:
            state = st.get("state") or {}
            for key, value in state.items():
                reason = (value or {}).get("reason", "")
                lines.append(f"    State:      {key.capitalize()} {reason}".rstrip())
                if (value or {}).get("message"):
                    lines.append(f"      Message:  {value['message']}")
                if (value or {}).get("exitCode") is not None:
                    lines.append(f"      Exit Code: {value['exitCode']}")
            last = (st.get("lastState") or {}).get("terminated")
            if last:
                lines.append(
                    f"    Last State: Terminated {last.get('reason', '')} (exit code {last.get('exitCode')}, "
                    f"finished {last.get('finishedAt', '?')})"
                )
            lines.append(f"    Ready:      {st.get('ready', False)}")
            lines.append(f"    Restart Count: {st.get('restartCount', 0)}")
        limits = (c["resources"] or {}).get("limits") or {}
        requests = (c["resources"] or {}).get("requests") or {}
        if limits:
            lines.append(f"    Limits:     {', '.join(f'{k}={v}' for k, v in limits.items())}")
        if requests:
            lines.append(f"    Requests:   {', '.join(f'{k}={v}' for k, v in requests.items())}")
        lines.append(f"    Liveness:   {probe_text(c['liveness'])}")
        lines.append(f"    Readiness:  {probe_text(c['readiness'])}")
        if c["env"] or c["env_from"]:
            lines.append("    Environment:")
            lines.extend(f"      {k}: {v}" for k, v in c["env"].items())
            lines.extend(f"      (all keys from {ref})" for ref in c["env_from"])
        if c["mounts"]:
            lines.append("    Mounts:")
            lines.extend(f"      {m}" for m in c["mounts"])
    return lines


def _volume_lines(pod_spec: dict[str, Any]) -> list[str]:
    lines = ["Volumes:"]
    for vol in pod_spec.get("volumes") or []:
        source = {k: v for k, v in vol.items() if k != "name"}
        kind = next(iter(source), "unknown")
        lines.append(f"  {vol.get('name')}: {kind} {json.dumps(source.get(kind), sort_keys=True)}")
    return lines if len(lines) > 1 else ["Volumes: <none>"]


def _scheduling_lines(pod_spec: dict[str, Any]) -> list[str]:
    lines = [f"Node-Selectors: {selector_text(pod_spec.get('nodeSelector'))}"]
    affinity = pod_spec.get("affinity")
    if affinity:
        lines.append(f"Affinity: {json.dumps(affinity, sort_keys=True)}")
    tolerations = pod_spec.get("tolerations") or []
    if tolerations:
        lines.append(f"Tolerations: {json.dumps(tolerations, sort_keys=True)}")
    return lines


@read_tool("describe_pod", max_chars=7000)
def describe_pod(backend: ReadBackend, call: ToolCall, namespace: str, name: str) -> str:
    """Show one pod in detail: node, container states, last termination (OOMKilled…), probes, env, events.

    Args:
        namespace: the pod's namespace
        name: the pod's name
    """
    call.invocation = f"kubectl describe pod {name} -n {namespace}"
    pod = backend.get_object("Pod", namespace, name)
    st = pod_status(pod)
    spec = pod.get("spec") or {}
    containers = containers_of(pod)
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    call.data = {"status": st, "containers": containers, "spec": spec}
    lines = [
        f"Name:         {name}",
        f"Namespace:    {namespace}",
        f"Node:         {st['node']}",
        f"Labels:       {_labels(pod)}",
        f"Annotations:  {annotations_text(meta(pod).get('annotations'))}",
        f"Status:       {st['status']}",
        f"IP:           {st['ip']}",
        f"Controlled By: {st['workload']}",
    ]
    if st["unschedulable"]:
        lines.append(f"Scheduling:   {st['unschedulable']}")
    lines += _container_lines(containers, statuses)
    lines += ["Conditions:"] + [
        f"  {c.get('type')}: {c.get('status')}" + (f" ({c.get('reason')})" if c.get("reason") else "")
        for c in (pod.get("status") or {}).get("conditions") or []
    ]
    lines += _volume_lines(spec) + _scheduling_lines(spec)
    lines += ["Events:", *_events_for(backend, namespace, name)]
    return "\n".join(lines)


@read_tool("describe_deployment", max_chars=7000)
def describe_deployment(backend: ReadBackend, call: ToolCall, namespace: str, name: str) -> str:
    """Show one deployment in detail: replicas, selector, pod template (image, command, env, resources,
    probes, volumes, node selector), revision and conditions.

    Args:
        namespace: the deployment's namespace
        name: the deployment's name
    """
    call.invocation = f"kubectl describe deployment {name} -n {namespace}"
    dep = backend.get_object("Deployment", namespace, name)
    spec = dep.get("spec") or {}
    status = dep.get("status") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    containers = containers_of(dep)
    call.data = {"name": name, "spec": spec, "status": status, "containers": containers}
    desired = spec.get("replicas", 1)
    lines = [
        f"Name:         {name}",
        f"Namespace:    {namespace}",
        f"Labels:       {_labels(dep)}",
        f"Annotations:  {annotations_text(meta(dep).get('annotations'))}",
        f"Selector:     {selector_text((spec.get('selector') or {}).get('matchLabels'))}",
        f"Replicas:     {desired} desired | {status.get('updatedReplicas', 0)} updated | "
        f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
        f"{status.get('unavailableReplicas', 0)} unavailable",
        f"Pod Template Labels: {selector_text((template.get('metadata') or {}).get('labels'))}",
    ]
    lines += _container_lines(containers, {})
    lines += _volume_lines(pod_spec) + _scheduling_lines(pod_spec)
    lines += ["Conditions:"] + [
        f"  {c.get('type')}: {c.get('status')} {c.get('reason', '')} {c.get('message', '')}".rstrip()
        for c in status.get("conditions") or []
    ]
    lines += ["Events:", *_events_for(backend, namespace, name)]
    return "\n".join(lines)


@read_tool("describe_service")
def describe_service(backend: ReadBackend, call: ToolCall, namespace: str, name: str) -> str:
    """Show one service: selector, port → targetPort mapping and the endpoints behind it.

    Args:
        namespace: the service's namespace
        name: the service's name
    """
    call.invocation = f"kubectl describe service {name} -n {namespace}"
    svc = backend.get_object("Service", namespace, name)
    spec = svc.get("spec") or {}
    try:
        ready, not_ready = endpoints_addresses(backend.get_object("Endpoints", namespace, name))
    except NotFoundError:  # a service without an Endpoints object is itself a finding
        ready, not_ready = [], []
    ports = spec.get("ports") or []
    call.data = {
        "name": name,
        "selector": spec.get("selector") or {},
        "ports": [
            {"name": p.get("name"), "port": p.get("port"), "target_port": p.get("targetPort")} for p in ports
        ],
        "endpoints": ready,
        "not_ready": not_ready,
    }
    lines = [
        f"Name:              {name}",
        f"Namespace:         {namespace}",
        f"Annotations:       {annotations_text(meta(svc).get('annotations'))}",
        f"Selector:          {selector_text(spec.get('selector'))}",
        f"Type:              {spec.get('type', 'ClusterIP')}",
        f"IP:                {spec.get('clusterIP', '<none>')}",
    ]
    for p in ports:
        lines.append(
            f"Port:              {p.get('name', '<unset>')}  {p.get('port')}/{p.get('protocol', 'TCP')}"
        )
        lines.append(f"TargetPort:        {p.get('targetPort', p.get('port'))}/{p.get('protocol', 'TCP')}")
    lines.append(f"Endpoints:         {','.join(ready) or '<none>'}")
    if not_ready:
        lines.append(f"NotReadyEndpoints: {','.join(not_ready)}")
    lines += ["Events:", *_events_for(backend, namespace, name)]
    return "\n".join(lines)


@read_tool("describe_configmap")
def describe_configmap(backend: ReadBackend, call: ToolCall, namespace: str, name: str) -> str:
    """Show one configmap's data (redacted).

    Args:
        namespace: the configmap's namespace
        name: the configmap's name
    """
    call.invocation = f"kubectl describe configmap {name} -n {namespace}"
    cm = backend.get_object("ConfigMap", namespace, name)
    data = cm.get("data") or {}
    call.data = {"name": name, "data": data}
    lines = [
        f"Name:         {name}",
        f"Namespace:    {namespace}",
        f"Annotations:  {annotations_text(meta(cm).get('annotations'))}",
        "Data",
        "====",
    ]
    for key, value in data.items():
        lines += [f"{key}:", "----", str(value), ""]
    return "\n".join(lines)


@read_tool("describe_node")
def describe_node(backend: ReadBackend, call: ToolCall, name: str) -> str:
    """Show one node: conditions (Ready, MemoryPressure, DiskPressure…), taints, cordon state, capacity.

    Args:
        name: the node's name
    """
    call.invocation = f"kubectl describe node {name}"
    node = backend.get_object("Node", None, name)
    st = node_status(node)
    status = node.get("status") or {}
    call.data = st
    lines = [
        f"Name:          {name}",
        f"Roles:         {st['roles']}",
        f"Labels:        {_labels(node)}",
        f"Annotations:   {annotations_text(meta(node).get('annotations'))}",
        f"Unschedulable: {str(st['unschedulable']).lower()}",
        f"Taints:        {', '.join(st['taints']) or '<none>'}",
        "Conditions:",
    ]
    for c in status.get("conditions") or []:
        lines.append(
            f"  {c.get('type')}: {c.get('status')}  {c.get('reason', '')}  {c.get('message', '')}".rstrip()
        )
    capacity = status.get("capacity") or {}
    allocatable = status.get("allocatable") or {}
    lines.append(f"Capacity:      {', '.join(f'{k}={v}' for k, v in capacity.items()) or '<none>'}")
    lines.append(f"Allocatable:   {', '.join(f'{k}={v}' for k, v in allocatable.items()) or '<none>'}")
    lines += ["Events:", *_events_for(backend, None, name)]
    return "\n".join(lines)


@read_tool("describe_pvc")
def describe_pvc(backend: ReadBackend, call: ToolCall, namespace: str, name: str) -> str:
    """Show one PersistentVolumeClaim: phase, volume, storage class, and why it is not bound.

    Args:
        namespace: the claim's namespace
        name: the claim's name
    """
    call.invocation = f"kubectl describe pvc {name} -n {namespace}"
    pvc = backend.get_object("PersistentVolumeClaim", namespace, name)
    spec = pvc.get("spec") or {}
    status = pvc.get("status") or {}
    call.data = {"name": name, "phase": status.get("phase"), "volume": spec.get("volumeName")}
    lines = [
        f"Name:          {name}",
        f"Namespace:     {namespace}",
        f"StorageClass:  {spec.get('storageClassName', '')}",
        f"Status:        {status.get('phase', 'Unknown')}",
        f"Volume:        {spec.get('volumeName') or '<none>'}",
        f"Capacity:      {(status.get('capacity') or {}).get('storage', '')}",
        f"Access Modes:  {','.join(spec.get('accessModes') or [])}",
        "Events:",
        *_events_for(backend, namespace, name),
    ]
    return "\n".join(lines)
