"""The PersistentVolume controller: bind Pending claims to Available volumes of their storage class
and mark volumes whose claim was deleted ``Released`` (reclaim policy Retain keeps them unusable until
an operator clears ``spec.claimRef``)."""

from __future__ import annotations

from typing import Any

from aoi.sim.kube import events
from aoi.sim.world import State

Obj = dict[str, Any]


def sync_volumes(state: State) -> bool:
    """Bind Pending PVCs to Available PVs of their storage class; mark PVs of deleted claims Released."""
    changed = False
    for pvc in state.store.items("PersistentVolumeClaim"):
        if pvc["metadata"].get("deletionTimestamp"):
            ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
            used = any(
                (v.get("persistentVolumeClaim") or {}).get("claimName") == name
                for p in state.store.items("Pod", ns)
                for v in p["spec"].get("volumes") or []
            )
            if not used:
                state.store.remove("PersistentVolumeClaim", ns, name)
                changed = True
    pvs = state.store.items("PersistentVolume")
    for pv in pvs:
        ref = pv["spec"].get("claimRef")
        phase = pv.get("status", {}).get("phase")
        if ref:
            claim = state.store.get("PersistentVolumeClaim", ref.get("namespace", ""), ref.get("name", ""))
            if claim is not None and ref.get("uid") in (None, claim["metadata"]["uid"]):
                want = "Bound"
            elif ref.get("uid") is None:
                want = "Available"
            else:
                want = "Released"
        else:
            want = "Available"
        if phase != want:
            changed |= state.store.set_field(pv, "status", {"phase": want})
    for pvc in state.store.items("PersistentVolumeClaim"):
        if pvc.get("status", {}).get("phase") == "Bound" and pvc["spec"].get("volumeName"):
            continue
        ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        match = next(
            (
                pv
                for pv in pvs
                if pv["status"].get("phase") == "Available"
                and pv["spec"].get("storageClassName") == pvc["spec"].get("storageClassName")
                and (
                    not pv["spec"].get("claimRef")
                    or (
                        pv["spec"]["claimRef"].get("name") == name
                        and pv["spec"]["claimRef"].get("namespace") == ns
                    )
                )
            ),
            None,
        )
        if match is None:
            events.record(
                state,
                pvc,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
                "Warning",
                component="persistentvolume-controller",
            )
            continue
        match["spec"]["claimRef"] = {
            "kind": "PersistentVolumeClaim",
            "namespace": ns,
            "name": name,
            "uid": pvc["metadata"]["uid"],
            "apiVersion": "v1",
            "resourceVersion": pvc["metadata"]["resourceVersion"],
        }
        match["status"] = {"phase": "Bound"}
        state.store.touch(match)
        pvc["spec"]["volumeName"] = match["metadata"]["name"]
        pvc["status"] = {
            "phase": "Bound",
            "accessModes": list(match["spec"].get("accessModes", [])),
            "capacity": dict(match["spec"].get("capacity", {})),
        }
        pvc["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
        state.store.touch(pvc)
        changed = True
    return changed
