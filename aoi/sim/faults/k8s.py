"""Faults in Kubernetes objects: Service ports and selectors, replica counts, scheduling, volumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aoi.sim.apps import AppSpec
from aoi.sim.faults.base import Injector, pods_of, pods_ready, restart_pods, workload

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

Obj = dict[str, Any]
WRONG_PORT = 9999
MISSING_NODE = "extra-node"


def _main_port(c: SimCluster, app: AppSpec, service: str) -> Obj:
    svc = c.get_object("Service", app.namespace, service)
    ports: list[Obj] = svc["spec"]["ports"]
    return ports[0]


class TargetPort:
    """misconfig_k8s: the Service's targetPort points at a port nothing listens on."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        svc = c.get_object("Service", app.namespace, target or "")
        ports = svc["spec"]["ports"]
        right = app.service(target or "").container_port
        ports[0]["targetPort"] = WRONG_PORT if right != WRONG_PORT else WRONG_PORT - 1
        c.patch_object("Service", app.namespace, target or "", {"spec": {"ports": ports}}, "merge")

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        want = app.service(target or "").container_port
        got = _main_port(c, app, target or "").get("targetPort")
        return got == want, f"service {target} targetPort is {got}, pods listen on {want}"


class ScaleToZero:
    """scale_pods_to_zero: ``kubectl scale --replicas=0``."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        c.scale(app.namespace, target or "", 0)

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        replicas = workload(c, app, target or "")["spec"].get("replicas", 1)
        ok = replicas >= 1 and pods_ready(c, app, target or "")
        return ok, f"{target} has spec.replicas={replicas} and {'ready' if ok else 'no ready'} pods"


class NonExistentNode:
    """assign_to_non_existent_node: the pod template's nodeSelector names a node that does not exist."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        obj = workload(c, app, target or "")
        c.patch_object(
            obj["kind"],
            app.namespace,
            target or "",
            {"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": MISSING_NODE}}}}},
        )

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        selector = workload(c, app, target or "")["spec"]["template"]["spec"].get("nodeSelector") or {}
        nodes = c.list_objects("Node")
        fits = any(all(n["metadata"]["labels"].get(k) == v for k, v in selector.items()) for n in nodes)
        ok = fits and pods_ready(c, app, target or "")
        return ok, f"{target} nodeSelector {selector} {'matches' if fits else 'matches no'} node"


class SelectorMismatch:
    """service_selector_mismatch (ours): a canary-style selector edit leaves the Service without pods."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        c.patch_object("Service", app.namespace, target or "", {"spec": {"selector": {"version": "v2"}}})

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        selector = c.get_object("Service", app.namespace, target or "")["spec"].get("selector") or {}
        pods = pods_of(c, app, target or "")
        ok = (
            bool(selector)
            and bool(pods)
            and all(all(p["metadata"]["labels"].get(k) == v for k, v in selector.items()) for p in pods)
        )
        return ok, f"service {target} selector {selector} {'matches' if ok else 'does not match'} its pods"


def _pv_node(c: SimCluster, app: AppSpec, service: str) -> str:
    claim = app.service(service).pvc or ""
    pvc = c.get_object("PersistentVolumeClaim", app.namespace, claim)
    pv = c.get_object("PersistentVolume", None, pvc["spec"]["volumeName"])
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    return str(terms[0]["matchExpressions"][0]["values"][0])


class NodeCordoned:
    """node_cordoned (ours): a drain of the node holding the local volume was never undone."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        c.cordon(_pv_node(c, app, target or ""))
        restart_pods(c, app, target or "")

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        node = _pv_node(c, app, target or "")
        cordoned = bool(c.get_object("Node", None, node)["spec"].get("unschedulable"))
        ok = not cordoned and pods_ready(c, app, target or "")
        return ok, f"node {node} is {'cordoned' if cordoned else 'schedulable'}"


class RedeployWithoutPV:
    """redeploy_without_pv: the app was torn down and redeployed; the new claims find their volumes
    Released (bound to the deleted claims) and stay Pending, so the databases cannot start."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        state = c._state
        claims = [s.pvc for s in app.services if s.pvc]
        for name in claims:
            old = state.store.require("PersistentVolumeClaim", app.namespace, name or "")
            state.store.remove("PersistentVolumeClaim", app.namespace, name or "")
            fresh = {
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": name,
                    "namespace": app.namespace,
                    "finalizers": ["kubernetes.io/pvc-protection"],
                },
                "spec": {k: v for k, v in old["spec"].items() if k != "volumeName"},
                "status": {"phase": "Pending"},
            }
            state.store.put(fresh, state.now)
        restart_pods(c, app, *app.service_names)

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        pending = [
            p["metadata"]["name"]
            for p in c.list_objects("PersistentVolumeClaim", app.namespace)
            if p.get("status", {}).get("phase") != "Bound"
        ]
        return not pending, f"unbound claims: {pending}" if pending else "all claims Bound"


INJECTORS: dict[str, Injector] = {
    "misconfig_k8s": TargetPort(),
    "scale_pods_to_zero": ScaleToZero(),
    "assign_to_non_existent_node": NonExistentNode(),
    "service_selector_mismatch": SelectorMismatch(),
    "node_cordoned": NodeCordoned(),
    "redeploy_without_pv": RedeployWithoutPV(),
}
