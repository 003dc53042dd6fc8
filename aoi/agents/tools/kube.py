"""``kubectl get``-style read tools: namespaces, pods, deployments, services, endpoints, configmaps,
nodes, PVCs and events. Each renders a compact table and attaches the derived rows as ``call.data``.
"""

from __future__ import annotations

from typing import Any

from aoi.agents.backends.base import ReadBackend
from aoi.agents.tools.base import ToolCall, read_tool
from aoi.agents.tools.render import (
    age,
    container_summary,
    endpoints_addresses,
    meta,
    node_status,
    pod_status,
    selector_text,
    service_ports,
    table,
)


def kubectl(verb: str, namespace: str | None, *extra: str) -> str:
    """The exact equivalent kubectl command line (``-A`` when no namespace)."""
    scope = f"-n {namespace}" if namespace else "-A"
    return " ".join(["kubectl", verb, scope, *[e for e in extra if e]])


def _selector_flag(selector: str | None) -> str:
    return f"-l {selector}" if selector else ""


@read_tool("get_namespaces")
def get_namespaces(backend: ReadBackend, call: ToolCall) -> str:
    """List namespaces (start here when the incident does not name one)."""
    call.invocation = "kubectl get namespaces"
    items = backend.list_objects("Namespace")
    call.data = [meta(ns).get("name") for ns in items]
    now = backend.now()
    rows = [
        (
            meta(ns).get("name"),
            (ns.get("status") or {}).get("phase", "Active"),
            age(meta(ns).get("creationTimestamp"), now),
        )
        for ns in items
    ]
    return table(["NAME", "STATUS", "AGE"], rows) if rows else ""


@read_tool("get_pods")
def get_pods(
    backend: ReadBackend, call: ToolCall, namespace: str | None = None, selector: str | None = None
) -> str:
    """List pods with READY, STATUS (CrashLoopBackOff, Pending, OOMKilled…), RESTARTS, AGE and NODE.

    Args:
        namespace: namespace to list; all namespaces when omitted
        selector: label selector, e.g. app=geo
    """
    call.invocation = kubectl("get pods", namespace, _selector_flag(selector), "-o wide")
    pods = backend.list_objects("Pod", namespace, label_selector=selector)
    now = backend.now()
    rows: list[tuple[Any, ...]] = []
    data = []
    for pod in pods:
        st = pod_status(pod)
        st["age_s"] = now - st["created"] if st["created"] is not None else None
        data.append(st)
        last = f" (last: {st['last_termination_reason']})" if st["last_termination_reason"] else ""
        row: tuple[Any, ...] = (
            st["name"],
            f"{st['ready']}/{st['total']}",
            st["status"],
            f"{st['restarts']}{last}",
            age(meta(pod).get("creationTimestamp"), now),
            st["ip"],
            st["node"],
        )
        rows.append(row if namespace else (st["namespace"], *row))
    call.data = data
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    return table(headers if namespace else ["NAMESPACE", *headers], rows) if rows else ""


@read_tool("get_deployments")
def get_deployments(backend: ReadBackend, call: ToolCall, namespace: str | None = None) -> str:
    """List deployments with READY (ready/desired replicas), UP-TO-DATE, AVAILABLE, container ports, images.

    Args:
        namespace: namespace to list; all namespaces when omitted
    """
    call.invocation = kubectl("get deployments", namespace, "-o wide")
    items = backend.list_objects("Deployment", namespace)
    now = backend.now()
    rows = []
    data = []
    for dep in items:
        spec = dep.get("spec") or {}
        status = dep.get("status") or {}
        template = spec.get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        ready = int(status.get("readyReplicas") or 0)
        ports = [p.get("containerPort") for c in containers for p in c.get("ports") or []]
        data.append(
            {
                "name": meta(dep).get("name"),
                "namespace": meta(dep).get("namespace"),
                "desired": desired,
                "ready": ready,
                "available": int(status.get("availableReplicas") or 0),
                "updated": int(status.get("updatedReplicas") or 0),
                "images": [c.get("image") for c in containers],
                "commands": [list(c.get("command") or []) for c in containers],
                "ports": ports,
                "cpu_limits": [
                    ((c.get("resources") or {}).get("limits") or {}).get("cpu") for c in containers
                ],
                "template_labels": (template.get("metadata") or {}).get("labels") or {},
                "revision": (meta(dep).get("annotations") or {}).get("deployment.kubernetes.io/revision"),
            }
        )
        row = (
            meta(dep).get("name"),
            f"{ready}/{desired}",
            status.get("updatedReplicas") or 0,
            status.get("availableReplicas") or 0,
            age(meta(dep).get("creationTimestamp"), now),
            ",".join(str(p) for p in ports) or "<none>",
            ",".join(str(c.get("image")) for c in containers),
        )
        rows.append(row if namespace else (meta(dep).get("namespace"), *row))
    call.data = data
    headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "PORTS", "IMAGES"]
    return table(headers if namespace else ["NAMESPACE", *headers], rows) if rows else ""


