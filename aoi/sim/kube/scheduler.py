"""The scheduler: place pending pods on feasible nodes, or explain why none fits.

Filters (in the order kube-scheduler reports them): PVCs exist and are bound, node is schedulable
(not cordoned), taints tolerated, nodeSelector / required node affinity, PV node affinity, resource
requests fit. The least-requested feasible node wins (ties by name), so placement is deterministic.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aoi.sim.kube import events
from aoi.sim.kube.quantity import cpu_millicores, memory_bytes
from aoi.sim.world import PodRun, State

Obj = dict[str, Any]
_PREEMPTION = "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."


def _requests(pod: Obj) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in pod["spec"].get("containers", []):
        req = (c.get("resources") or {}).get("requests") or {}
        cpu += cpu_millicores(req.get("cpu")) or 0.0
        mem += memory_bytes(req.get("memory")) or 0.0
    return cpu, mem


def _tolerates(pod: Obj, taint: Obj) -> bool:
    for tol in pod["spec"].get("tolerations", []) or []:
        if tol.get("operator") == "Exists" and not tol.get("key"):
            return True
        same_key = tol.get("key") == taint.get("key") and tol.get("effect") in (None, "", taint.get("effect"))
        if same_key and (tol.get("operator") == "Exists" or tol.get("value") == taint.get("value")):
            return True
    return False


def _match_expr(labels: dict[str, str], expr: Obj) -> bool:
    key, op, values = str(expr.get("key", "")), expr.get("operator"), expr.get("values", []) or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def _affinity_ok(terms: list[Obj] | None, labels: dict[str, str]) -> bool:
    if not terms:
        return True
    return any(all(_match_expr(labels, e) for e in t.get("matchExpressions", []) or []) for t in terms)


def _node_ready(node: Obj) -> bool:
    conds = node.get("status", {}).get("conditions", []) or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    return ready is None or ready.get("status") == "True"


def _claims(state: State, pod: Obj) -> tuple[list[Obj], str | None]:
    ns = pod["metadata"]["namespace"]
    pvs = []
    for vol in pod["spec"].get("volumes", []) or []:
        claim_name = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim_name:
            continue
        pvc = state.store.get("PersistentVolumeClaim", ns, claim_name)
        if pvc is None:
            return [], f'persistentvolumeclaim "{claim_name}" not found'
        if pvc.get("status", {}).get("phase") != "Bound":
            return [], "pod has unbound immediate PersistentVolumeClaims"
        pv = state.store.get("PersistentVolume", "", pvc["spec"].get("volumeName", ""))
        if pv is not None:
            pvs.append(pv)
    return pvs, None


def _node_filter(
    state: State, pod: Obj, node: Obj, pvs: list[Obj], load: dict[str, list[float]]
) -> str | None:
    labels = node["metadata"].get("labels", {})
    if node["spec"].get("unschedulable"):
        return "node(s) were unschedulable"
    taints = list(node["spec"].get("taints", []) or [])
    if not _node_ready(node) and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod, taint):
            value = taint.get("value", "")
            return f"node(s) had untolerated taint {{{taint.get('key')}: {value}}}"
    selector = pod["spec"].get("nodeSelector") or {}
    affinity = (
        ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if any(labels.get(k) != v for k, v in selector.items()) or not _affinity_ok(affinity, labels):
        return "node(s) didn't match Pod's node affinity/selector"
    for pv in pvs:
        terms = ((pv["spec"].get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")
        if not _affinity_ok(terms, labels):
            return "node(s) had volume node affinity conflict"
    cpu, mem = _requests(pod)
    alloc = node.get("status", {}).get("allocatable", {})
    used = load.get(node["metadata"]["name"], [0.0, 0.0])
    if used[0] + cpu > (cpu_millicores(alloc.get("cpu", "8")) or 0):
        return "Insufficient cpu"
    if used[1] + mem > (memory_bytes(alloc.get("memory", "32Gi")) or 0):
        return "Insufficient memory"
    return None


def schedule(state: State) -> bool:
    """Bind every unscheduled pod that fits; record FailedScheduling for the others."""
    nodes = state.store.items("Node")
    load: dict[str, list[float]] = {n["metadata"]["name"]: [0.0, 0.0] for n in nodes}
    pending = []
    for pod in state.store.items("Pod"):
        node_name = pod["spec"].get("nodeName")
        if node_name:
            cpu, mem = _requests(pod)
            load.setdefault(node_name, [0.0, 0.0])
            load[node_name][0] += cpu
            load[node_name][1] += mem
        else:
            pending.append(pod)
    changed = False
    for pod in pending:
        pvs, claim_error = _claims(state, pod)
        n = len(nodes)
        if claim_error:
            message = f"0/{n} nodes are available: {claim_error}. " + _PREEMPTION.format(n=n)
            _unschedulable(state, pod, message)
            continue
        reasons: Counter[str] = Counter()
        feasible = []
        for node in nodes:
            why = _node_filter(state, pod, node, pvs, load)
            if why:
                reasons[why] += 1
            else:
                feasible.append(node)
        if not feasible:
            detail = ", ".join(f"{count} {why}" for why, count in sorted(reasons.items()))
            _unschedulable(state, pod, f"0/{n} nodes are available: {detail}. " + _PREEMPTION.format(n=n))
            continue
        best = min(feasible, key=lambda nd: (load[nd["metadata"]["name"]][0], nd["metadata"]["name"]))
        _bind(state, pod, best, nodes.index(best))
        cpu, mem = _requests(pod)
        load[best["metadata"]["name"]][0] += cpu
        load[best["metadata"]["name"]][1] += mem
        changed = True
    return changed


def _unschedulable(state: State, pod: Obj, message: str) -> None:
    status = {
        "phase": "Pending",
        "qosClass": pod.get("status", {}).get("qosClass", "Burstable"),
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": pod["metadata"]["creationTimestamp"],
            }
        ],
    }
    state.store.set_field(pod, "status", status)
    events.record(state, pod, "FailedScheduling", message, "Warning", component="default-scheduler")


def _bind(state: State, pod: Obj, node: Obj, node_index: int) -> None:
    node_name = node["metadata"]["name"]
    counter: dict[str, int] = state.extra.setdefault("ip_counter", {})
    counter[node_name] = counter.get(node_name, 1) + 1
    ip = f"10.244.{node_index}.{counter[node_name] % 250 + 2}"
    pod["spec"]["nodeName"] = node_name
    state.store.touch(pod)
    state.pods[pod["metadata"]["uid"]] = PodRun(
        uid=pod["metadata"]["uid"],
        node=node_name,
        ip=ip,
        created_at=state.now,
        start_after=state.now + float(state.extra.get("start_delay_s", 0)),
    )
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    events.record(
        state,
        pod,
        "Scheduled",
        f"Successfully assigned {ns}/{name} to {node_name}",
        component="default-scheduler",
    )
