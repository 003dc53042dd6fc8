"""The resource catalogue of the simulated API server and the discovery documents built from it.

kubectl and client-go find resources through discovery (``/api``, ``/api/v1``, ``/apis``,
``/apis/<group>/<version>``) before any other call; the ``scale`` subresource entry must name
``autoscaling/v1 Scale`` or ``kubectl scale`` cannot resolve it. Aggregated discovery (asked for with
``Accept: ...;g=apidiscovery.k8s.io;...``) is answered with the plain form, which clients accept as a
fallback. Only verbs the server really implements are advertised (no ``watch``, ``create``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-aoi-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

READ_VERBS = ["get", "list"]
WRITE_VERBS = ["delete", "get", "list", "patch"]


@dataclass(frozen=True)
class Resource:
    """One REST resource: its URL plural, Kind, API group/version and scope."""

    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(WRITE_VERBS)
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_resource(self) -> str:
        """The name used in RBAC messages: ``deployments.apps`` or ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), tuple(READ_VERBS)),
    Resource("nodes", "Node", "", "v1", False, ("no",), ("get", "list", "patch")),
    Resource("pods", "Pod", "", "v1", True, ("po",), subresources=("log", "exec"), categories=("all",)),
    Resource("services", "Service", "", "v1", True, ("svc",), categories=("all",)),
    Resource("endpoints", "Endpoints", "", "v1", True, ("ep",)),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",)),
    Resource("secrets", "Secret", "", "v1", True),
    Resource("events", "Event", "", "v1", True, ("ev",), tuple(READ_VERBS)),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True, ("pvc",)),
    Resource("persistentvolumes", "PersistentVolume", "", "v1", False, ("pv",)),
    Resource(
        "deployments",
        "Deployment",
        "apps",
        "v1",
        True,
        ("deploy",),
        subresources=("scale",),
        categories=("all",),
    ),
    Resource(
        "replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), subresources=("scale",), categories=("all",)
    ),
    Resource(
        "statefulsets",
        "StatefulSet",
        "apps",
        "v1",
        True,
        ("sts",),
        subresources=("scale",),
        categories=("all",),
    ),
    # Read-only views derived from Endpoints and Nodes (see derived.py).
    Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", True, (), tuple(READ_VERBS)),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True, (), tuple(READ_VERBS)),
)

BY_PATH: dict[tuple[str, str], Resource] = {(r.group_version, r.plural): r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}
DERIVED_KINDS = frozenset({"EndpointSlice", "Lease"})
GROUP_VERSIONS: tuple[str, ...] = tuple(dict.fromkeys(r.group_version for r in RESOURCES if r.group))


def _subresource_entry(resource: Resource, sub: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{resource.plural}/{sub}",
        "singularName": "",
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": ["get"],
    }
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale", verbs=["get", "patch", "update"])
    elif sub == "exec":
        entry.update(kind="PodExecOptions", verbs=["create", "get"])
    return entry


def subresource_verbs(resource: Resource, sub: str) -> list[str]:
    """The verbs a subresource supports (as advertised in discovery)."""
    return list(_subresource_entry(resource, sub)["verbs"])


def resource_list(group_version: str) -> dict[str, Any] | None:
    """``APIResourceList`` for ``v1`` or ``apps/v1``; None for an unknown group/version."""
    resources: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.group_version != group_version:
            continue
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.kind.lower(),
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        resources.extend(_subresource_entry(r, sub) for sub in r.subresources)
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list() -> dict[str, Any]:
    """``/apis``: the named groups (``apps``; ``discovery.k8s.io`` and ``coordination.k8s.io`` derived)."""
    groups = []
    for gv in GROUP_VERSIONS:
        group, version = gv.split("/")
        preferred = {"groupVersion": gv, "version": version}
        groups.append({"name": group, "versions": [preferred], "preferredVersion": preferred})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    """``/apis/<group>``: one group's versions."""
    for entry in api_group_list()["groups"]:
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None
