"""Workload controllers: Deployment → ReplicaSets (rolling update / recreate, revisions), ReplicaSet →
Pods, StatefulSet → Pods, garbage collection by owner, and PersistentVolume binding.

Each ``sync_*`` returns True when it created or deleted something, so ``reconcile`` can iterate to a
fixed point. Status rendering lives in ``status``; pod start-up in ``kubelet``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from typing import Any

from aoi.sim.kube import events
from aoi.sim.kube.store import clone
from aoi.sim.world import State

Obj = dict[str, Any]
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: Obj) -> str:
    """A pod-template-hash-like 10-character id of a pod template."""
    return _hash_text(json.dumps(template, sort_keys=True, separators=(",", ":")))


@functools.lru_cache(maxsize=4096)
def _hash_text(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:10])


def workload_hash(state: State, obj: Obj) -> str:
    """``template_hash`` of a live Deployment/StatefulSet, memoised per resourceVersion."""
    memo: dict[tuple[str, str], str] = state.extra.setdefault("template_hash", {})
    key = (obj["metadata"]["uid"], obj["metadata"]["resourceVersion"])
    if key not in memo:
        memo[key] = template_hash(obj["spec"]["template"])
    return memo[key]


def owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner.get("apiVersion", "apps/v1"),
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def by_owner(state: State, kind: str) -> dict[str, list[Obj]]:
    """Objects of ``kind`` grouped by their controller's uid (one pass instead of a scan per owner)."""
    out: dict[str, list[Obj]] = {}
    for obj in state.store.items(kind):
        for ref in obj["metadata"].get("ownerReferences") or []:
            out.setdefault(ref.get("uid", ""), []).append(obj)
    return out


def owned_by(obj: Obj, owner: Obj) -> bool:
    return any(
        r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences", []) or []
    )


def pod_ready(state: State, pod: Obj) -> bool:
    run = state.pods.get(pod["metadata"]["uid"])
    if run is None or not run.containers:
        return False
    return all(c.state == "running" and c.ready for c in run.containers.values())


def delete_pod(state: State, pod: Obj, reason: str = "Killing") -> None:
    meta = pod["metadata"]
    run = state.pods.pop(meta["uid"], None)
    if run is not None:
        for c in run.containers.values():
            if c.state == "running":
                events.record(
                    state,
                    pod,
                    reason,
                    f"Stopping container {c.name}",
                    host=run.node,
                    field_path=f"spec.containers{{{c.name}}}",
                )
    state.store.remove("Pod", meta["namespace"], meta["name"])


def _percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = int(value[:-1]) * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value or 0)


