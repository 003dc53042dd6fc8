"""Kubernetes JSON → the compact text ``kubectl`` would print, plus the derived fields planners need.

Why our own renderer: tools must show a model what an SRE sees in a terminal (``READY 0/1
CrashLoopBackOff``), whatever the backend (simulator, real API server), without shelling out.
All functions are pure and take the objects as the Kubernetes API returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


def parse_time(value: str | None) -> float | None:
    """RFC 3339 (``2024-01-02T03:04:05Z``) → unix seconds; None when absent or unparsable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def age(timestamp: str | None, now: float) -> str:
    """kubectl's AGE column: ``45s``, ``12m``, ``5h``, ``3d``; ``<unknown>`` without a timestamp."""
    start = parse_time(timestamp)
    if start is None:
        return "<unknown>"
    seconds = max(0, int(now - start))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by three spaces, like ``kubectl get``."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = obj.get("metadata") or {}
    return result


def owner_workload(pod: dict[str, Any]) -> str:
    """The Deployment/StatefulSet/DaemonSet owning a pod (ReplicaSet owners lose their hash suffix)."""
    md = meta(pod)
    for ref in md.get("ownerReferences") or []:
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        if kind == "ReplicaSet":
            template_hash = (md.get("labels") or {}).get("pod-template-hash")
            if template_hash and name.endswith("-" + template_hash):
                return name[: -len(template_hash) - 1]
            return name.rsplit("-", 1)[0]
        if kind in ("StatefulSet", "DaemonSet", "Deployment", "Job"):
            return name
    labels = md.get("labels") or {}
    for key in ("app.kubernetes.io/name", "app", "io.kompose.service", "service"):
        if key in labels:
            return str(labels[key])
    return str(md.get("name", ""))


def pod_status(pod: dict[str, Any]) -> dict[str, Any]:
    """The STATUS/READY/RESTARTS kubectl shows, and the reasons behind them, as a flat dict."""
    md = meta(pod)
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    containers = status.get("containerStatuses") or []
    total = len(spec.get("containers") or containers) or len(containers)
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    shown = status.get("reason") or status.get("phase") or "Unknown"
    waiting_reason = terminated_reason = last_reason = None
    last_at: float | None = None
    messages: list[str] = []
    for c in status.get("initContainerStatuses") or []:
        state = c.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            shown = f"Init:{state['waiting']['reason']}"
    for c in containers:
        state = c.get("state") or {}
        last = (c.get("lastState") or {}).get("terminated") or {}
        if last.get("reason"):
            last_reason = last["reason"]
            last_at = parse_time(last.get("finishedAt"))
        if "waiting" in state:
            waiting_reason = state["waiting"].get("reason") or waiting_reason
            if state["waiting"].get("message"):
                messages.append(str(state["waiting"]["message"]))
        elif "terminated" in state:
            terminated_reason = state["terminated"].get("reason") or "Error"
            if state["terminated"].get("message"):
                messages.append(str(state["terminated"]["message"]))
    if terminated_reason:
        shown = terminated_reason
    if waiting_reason:
        shown = waiting_reason
    unschedulable = None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            unschedulable = cond.get("message") or cond.get("reason") or "Unschedulable"
    if md.get("deletionTimestamp"):
        shown = "Terminating"
    return {
        "name": md.get("name", ""),
        "namespace": md.get("namespace", ""),
        "workload": owner_workload(pod),
        "ready": ready,
        "total": total,
        "status": shown,
        "phase": status.get("phase", ""),
        "restarts": restarts,
        "waiting_reason": waiting_reason,
        "terminated_reason": terminated_reason,
        "last_termination_reason": last_reason,
        "last_termination_at": last_at,
        "unschedulable": unschedulable,
        "messages": messages,
        "node": spec.get("nodeName") or "<none>",
        "ip": status.get("podIP") or "<none>",
        "labels": md.get("labels") or {},
        "created": parse_time(md.get("creationTimestamp")),
        "healthy": shown == "Running" and total > 0 and ready == total,
    }


