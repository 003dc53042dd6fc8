"""The kubelet: start containers, keep crash-looping ones restarting with back-off, retry waiting
ones (image pull, missing config) and render each pod's status from what its containers do.

A crash-looping container is re-evaluated every pass; once its cause is gone (a DB grant restored, a
ConfigMap fixed) its next restart succeeds, as it would after the back-off in a real cluster.
"""

from __future__ import annotations

from typing import Any

from aoi.sim.behaviour.persona import Outcome, evaluate_start
from aoi.sim.kube import events
from aoi.sim.kube.status import sync_endpoints
from aoi.sim.kube.store import iso
from aoi.sim.world import ContainerRun, PodRun, State, crash_cycles

Obj = dict[str, Any]
_TIERS = {"mongodb": 0, "redis": 0, "memcached": 0, "kafka": 0, "infra": 1, "app": 2}


def _container_id(state: State, pod_uid: str, name: str, restarts: int) -> str:
    from aoi.sim.kube.builder import stable_int

    return "containerd://" + "".join(f"{stable_int(pod_uid, name, restarts, i):016x}" for i in range(4))


def _tier(state: State, pod: Obj) -> int:
    app = state.app_of(pod["metadata"]["namespace"])
    if app is None:
        return 2
    svc = (pod["metadata"].get("labels") or {}).get(app.label_key, "")
    spec = next((s for s in app.services if s.name == svc), None)
    return _TIERS.get(spec.kind, 2) if spec else 2


def _apply(
    state: State, pod: Obj, run: PodRun, spec: Obj, out: Outcome, prev: ContainerRun | None
) -> ContainerRun:
    name = spec["name"]
    field = f"spec.containers{{{name}}}"
    c = ContainerRun(
        name=name,
        image=str(spec.get("image", "")),
        state=out.state,
        reason=out.reason,
        message=out.message,
        started_at=state.now,
        run_s=out.run_s,
        exit_code=out.exit_code,
        term_reason=out.term_reason,
        ready=out.ready and out.state == "running",
        persona=out.program.name if out.program else None,
        listen_port=out.listen_port,
        snapshot=out.snapshot,
        fatal=out.fatal,
    )
    c.probe_events = [(r, m) for _, r, m in out.events]
    if prev is not None:
        c.restarts, c.last_term, c.last_fatal = prev.restarts, prev.last_term, prev.last_fatal
        if prev.state == "crashloop":
            c.last_fatal = list(prev.fatal)
        if prev.state == "crashloop" and prev.crash_origin is not None:
            n, start, end = crash_cycles(prev.crash_origin, prev.run_s, state.now)
            c.restarts = prev.restarts + n + (0 if out.state == "waiting" else 1)
            c.last_term = (start, min(end, state.now), prev.exit_code, prev.term_reason)
        elif prev.state == "running":
            c.restarts = prev.restarts + 1
            c.last_term = (prev.started_at, state.now, out.exit_code or 137, out.term_reason or "Error")
    if out.state == "crashloop":
        c.crash_origin = state.now
        c.reason = "CrashLoopBackOff"
    for type_, reason, message in out.events:
        events.record(state, pod, reason, message, type_, host=run.node, field_path=field)
    if out.state != "waiting":
        events.record(
            state,
            pod,
            "Pulled",
            f'Container image "{c.image}" already present on machine',
            host=run.node,
            field_path=field,
        )
        events.record(state, pod, "Created", f"Created container {name}", host=run.node, field_path=field)
        events.record(state, pod, "Started", f"Started container {name}", host=run.node, field_path=field)
    return c


def run_kubelet(state: State) -> bool:
    """Advance every scheduled pod's containers; True if any container changed state."""
    changed = False
    pods = [p for p in state.store.items("Pod") if p["metadata"]["uid"] in state.pods]
    pods.sort(key=lambda p: _tier(state, p))
    tier, tier_changed = None, False
    for pod in pods:
        if tier is not None and _tier(state, pod) != tier and tier_changed:
            sync_endpoints(state)  # later tiers find the databases they connect to at start-up
            tier_changed = False
        tier = _tier(state, pod)
        run = state.pods[pod["metadata"]["uid"]]
        app = state.app_of(pod["metadata"]["namespace"])
        if app is None or state.now < run.start_after:
            continue
        for spec in pod["spec"].get("containers", []):
            prev = run.containers.get(spec["name"])
            if prev is not None and prev.state == "running" and not run.sandbox_failing:
                continue
            out = evaluate_start(state, app, pod, spec, run)
            if (
                prev is not None
                and prev.state == out.state
                and prev.fatal == out.fatal
                and (prev.reason == out.reason or out.state == "crashloop")
            ):
                if prev.state == "crashloop":
                    restarts = prev.restart_count(state.now)
                    if restarts:
                        events.record(
                            state,
                            pod,
                            "BackOff",
                            f"Back-off restarting failed container {spec['name']} "
                            f"in pod {pod['metadata']['name']}_{pod['metadata']['namespace']}"
                            f"({pod['metadata']['uid']})",
                            "Warning",
                            host=run.node,
                            field_path=f"spec.containers{{{spec['name']}}}",
                            count=restarts,
                        )
                continue
            run.containers[spec["name"]] = _apply(state, pod, run, spec, out, prev)
            changed = tier_changed = True
    return changed


