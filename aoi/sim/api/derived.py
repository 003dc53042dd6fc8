"""Read-only API objects derived from the cluster's own: EndpointSlices and node Leases.

The simulated cluster keeps ``Endpoints`` and ``Node`` objects; a real API server also serves their
modern companions, and kubectl reads those: ``kubectl describe service`` lists a Service's endpoints
from ``discovery.k8s.io/v1`` EndpointSlices (without them it prints ``Endpoints: <none>``, which
would wrongly suggest a selector mismatch), and ``kubectl describe node`` shows the node's
``coordination.k8s.io/v1`` Lease (its heartbeat). They are computed on each read from the source
objects, exactly as the EndpointSlice controller and the kubelet keep them in step, so they can never
disagree with what the simulator holds.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aoi.sim.api.cluster import ServedCluster
from aoi.sim.errors import NotFound
from aoi.sim.kube.selectors import parse_field_selector, parse_label_selector

Obj = dict[str, Any]
NODE_LEASE_NAMESPACE = "kube-node-lease"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _suffix(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:5]


def _slices(endpoints: Obj, service_uid: str) -> list[Obj]:
    meta = endpoints["metadata"]
    name, namespace = meta["name"], meta.get("namespace", "")
    out = []
    for index, subset in enumerate(endpoints.get("subsets") or [{}]):
        members = [(a, True) for a in subset.get("addresses") or []]
        members += [(a, False) for a in subset.get("notReadyAddresses") or []]
        endpoint_list = []
        for address, ready in members:
            entry: Obj = {
                "addresses": [address["ip"]],
                "conditions": {"ready": ready, "serving": ready, "terminating": False},
            }
            if address.get("nodeName"):
                entry["nodeName"] = address["nodeName"]
            if address.get("targetRef"):
                entry["targetRef"] = address["targetRef"]
            endpoint_list.append(entry)
        out.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{name}-{_suffix(f'{namespace}/{name}/{index}')}",
                    "namespace": namespace,
                    "labels": {
                        **(meta.get("labels") or {}),
                        SERVICE_NAME_LABEL: name,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                    "creationTimestamp": meta.get("creationTimestamp"),
                    "resourceVersion": meta.get("resourceVersion", "1"),
                    "uid": f"{meta.get('uid', name)}-slice-{index}",
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": name,
                            "uid": service_uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "addressType": "IPv4",
                "endpoints": endpoint_list,
                "ports": [
                    {k: v for k, v in port.items() if k in ("name", "port", "protocol", "appProtocol")}
                    for port in subset.get("ports") or []
                ],
            }
        )
    return out


def _micro_time(stamp: str | None) -> str | None:
    """``2025-05-30T08:00:00Z`` → ``2025-05-30T08:00:00.000000Z`` (a Lease's renewTime is a MicroTime)."""
    if not stamp or "." in stamp:
        return stamp
    return stamp.replace("Z", ".000000Z") if stamp.endswith("Z") else stamp


def _lease(node: Obj) -> Obj:
    meta = node["metadata"]
    conditions: list[Obj] = node.get("status", {}).get("conditions", [])
    ready: Obj = next((c for c in conditions if c.get("type") == "Ready"), {})
    renew = _micro_time(ready.get("lastHeartbeatTime") or meta.get("creationTimestamp"))
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": meta["name"],
            "namespace": NODE_LEASE_NAMESPACE,
            "uid": f"{meta.get('uid', meta['name'])}-lease",
            "resourceVersion": meta.get("resourceVersion", "1"),
            "creationTimestamp": meta.get("creationTimestamp"),
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta.get("uid", "")}
            ],
        },
        "spec": {"holderIdentity": meta["name"], "leaseDurationSeconds": 40, "renewTime": renew},
    }


def derive(cluster: ServedCluster, kind: str, namespace: str | None) -> list[Obj]:
    """All derived objects of ``kind`` (``EndpointSlice`` or ``Lease``) in ``namespace`` (None: all)."""
    if kind == "EndpointSlice":
        uids = {
            (svc["metadata"].get("namespace"), svc["metadata"]["name"]): svc["metadata"].get("uid", "")
            for svc in cluster.list_objects("Service", namespace)
        }
        return [
            s
            for ep in cluster.list_objects("Endpoints", namespace)
            for s in _slices(ep, uids.get((ep["metadata"].get("namespace"), ep["metadata"]["name"]), ""))
        ]
    if kind == "Lease":
        if namespace not in (None, NODE_LEASE_NAMESPACE):
            return []
        return [_lease(node) for node in cluster.list_objects("Node")]
    raise ValueError(f"no derived kind {kind!r}")


def list_derived(
    cluster: ServedCluster,
    kind: str,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
) -> list[Obj]:
    labels_ok, fields_ok = parse_label_selector(label_selector), parse_field_selector(field_selector)
    return [
        o
        for o in derive(cluster, kind, namespace)
        if labels_ok(o["metadata"].get("labels") or {}) and fields_ok(o)
    ]


def get_derived(cluster: ServedCluster, kind: str, namespace: str | None, name: str) -> Obj:
    for obj in derive(cluster, kind, namespace):
        if obj["metadata"]["name"] == name:
            return obj
    raise NotFound(f"{kind} {namespace}/{name} not found")
