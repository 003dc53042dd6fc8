"""Server-side printing: ``meta.k8s.io/v1 Table`` responses for ``kubectl get``'s default output.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the columns the
server returns, so these mirror the real server's printers (``pkg/printers/internalversion``): the
same column names, the pod STATUS reason logic, and ages in ``HumanDuration`` form relative to the
cluster's (simulated) clock. Columns with priority 1 appear only with ``-o wide``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aoi.sim.api.scale import selector_string

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj, float], Any]]  # name, type, priority, cell


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """Kubernetes ``duration.HumanDuration``: ``45s``, ``5m10s``, ``3h``, ``2d4h``, ``3y``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 - 365 * (hours // 24 // 365)
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(obj: Obj, now: float) -> str:
    created = parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(now - created)


def _since(value: str | None, now: float) -> str:
    t = parse_time(value)
    return "<unknown>" if t is None else human_duration(now - t)


def _name(obj: Obj, _now: float) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _selector_text(selector: Obj | None) -> str:
    if selector and "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}  # a Service's selector is a plain label map
    return selector_string(selector) or "<none>"


def _containers(obj: Obj) -> list[Obj]:
    return list(_spec(obj).get("template", {}).get("spec", {}).get("containers", []))


def _pod_status(pod: Obj, now: float) -> tuple[str, str, str]:
    """READY, STATUS and RESTARTS cells, following the real server's ``printPod``."""
    spec, status = _spec(pod), _status(pod)
    total = len(spec.get("containers", []))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    restarts, ready, last_restart = 0, 0, None
    initializing = False
    init_specs = spec.get("initContainers", [])
    for i, cs in enumerate(status.get("initContainerStatuses", [])):
        restarts += int(cs.get("restartCount", 0))
        state = cs.get("state", {})
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        initializing = True
        if terminated:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break
    if not initializing:
        restarts, has_running = 0, False
        for cs in reversed(status.get("containerStatuses", [])):
            restarts += int(cs.get("restartCount", 0))
            finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
            if finished and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = cs.get("state", {})
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restart_cell = str(restarts)
    if restarts and last_restart:
        restart_cell = f"{restarts} ({_since(last_restart, now)} ago)"
    return f"{ready}/{total}", reason, restart_cell


def _service_ports(svc: Obj, _now: float) -> str:
    ports = []
    for p in _spec(svc).get("ports", []):
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node_port}/{p.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


def _endpoints(ep: Obj, _now: float) -> str:
    addresses = []
    for subset in ep.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                suffix = f":{port['port']}" if "port" in port else ""
                addresses.append(f"{address.get('ip')}{suffix}")
    if not addresses:
        return "<none>"
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    return ",".join(addresses[:3]) + more


def _node_status(node: Obj, _now: float) -> str:
    ready = next((c for c in _status(node).get("conditions", []) if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    if _spec(node).get("unschedulable"):
        state += ",SchedulingDisabled"
    return state


def _node_roles(node: Obj, _now: float) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = [k[len(prefix) :] for k in node.get("metadata", {}).get("labels", {}) if k.startswith(prefix)]
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(kind: str) -> Callable[[Obj, float], str]:
    def cell(node: Obj, _now: float) -> str:
        for address in _status(node).get("addresses", []):
            if address.get("type") == kind:
                return str(address.get("address"))
        return "<none>"

    return cell


def _event_object(ev: Obj, _now: float) -> str:
    ref = ev.get("involvedObject", {})
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _event_last_seen(ev: Obj, now: float) -> str:
    return _since(ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp"), now)


def _count(field: str, default: int = 0) -> Callable[[Obj, float], int]:
    return lambda obj, _now: int(_status(obj).get(field) or default)


def _pairs(numerator: str, denominator: Callable[[Obj], Any]) -> Callable[[Obj, float], str]:
    return lambda obj, _now: f"{int(_status(obj).get(numerator) or 0)}/{int(denominator(obj) or 0)}"


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)
_WORKLOAD_WIDE: list[Column] = [
    ("Containers", "string", 1, lambda o, _n: ",".join(c.get("name", "") for c in _containers(o))),
    ("Images", "string", 1, lambda o, _n: ",".join(c.get("image", "") for c in _containers(o))),
    ("Selector", "string", 1, lambda o, _n: _selector_text(_spec(o).get("selector"))),
]

COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        NAME,
        ("Ready", "string", 0, lambda o, n: _pod_status(o, n)[0]),
        ("Status", "string", 0, lambda o, n: _pod_status(o, n)[1]),
        ("Restarts", "string", 0, lambda o, n: _pod_status(o, n)[2]),
        AGE,
        ("IP", "string", 1, lambda o, _n: _status(o).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda o, _n: _spec(o).get("nodeName") or "<none>"),
    ],
    "Deployment": [
        NAME,
        ("Ready", "string", 0, _pairs("readyReplicas", lambda o: _spec(o).get("replicas", 1))),
        ("Up-to-date", "integer", 0, _count("updatedReplicas")),
        ("Available", "integer", 0, _count("availableReplicas")),
        AGE,
        *_WORKLOAD_WIDE,
    ],
    "ReplicaSet": [
        NAME,
        ("Desired", "integer", 0, lambda o, _n: int(_spec(o).get("replicas", 1) or 0)),
        ("Current", "integer", 0, _count("replicas")),
        ("Ready", "integer", 0, _count("readyReplicas")),
        AGE,
        *_WORKLOAD_WIDE,
    ],
    "StatefulSet": [
        NAME,
        ("Ready", "string", 0, _pairs("readyReplicas", lambda o: _spec(o).get("replicas", 1))),
        AGE,
        *_WORKLOAD_WIDE[:2],
    ],
    "Service": [
        NAME,
        ("Type", "string", 0, lambda o, _n: _spec(o).get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, lambda o, _n: _spec(o).get("clusterIP") or "<none>"),
        ("External-IP", "string", 0, lambda o, _n: ",".join(_spec(o).get("externalIPs", [])) or "<none>"),
        ("Port(s)", "string", 0, _service_ports),
        AGE,
        ("Selector", "string", 1, lambda o, _n: _selector_text(_spec(o).get("selector"))),
    ],
    "Endpoints": [NAME, ("Endpoints", "string", 0, _endpoints), AGE],
    "Node": [
        NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        AGE,
        ("Version", "string", 0, lambda o, _n: _status(o).get("nodeInfo", {}).get("kubeletVersion", "")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, lambda o, _n: _status(o).get("nodeInfo", {}).get("osImage", "<unknown>")),
    ],
    "Namespace": [NAME, ("Status", "string", 0, lambda o, _n: _status(o).get("phase", "Active")), AGE],
    "ConfigMap": [NAME, ("Data", "integer", 0, lambda o, _n: len(o.get("data") or {})), AGE],
    "Secret": [
        NAME,
        ("Type", "string", 0, lambda o, _n: o.get("type", "Opaque")),
        ("Data", "integer", 0, lambda o, _n: len(o.get("data") or {})),
        AGE,
    ],
    "PersistentVolumeClaim": [
        NAME,
        ("Status", "string", 0, lambda o, _n: _status(o).get("phase", "Pending")),
        ("Volume", "string", 0, lambda o, _n: _spec(o).get("volumeName", "")),
        ("Capacity", "string", 0, lambda o, _n: _status(o).get("capacity", {}).get("storage", "")),
        ("Access Modes", "string", 0, lambda o, _n: _access_modes(_status(o).get("accessModes", []))),
        ("StorageClass", "string", 0, lambda o, _n: _spec(o).get("storageClassName") or "<unset>"),
        AGE,
    ],
    "PersistentVolume": [
        NAME,
        ("Capacity", "string", 0, lambda o, _n: _spec(o).get("capacity", {}).get("storage", "")),
        ("Access Modes", "string", 0, lambda o, _n: _access_modes(_spec(o).get("accessModes", []))),
        ("Reclaim Policy", "string", 0, lambda o, _n: _spec(o).get("persistentVolumeReclaimPolicy", "")),
        ("Status", "string", 0, lambda o, _n: _status(o).get("phase", "")),
        ("Claim", "string", 0, lambda o, _n: _claim(_spec(o).get("claimRef"))),
        ("StorageClass", "string", 0, lambda o, _n: _spec(o).get("storageClassName", "")),
        AGE,
    ],
    "Event": [
        ("Last Seen", "string", 0, _event_last_seen),
        ("Type", "string", 0, lambda o, _n: o.get("type", "")),
        ("Reason", "string", 0, lambda o, _n: o.get("reason", "")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, lambda o, _n: o.get("message", "")),
        ("Source", "string", 1, lambda o, _n: o.get("source", {}).get("component", "")),
        ("Count", "integer", 1, lambda o, _n: int(o.get("count") or 1)),
        ("Name", "string", 1, _name),
    ],
}


def _slice_ports(obj: Obj, _now: float) -> str:
    return ",".join(str(p.get("port")) for p in obj.get("ports") or []) or "<unset>"


def _slice_endpoints(obj: Obj, _now: float) -> str:
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses", [])]
    if not addresses:
        return "<none>"
    return ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


COLUMNS["EndpointSlice"] = [
    NAME,
    ("AddressType", "string", 0, lambda o, _n: o.get("addressType", "")),
    ("Ports", "string", 0, _slice_ports),
    ("Endpoints", "string", 0, _slice_endpoints),
    AGE,
]
COLUMNS["Lease"] = [NAME, ("Holder", "string", 0, lambda o, _n: _spec(o).get("holderIdentity", "")), AGE]

_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _access_modes(modes: list[str]) -> str:
    return ",".join(_MODES.get(m, m) for m in modes)


def _claim(ref: Obj | None) -> str:
    return f"{ref.get('namespace')}/{ref.get('name')}" if ref else ""


def to_table(kind: str, objects: list[Obj], now: float, include_object: str, resource_version: str) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objects``; ``include_object`` is None, Metadata or Object."""
    columns = COLUMNS.get(kind, [NAME, AGE])
    definitions = [
        {
            "name": name,
            "type": typ,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": priority,
        }
        for name, typ, priority, _ in columns
    ]
    rows = []
    for obj in objects:
        row: Obj = {"cells": [cell(obj, now) for _, _, _, cell in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
