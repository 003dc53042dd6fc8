"""One reconcile: run the controllers, scheduler and kubelet to a fixed point, then render status.

Called after every write and clock advance, so reads always see a converged cluster (the simulator
compresses the seconds a real control plane takes into one step; the clock is what moves time).
"""

from __future__ import annotations

from aoi.sim.kube.controllers import (
    collect_garbage,
    sync_deployments,
    sync_replicasets,
    sync_statefulsets,
)
from aoi.sim.kube.kubelet import render_pod_status, run_kubelet
from aoi.sim.kube.scheduler import schedule
from aoi.sim.kube.status import render_workloads, sync_endpoints
from aoi.sim.kube.volumes import sync_volumes
from aoi.sim.world import State

MAX_PASSES = 12


def reconcile(state: State) -> None:
    for _ in range(MAX_PASSES):
        changed = sync_volumes(state)
        changed |= collect_garbage(state)
        changed |= sync_deployments(state)
        changed |= sync_replicasets(state)
        changed |= sync_statefulsets(state)
        changed |= schedule(state)
        changed |= run_kubelet(state)
        for pod in state.store.items("Pod"):
            render_pod_status(state, pod)
        changed |= sync_endpoints(state)
        if not changed:
            break
    render_workloads(state)
