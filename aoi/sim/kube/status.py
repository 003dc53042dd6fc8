"""Status rendering for workloads and the Endpoints controller.

Runs after every reconcile pass: ReplicaSet/Deployment/StatefulSet status counts and conditions, and
Endpoints built from the Pods a Service selects (ready ones under ``addresses``, the others under
``notReadyAddresses``) with each port's ``targetPort`` resolved (named ports via the pod's
container ports), exactly as the endpoints controller publishes them.
"""

from __future__ import annotations

from typing import Any

from aoi.sim.kube.controllers import REVISION, by_owner, pod_ready, rolling_params
from aoi.sim.kube.selectors import match_labels
from aoi.sim.kube.store import iso
from aoi.sim.world import State

Obj = dict[str, Any]


def _counts(state: State, pods: list[Obj]) -> tuple[int, int]:
    ready = sum(1 for p in pods if pod_ready(state, p))
    return len(pods), ready


def _compact(status: Obj) -> Obj:
    """Kubernetes omits zero-valued counters from workload status."""
    return {k: v for k, v in status.items() if v not in (0, None) or k == "replicas"}


def _condition(old: list[Obj], type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    prev = next((c for c in old if c.get("type") == type_), None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": now
        if not prev or prev.get("reason") != reason
        else prev.get("lastUpdateTime", now),
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }


def render_workloads(state: State) -> None:
    pods_by_ns: dict[str, list[Obj]] = {}
    for pod in state.store.items("Pod"):
        pods_by_ns.setdefault(pod["metadata"]["namespace"], []).append(pod)
    rs_pods: dict[str, list[Obj]] = {}
    pods_of = by_owner(state, "Pod")
    rs_of = by_owner(state, "ReplicaSet")
    for rs in state.store.items("ReplicaSet"):
        pods = pods_of.get(rs["metadata"]["uid"], [])
        rs_pods[rs["metadata"]["uid"]] = pods
        total, ready = _counts(state, pods)
        state.store.set_field(
            rs,
            "status",
            _compact(
                {
                    "replicas": total,
                    "fullyLabeledReplicas": total,
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "observedGeneration": rs["metadata"].get("generation", 1),
                }
            ),
        )
    now = iso(state.now)
    for dep in state.store.items("Deployment"):
        owned = rs_of.get(dep["metadata"]["uid"], [])
        rev = dep["metadata"].get("annotations", {}).get(REVISION)
        new = next((rs for rs in owned if rs["metadata"]["annotations"].get(REVISION) == rev), None)
        pods = [p for rs in owned for p in rs_pods.get(rs["metadata"]["uid"], [])]
        total, ready = _counts(state, pods)
        new_pods = rs_pods.get(new["metadata"]["uid"], []) if new else []
        new_total, new_ready = _counts(state, new_pods)
        desired = int(dep["spec"].get("replicas", 1))
        _, max_unavailable = rolling_params(dep)
        old_conds = dep.get("status", {}).get("conditions", []) or []
        if ready >= desired - max_unavailable:
            avail = _condition(
                old_conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        else:
            avail = _condition(
                old_conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        rs_name = new["metadata"]["name"] if new else dep["metadata"]["name"]
        since = state.extra.get("progress_since", {}).get(dep["metadata"]["uid"], state.now)
        deadline = float(dep["spec"].get("progressDeadlineSeconds", 600))
        if new_ready >= desired and total == new_total:
            prog = _condition(
                old_conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
            )
        elif state.now - since > deadline:
            prog = _condition(
                old_conds,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
                now,
            )
        else:
            prog = _condition(
                old_conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                now,
            )
        status = _compact(
            {
                "observedGeneration": dep["metadata"].get("generation", 1),
                "replicas": total,
                "updatedReplicas": new_total,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "unavailableReplicas": max(desired - ready, 0),
            }
        )
        status["conditions"] = [avail, prog]
        state.store.set_field(dep, "status", status)
    for sts in state.store.items("StatefulSet"):
        pods = pods_of.get(sts["metadata"]["uid"], [])
        total, ready = _counts(state, pods)
        state.store.set_field(
            sts,
            "status",
            _compact(
                {
                    "observedGeneration": sts["metadata"].get("generation", 1),
                    "replicas": total,
                    "readyReplicas": ready,
                    "currentReplicas": total,
                    "updatedReplicas": total,
                    "availableReplicas": ready,
                    "collisionCount": 0,
                }
            ),
        )


def _resolve_target(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for c in pod["spec"].get("containers", []):
        for p in c.get("ports", []) or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


def sync_endpoints(state: State) -> bool:
    """One Endpoints object per selector Service, mirroring the endpoints controller; True on change."""
    changed = False
    by_label: dict[tuple[str, str, str], list[Obj]] = {}
    for pod in state.store.items("Pod"):
        if pod["metadata"]["uid"] in state.pods:
            for k, v in (pod["metadata"].get("labels") or {}).items():
                by_label.setdefault((pod["metadata"]["namespace"], k, v), []).append(pod)
    for svc in state.store.items("Service"):
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        selector = svc["spec"].get("selector")
        if not selector:
            continue
        subsets: list[Obj] = []
        groups: dict[tuple[tuple[str, int], ...], Obj] = {}
        first_key, first_value = next(iter(selector.items()))
        for pod in by_label.get((ns, first_key, str(first_value)), []):
            run = state.pods[pod["metadata"]["uid"]]
            if not match_labels(selector, pod["metadata"].get("labels", {})):
                continue
            ports = []
            for p in svc["spec"].get("ports", []):
                target = _resolve_target(p, pod)
                if target is not None:
                    ports.append((p.get("name", ""), target))
            if not ports:
                continue
            key = tuple(ports)
            subset = groups.get(key)
            if subset is None:
                subset = {"ports": [{"name": n, "port": t, "protocol": "TCP"} for n, t in ports]}
                groups[key] = subset
                subsets.append(subset)
            address = {
                "ip": run.ip,
                "nodeName": run.node,
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            bucket = "addresses" if pod_ready(state, pod) else "notReadyAddresses"
            subset.setdefault(bucket, []).append(address)
        for subset in subsets:  # Kubernetes lists addresses before ports
            subset["ports"] = subset.pop("ports")
        labels = dict(svc["metadata"].get("labels", {}))
        existing = state.store.get("Endpoints", ns, name)
        obj: Obj = {"kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": labels}}
        if subsets:
            obj["subsets"] = subsets
        if existing is None:
            state.store.put(obj, state.now)
            changed = True
        else:
            if existing.get("subsets") != obj.get("subsets"):
                changed = True
                if subsets:
                    existing["subsets"] = subsets
                else:
                    existing.pop("subsets", None)
                state.store.touch(existing)
    for eps in state.store.items("Endpoints"):
        if state.store.get("Service", eps["metadata"]["namespace"], eps["metadata"]["name"]) is None:
            state.store.remove("Endpoints", eps["metadata"]["namespace"], eps["metadata"]["name"])
            changed = True
    return changed
