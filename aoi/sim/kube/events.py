"""Kubernetes Events as the components (scheduler, kubelet, controllers) record them.

Repeated identical events are aggregated (``count`` and ``lastTimestamp`` grow), like the real event
recorder does; reads drop events older than the API server's one-hour TTL.
"""

from __future__ import annotations

from typing import Any

from aoi.sim.kube.store import CLUSTER_SCOPED, iso
from aoi.sim.world import State

EVENT_TTL_S = 3600.0


def record(
    state: State,
    involved: dict[str, Any],
    reason: str,
    message: str,
    type_: str = "Normal",
    component: str = "kubelet",
    host: str | None = None,
    field_path: str | None = None,
    count: int | None = None,
) -> None:
    """Record (or aggregate into) an event about ``involved``; ``count`` pins the count if given."""
    meta = involved["metadata"]
    ns = meta.get("namespace") or "default"
    index: dict[tuple[str, ...], str] = state.extra.setdefault("event_index", {})
    key = (ns, meta.get("uid", meta["name"]), reason, message)
    name = index.get(key)
    now = iso(state.now)
    if name is not None:
        ev = state.store.get("Event", ns, name)
        if ev is not None:
            new_count = count if count is not None else ev["count"] + 1
            if new_count != ev["count"]:
                ev["count"] = new_count
                ev["lastTimestamp"] = now
                state.store.touch(ev)
            return
    name = f"{meta['name']}.{state.store.rng.getrandbits(64):016x}"
    index[key] = name
    involved_ref: dict[str, Any] = {
        "kind": involved["kind"],
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "apiVersion": involved.get("apiVersion", "v1"),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if involved["kind"] not in CLUSTER_SCOPED:
        involved_ref["namespace"] = ns
    if field_path:
        involved_ref["fieldPath"] = field_path
    source: dict[str, str] = {"component": component}
    if host:
        source["host"] = host
    state.store.put(
        {
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": count or 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        },
        state.now,
    )
