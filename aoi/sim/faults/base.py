"""Shared helpers for fault injectors: finding a service's pods, workloads and clients.

Every injector has ``inject(cluster, app, target, params)`` (apply the fault through the cluster's
writes and, where the fault lives below the API, the simulated world) and
``check(cluster, app, target, params) -> (undone, why)`` used by the mitigation grader; a few also
have ``prepare(cluster, app, target, params, fault_at)`` for what must be true since deployment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aoi.sim.apps import AppSpec
from aoi.sim.world import PodRun

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

Obj = dict[str, Any]


class Injector(Protocol):
    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None: ...

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]: ...


@runtime_checkable
class Preparing(Protocol):
    """An injector whose fault needs a precondition in place since deployment (see ``faults.prepare``)."""

    def prepare(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any], fault_at: float
    ) -> None: ...


def pods_of(c: SimCluster, app: AppSpec, service: str) -> list[Obj]:
    return c.list_objects("Pod", app.namespace, label_selector=f"{app.label_key}={service}")


def runs_of(c: SimCluster, app: AppSpec, service: str) -> list[PodRun]:
    runs = (c._state.pods.get(p["metadata"]["uid"]) for p in pods_of(c, app, service))
    return [r for r in runs if r is not None]


def workload(c: SimCluster, app: AppSpec, service: str) -> Obj:
    kind = app.service(service).workload
    return c.get_object(kind, app.namespace, service)


def container_of(obj: Obj) -> Obj:
    """The (single) main container of a Deployment/StatefulSet template."""
    containers: list[Obj] = obj["spec"]["template"]["spec"]["containers"]
    return containers[0]


def patch_container(c: SimCluster, app: AppSpec, service: str, changes: Obj) -> None:
    """Strategic-merge ``changes`` into the service's main container (triggers a rollout)."""
    obj = workload(c, app, service)
    name = container_of(obj)["name"]
    c.patch_object(
        obj["kind"],
        app.namespace,
        service,
        {"spec": {"template": {"spec": {"containers": [{"name": name, **changes}]}}}},
        "strategic",
    )


def clients_of(app: AppSpec, service: str) -> list[str]:
    return sorted({caller for caller, callee in app.edges() if callee == service})


def restart_pods(c: SimCluster, app: AppSpec, *services: str) -> None:
    """Delete the services' pods (their controllers recreate them), as an operator's restart does."""
    from aoi.sim.kube.controllers import delete_pod

    for service in services:
        for pod in pods_of(c, app, service):
            delete_pod(c._state, c._state.store.require("Pod", app.namespace, pod["metadata"]["name"]))
    c._after_write()


def pods_ready(c: SimCluster, app: AppSpec, service: str) -> bool:
    pods = pods_of(c, app, service)
    return bool(pods) and all(
        all(cs.get("ready") for cs in p.get("status", {}).get("containerStatuses", [])) for p in pods
    )