def _container_status(state: State, pod: Obj, spec: Obj, c: ContainerRun | None) -> Obj:
    pod_uid = pod["metadata"]["uid"]
    name = spec["name"]
    image = str(spec.get("image", ""))
    if c is None:
        return {
            "name": name,
            "image": image,
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {"waiting": {"reason": "ContainerCreating"}},
            "lastState": {},
        }
    restarts = c.restart_count(state.now)
    status: Obj = {
        "name": name,
        "image": image,
        "ready": c.ready and c.state == "running",
        "restartCount": restarts,
        "started": c.state == "running",
        "lastState": {},
    }
    if c.state == "waiting":
        waiting: Obj = {"reason": c.reason}
        if c.message:
            waiting["message"] = c.message
        status["state"] = {"waiting": waiting}
        status["imageID"] = ""
        return status
    status["imageID"] = f"{image.split(':')[0]}@sha256:{_container_id(state, image, '', 0)[13:77]}"
    status["containerID"] = _container_id(state, pod_uid, name, restarts)
    last = c.last_term
    if c.state == "crashloop" and c.crash_origin is not None:
        n, start, end = crash_cycles(c.crash_origin, c.run_s, state.now)
        if state.now < end:
            status["state"] = {"running": {"startedAt": iso(start)}}
            status["started"] = True
        else:
            pod_ref = f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod_uid})"
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": (
                        f"back-off {int(min(10 * 2**n, 300))}s restarting failed "
                        f"container={name} pod={pod_ref}"
                    ),
                }
            }
            last = (start, end, c.exit_code, c.term_reason)
        if n == 0 and state.now >= end:
            last = (start, end, c.exit_code, c.term_reason)
    else:
        status["state"] = {"running": {"startedAt": iso(c.started_at)}}
    if last is not None:
        status["lastState"] = {
            "terminated": {
                "exitCode": last[2],
                "reason": last[3],
                "startedAt": iso(last[0]),
                "finishedAt": iso(last[1]),
                "containerID": _container_id(state, pod_uid, name, restarts - 1),
            }
        }
    return status


def render_pod_status(state: State, pod: Obj) -> None:
    """Write ``pod.status`` from the runtime (no-op for unscheduled pods: the scheduler owns those)."""
    run = state.pods.get(pod["metadata"]["uid"])
    if run is None:
        return
    created = pod["metadata"]["creationTimestamp"]
    statuses = [
        _container_status(state, pod, spec, run.containers.get(spec["name"]))
        for spec in pod["spec"].get("containers", [])
    ]
    started = any(c.state != "waiting" for c in run.containers.values()) and bool(run.containers)
    ready = bool(statuses) and all(s["ready"] for s in statuses)
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    since = iso(run.created_at)
    conds = [
        {
            "type": "PodReadyToStartContainers",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": since,
        },
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": since},
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastProbeTime": None,
            "lastTransitionTime": since,
        },
        {
            "type": "ContainersReady",
            "status": "True" if ready else "False",
            "lastProbeTime": None,
            "lastTransitionTime": since,
        },
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": created},
    ]
    if not ready:
        msg = f"containers with unready status: [{' '.join(not_ready)}]"
        for cond in conds[2:4]:
            cond.update({"reason": "ContainersNotReady", "message": msg})
    node = state.store.get("Node", "", run.node)
    host_ip = node["status"]["addresses"][0]["address"] if node else ""
    status: Obj = {
        "phase": "Running" if started else "Pending",
        "conditions": conds,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": run.ip,
        "podIPs": [{"ip": run.ip}],
        "startTime": since,
        "containerStatuses": statuses,
        "qosClass": "Burstable",
    }
    state.store.set_field(pod, "status", status)