def rolling_params(dep: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods, resolved like the Deployment controller does."""
    desired = int(dep["spec"].get("replicas", 1))
    ru = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = _percent(ru.get("maxSurge", "25%"), desired, True)
    unavailable = _percent(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        surge = 1
    return surge, unavailable


def _new_replicaset(state: State, dep: Obj, h: str, revision: int) -> Obj:
    template = clone(dep["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
    selector = clone(dep["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = h
    rs: Obj = {
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{dep['metadata']['name']}-{h}",
            "namespace": dep["metadata"]["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": str(dep["spec"].get("replicas", 1)),
                "deployment.kubernetes.io/max-replicas": str(
                    int(dep["spec"].get("replicas", 1)) + rolling_params(dep)[0]
                ),
            },
            "ownerReferences": [owner_ref(dep)],
            "generation": 1,
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    }
    events.record(
        state,
        dep,
        "ScalingReplicaSet",
        f"Scaled up replica set {rs['metadata']['name']} to {dep['spec'].get('replicas', 1)}",
        component="deployment-controller",
    )
    state.extra.setdefault("progress_since", {})[dep["metadata"]["uid"]] = state.now
    return state.store.put(rs, state.now)


def _set_replicas(state: State, dep: Obj, rs: Obj, n: int) -> bool:
    old = int(rs["spec"].get("replicas", 0))
    if old == n:
        return False
    rs["spec"]["replicas"] = n
    rs["metadata"]["generation"] = int(rs["metadata"].get("generation", 1)) + 1
    state.store.touch(rs)
    verb = "up" if n > old else "down"
    events.record(
        state,
        dep,
        "ScalingReplicaSet",
        f"Scaled {verb} replica set {rs['metadata']['name']} to {n}" + (f" from {old}" if n < old else ""),
        component="deployment-controller",
    )
    return True


def sync_deployments(state: State) -> bool:
    changed = False
    rs_of = by_owner(state, "ReplicaSet")
    pods_of = by_owner(state, "Pod")
    for dep in state.store.items("Deployment"):
        owned = list(rs_of.get(dep["metadata"]["uid"], []))
        h = workload_hash(state, dep)
        revs = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned]
        max_rev = max(revs, default=0)
        new = next(
            (rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == h), None
        )
        if new is None:
            new = _new_replicaset(state, dep, h, max_rev + 1)
            owned.append(new)
            changed = True
        elif int(new["metadata"]["annotations"].get(REVISION, "0")) != max_rev:
            new["metadata"]["annotations"][REVISION] = str(max_rev + 1)
            state.store.touch(new)
            state.extra.setdefault("progress_since", {})[dep["metadata"]["uid"]] = state.now
        rev = new["metadata"]["annotations"][REVISION]
        if dep["metadata"].setdefault("annotations", {}).get(REVISION) != rev:
            dep["metadata"]["annotations"][REVISION] = rev
            state.store.touch(dep)
        desired = int(dep["spec"].get("replicas", 1))
        olds = sorted(
            (rs for rs in owned if rs is not new),
            key=lambda r: -int(r["metadata"]["annotations"].get(REVISION, "0")),
        )
        old_pods = sum(int(rs["spec"].get("replicas", 0)) for rs in olds)
        if (dep["spec"].get("strategy") or {}).get("type") == "Recreate":
            for rs in olds:
                changed |= _set_replicas(state, dep, rs, 0)
            live_old = [p for rs in olds for p in pods_of.get(rs["metadata"]["uid"], [])]
            if not live_old:
                changed |= _set_replicas(state, dep, new, desired)
            continue
        _, max_unavailable = rolling_params(dep)
        changed |= _set_replicas(state, dep, new, desired)
        new_ready = sum(1 for p in pods_of.get(new["metadata"]["uid"], []) if pod_ready(state, p))
        allowed = 0 if desired == 0 or new_ready >= desired else max(0, desired - max_unavailable - new_ready)
        allowed = min(allowed, old_pods)
        for rs in olds:
            keep = min(int(rs["spec"].get("replicas", 0)), allowed)
            allowed -= keep
            changed |= _set_replicas(state, dep, rs, keep)
    return changed


def _pod_priority(state: State, pod: Obj) -> tuple[int, int, str]:
    """Deletion order when scaling down: unscheduled, then not ready, then newest first."""
    scheduled = 1 if pod["spec"].get("nodeName") else 0
    ready = 1 if pod_ready(state, pod) else 0
    return (scheduled, ready, "~" + pod["metadata"].get("creationTimestamp", ""))


def _new_pod(state: State, owner: Obj, name: str, extra_labels: dict[str, str] | None = None) -> Obj:
    template = owner["spec"]["template"]
    labels = dict(template.get("metadata", {}).get("labels", {}))
    labels.update(extra_labels or {})
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "annotations": dict(template.get("metadata", {}).get("annotations", {}) or {}),
            "ownerReferences": [owner_ref(owner)],
        },
        "spec": clone(template["spec"]),
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }
    if not pod["metadata"]["annotations"]:
        del pod["metadata"]["annotations"]
    return state.store.put(pod, state.now)


def sync_replicasets(state: State) -> bool:
    changed = False
    pods_of = by_owner(state, "Pod")
    for rs in state.store.items("ReplicaSet"):
        pods = pods_of.get(rs["metadata"]["uid"], [])
        diff = int(rs["spec"].get("replicas", 0)) - len(pods)
        for _ in range(max(diff, 0)):
            pod = _new_pod(state, rs, f"{rs['metadata']['name']}-{state.store.suffix()}")
            events.record(
                state,
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                component="replicaset-controller",
            )
            changed = True
        if diff < 0:
            for pod in sorted(pods, key=lambda p: _pod_priority(state, p))[:-diff]:
                delete_pod(state, pod)
                events.record(
                    state,
                    rs,
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )
            changed = True
    return changed


def sync_statefulsets(state: State) -> bool:
    changed = False
    for sts in state.store.items("StatefulSet"):
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        revision = f"{name}-{workload_hash(state, sts)}"
        desired = int(sts["spec"].get("replicas", 1))
        pods = {p["metadata"]["name"]: p for p in by_owner(state, "Pod").get(sts["metadata"]["uid"], [])}
        for i in range(desired):
            pod_name = f"{name}-{i}"
            pod = pods.get(pod_name)
            if pod is not None and pod["metadata"]["labels"].get("controller-revision-hash") != revision:
                delete_pod(state, pod)
                pod = None
            if pod is None:
                _new_pod(
                    state,
                    sts,
                    pod_name,
                    {
                        "controller-revision-hash": revision,
                        "statefulset.kubernetes.io/pod-name": pod_name,
                        "apps.kubernetes.io/pod-index": str(i),
                    },
                )
                events.record(
                    state,
                    sts,
                    "SuccessfulCreate",
                    f"create Pod {pod_name} in StatefulSet {name} successful",
                    component="statefulset-controller",
                )
                changed = True
        for pod_name, pod in pods.items():
            if (
                int(pod_name.rsplit("-", 1)[1]) >= desired
                and state.store.get("Pod", ns, pod_name) is not None
            ):
                delete_pod(state, pod)
                changed = True
    return changed


def collect_garbage(state: State) -> bool:
    """Delete objects whose controlling owner is gone (cascading deletion)."""
    changed = False
    for kind in ("ReplicaSet", "Pod"):
        for obj in state.store.items(kind):
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs:
                continue
            ref = refs[0]
            owner = state.store.get(ref["kind"], obj["metadata"]["namespace"], ref["name"])
            if owner is None or owner["metadata"]["uid"] != ref["uid"]:
                if kind == "Pod":
                    delete_pod(state, obj)
                else:
                    state.store.remove(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
                changed = True
    return changed