def service_ports(svc: dict[str, Any]) -> str:
    """kubectl's PORT(S) column (``8080/TCP``, ``80:30080/TCP``)."""
    parts = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        text = str(port.get("port"))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def annotations_text(annotations: dict[str, Any] | None) -> str:
    """Annotations as ``k=v``, without ``kubectl apply``'s copy of the whole manifest (``kubectl
    describe`` hides it too): it repeats the spec at length, env values and all."""
    shown = {k: v for k, v in (annotations or {}).items() if k != LAST_APPLIED}
    text = selector_text(shown)
    return text + (f" ({LAST_APPLIED} omitted)" if annotations and LAST_APPLIED in annotations else "")


def selector_text(selector: dict[str, Any] | None) -> str:
    if not selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def endpoints_addresses(ep: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(ready ``ip:port`` list, not-ready ``ip:port`` list) of an Endpoints object."""
    ready: list[str] = []
    not_ready: list[str] = []
    for subset in ep.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for addr in subset.get("addresses") or []:
            ready.extend(f"{addr.get('ip')}:{p}" if p else str(addr.get("ip")) for p in ports)
        for addr in subset.get("notReadyAddresses") or []:
            not_ready.extend(f"{addr.get('ip')}:{p}" if p else str(addr.get("ip")) for p in ports)
    return ready, not_ready


def node_status(node: dict[str, Any]) -> dict[str, Any]:
    """Ready/NotReady, SchedulingDisabled and the pressure conditions that are True."""
    conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
    ready = conditions.get("Ready", {}).get("status") == "True"
    problems = [
        t
        for t, c in conditions.items()
        if t != "Ready" and c.get("status") == "True" and str(t).endswith(("Pressure", "Unavailable"))
    ]
    unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
    text = "Ready" if ready else "NotReady"
    if unschedulable:
        text += ",SchedulingDisabled"
    labels = meta(node).get("labels") or {}
    roles = [k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")]
    return {
        "name": meta(node).get("name", ""),
        "ready": ready,
        "unschedulable": unschedulable,
        "status": text,
        "pressure": problems,
        "taints": [
            f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in node["spec"].get("taints") or []
        ]
        if node.get("spec")
        else [],
        "roles": ",".join(roles) or "<none>",
        "version": ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""),
    }


def container_summary(container: dict[str, Any]) -> dict[str, Any]:
    """The parts of a container spec an SRE checks: image, command, ports, env, resources, probes."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item.get("value"))
        elif item.get("valueFrom"):
            source = item["valueFrom"]
            for ref_kind in ("secretKeyRef", "configMapKeyRef"):
                if ref_kind in source:
                    ref = source[ref_kind]
                    what = "secret" if ref_kind == "secretKeyRef" else "configmap"
                    env[item["name"]] = f"<set to the key '{ref.get('key')}' in {what} '{ref.get('name')}'>"
            if "fieldRef" in source:
                env[item["name"]] = f"<field {source['fieldRef'].get('fieldPath')}>"
    return {
        "name": container.get("name", ""),
        "image": container.get("image", ""),
        "command": list(container.get("command") or []),
        "args": list(container.get("args") or []),
        "ports": [p.get("containerPort") for p in container.get("ports") or []],
        "env": env,
        "env_from": [
            (ref.get("secretRef") or ref.get("configMapRef") or {}).get("name", "")
            for ref in container.get("envFrom") or []
        ],
        "resources": container.get("resources") or {},
        "liveness": container.get("livenessProbe"),
        "readiness": container.get("readinessProbe"),
        "mounts": [f"{m.get('mountPath')} from {m.get('name')}" for m in container.get("volumeMounts") or []],
    }


def probe_text(probe: dict[str, Any] | None) -> str:
    """kubectl describe's probe line: ``http-get http://:8080/healthz delay=10s timeout=1s …``."""
    if not probe:
        return "<none>"
    if "httpGet" in probe:
        h = probe["httpGet"]
        how = f"http-get http://:{h.get('port')}{h.get('path', '/')}"
    elif "tcpSocket" in probe:
        how = f"tcp-socket :{probe['tcpSocket'].get('port')}"
    elif "exec" in probe:
        how = "exec " + str(probe["exec"].get("command"))
    elif "grpc" in probe:
        how = f"grpc :{probe['grpc'].get('port')}"
    else:
        how = "unknown"
    return (
        f"{how} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
        f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
        f"#failure={probe.get('failureThreshold', 3)}"
    )