@read_tool("get_services")
def get_services(backend: ReadBackend, call: ToolCall, namespace: str) -> str:
    """List services with ports, targetPorts and selectors.

    Args:
        namespace: namespace to list
    """
    call.invocation = kubectl("get services", namespace, "-o wide")
    items = backend.list_objects("Service", namespace)
    rows = []
    data = []
    for svc in items:
        spec = svc.get("spec") or {}
        targets = (
            ",".join(str(p.get("targetPort", p.get("port"))) for p in spec.get("ports") or []) or "<none>"
        )
        data.append(
            {
                "name": meta(svc).get("name"),
                "cluster_ip": spec.get("clusterIP"),
                "ports": [p.get("port") for p in spec.get("ports") or []],
                "target_ports": [p.get("targetPort", p.get("port")) for p in spec.get("ports") or []],
                "selector": spec.get("selector") or {},
            }
        )
        rows.append(
            (
                meta(svc).get("name"),
                spec.get("type", "ClusterIP"),
                spec.get("clusterIP", "<none>"),
                service_ports(svc),
                targets,
                selector_text(spec.get("selector")),
            )
        )
    call.data = data
    return table(["NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "TARGET-PORT", "SELECTOR"], rows) if rows else ""


@read_tool("get_endpoints")
def get_endpoints(backend: ReadBackend, call: ToolCall, namespace: str, name: str | None = None) -> str:
    """List the ready and not-ready addresses behind services (empty = no pod serves it).

    Args:
        namespace: namespace to list
        name: one service's endpoints only
    """
    call.invocation = kubectl("get endpoints", namespace, name or "")
    items = (
        [backend.get_object("Endpoints", namespace, name)]
        if name
        else backend.list_objects("Endpoints", namespace)
    )
    rows = []
    data = []
    for ep in items:
        ready, not_ready = endpoints_addresses(ep)
        data.append({"name": meta(ep).get("name"), "ready": ready, "not_ready": not_ready})
        shown = ",".join(ready[:4]) + (f" + {len(ready) - 4} more" if len(ready) > 4 else "")
        rows.append((meta(ep).get("name"), shown or "<none>", ",".join(not_ready) or "-"))
    call.data = data
    return table(["NAME", "ENDPOINTS", "NOT-READY"], rows) if rows else ""


@read_tool("get_configmaps")
def get_configmaps(backend: ReadBackend, call: ToolCall, namespace: str) -> str:
    """List configmaps and their keys.

    Args:
        namespace: namespace to list
    """
    call.invocation = kubectl("get configmaps", namespace)
    items = backend.list_objects("ConfigMap", namespace)
    call.data = [{"name": meta(cm).get("name"), "keys": sorted(cm.get("data") or {})} for cm in items]
    now = backend.now()
    rows = [
        (
            meta(cm).get("name"),
            len(cm.get("data") or {}),
            ",".join(sorted(cm.get("data") or {}))[:80],
            age(meta(cm).get("creationTimestamp"), now),
        )
        for cm in items
    ]
    return table(["NAME", "DATA", "KEYS", "AGE"], rows) if rows else ""


@read_tool("get_nodes")
def get_nodes(backend: ReadBackend, call: ToolCall) -> str:
    """List nodes with Ready/NotReady, SchedulingDisabled (cordoned) and pressure conditions."""
    call.invocation = "kubectl get nodes -o wide"
    items = backend.list_objects("Node")
    now = backend.now()
    data = [node_status(node) for node in items]
    call.data = data
    rows = [
        (
            st["name"],
            st["status"],
            st["roles"],
            age(meta(node).get("creationTimestamp"), now),
            st["version"],
            ",".join(st["pressure"]) or "-",
            ",".join(st["taints"]) or "-",
        )
        for st, node in zip(data, items, strict=True)
    ]
    return table(["NAME", "STATUS", "ROLES", "AGE", "VERSION", "PRESSURE", "TAINTS"], rows) if rows else ""


@read_tool("get_pvcs")
def get_pvcs(backend: ReadBackend, call: ToolCall, namespace: str) -> str:
    """List PersistentVolumeClaims with STATUS (Bound/Pending/Lost), volume and capacity.

    Args:
        namespace: namespace to list
    """
    call.invocation = kubectl("get pvc", namespace)
    items = backend.list_objects("PersistentVolumeClaim", namespace)
    now = backend.now()
    rows = []
    data = []
    for pvc in items:
        spec = pvc.get("spec") or {}
        status = pvc.get("status") or {}
        data.append(
            {
                "name": meta(pvc).get("name"),
                "uid": meta(pvc).get("uid"),
                "phase": status.get("phase", ""),
                "volume": spec.get("volumeName"),
            }
        )
        rows.append(
            (
                meta(pvc).get("name"),
                status.get("phase", "Unknown"),
                spec.get("volumeName") or "<none>",
                (status.get("capacity") or {}).get("storage", ""),
                ",".join(spec.get("accessModes") or []),
                spec.get("storageClassName") or "",
                age(meta(pvc).get("creationTimestamp"), now),
            )
        )
    call.data = data
    headers = ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"]
    return table(headers, rows) if rows else ""


@read_tool("get_pvs")
def get_pvs(backend: ReadBackend, call: ToolCall) -> str:
    """List PersistentVolumes (cluster-wide) with STATUS (Available/Bound/Released) and the claim each
    one is reserved for (namespace/name and the claim's uid): a Released volume still names a deleted
    claim, so a recreated claim of the same name cannot bind to it."""
    call.invocation = "kubectl get pv"
    items = backend.list_objects("PersistentVolume")
    now = backend.now()
    rows = []
    data = []
    for pv in items:
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        phase = (pv.get("status") or {}).get("phase", "")
        data.append(
            {
                "name": meta(pv).get("name"),
                "phase": phase,
                "claim_namespace": ref.get("namespace"),
                "claim_name": ref.get("name"),
                "claim_uid": ref.get("uid"),
                "storage_class": spec.get("storageClassName") or "",
                "reclaim_policy": spec.get("persistentVolumeReclaimPolicy") or "",
            }
        )
        claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref else ""
        rows.append(
            (
                meta(pv).get("name"),
                (spec.get("capacity") or {}).get("storage", ""),
                spec.get("persistentVolumeReclaimPolicy") or "",
                phase or "Unknown",
                claim,
                str(ref.get("uid") or ""),
                spec.get("storageClassName") or "",
                age(meta(pv).get("creationTimestamp"), now),
            )
        )
    call.data = data
    headers = ["NAME", "CAPACITY", "RECLAIM POLICY", "STATUS", "CLAIM", "CLAIM UID", "STORAGECLASS", "AGE"]
    return table(headers, rows) if rows else ""


@read_tool("get_events")
def get_events(
    backend: ReadBackend,
    call: ToolCall,
    namespace: str | None = None,
    object_name: str | None = None,
    warnings_only: bool = False,
) -> str:
    """List recent events (scheduling failures, probe failures, back-offs, OOM kills), newest last.

    Args:
        namespace: namespace to list; all namespaces when omitted
        object_name: only events about objects whose name starts with this
        warnings_only: only events of type Warning
    """
    field = "type=Warning" if warnings_only else ""
    call.invocation = kubectl(
        "get events",
        namespace,
        f"--field-selector {field}" if field else "",
        "--sort-by=.lastTimestamp",
        f"| grep {object_name}" if object_name else "",
    )
    items = backend.list_objects("Event", namespace, field_selector=field or None)
    now = backend.now()
    events = []
    for ev in items:
        involved = ev.get("involvedObject") or {}
        name = str(involved.get("name", ""))
        if object_name and not name.startswith(object_name):
            continue
        when = ev.get("lastTimestamp") or ev.get("eventTime") or meta(ev).get("creationTimestamp")
        events.append(
            {
                "type": ev.get("type", "Normal"),
                "reason": ev.get("reason", ""),
                "kind": involved.get("kind", ""),
                "object": name,
                "namespace": involved.get("namespace") or meta(ev).get("namespace"),
                "message": str(ev.get("message", "")),
                "count": int(ev.get("count") or 1),
                "when": when or "",
            }
        )
    events.sort(key=lambda e: str(e["when"]))
    call.data = events
    rows = [
        (
            age(e["when"], now),
            e["type"],
            e["reason"],
            f"{str(e['kind']).lower()}/{e['object']}",
            e["message"] + (f" (x{e['count']})" if e["count"] > 1 else ""),
        )
        for e in events
    ]
    return table(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], rows) if rows else ""


def pods_of(backend: ReadBackend, namespace: str, workload: str) -> list[dict[str, Any]]:
    """Pods owned by a Deployment/StatefulSet named ``workload`` (by owner, then by name prefix)."""
    pods = backend.list_objects("Pod", namespace)
    owned = [p for p in pods if pod_status(p)["workload"] == workload]
    return owned or [p for p in pods if str(meta(p).get("name", "")).startswith(workload + "-")]


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Container summaries of a Pod or of a workload's pod template."""
    spec = obj.get("spec") or {}
    if "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    return [container_summary(c) for c in spec.get("containers") or []]
