"""Faults below the API, in pod sandboxes (what Chaos Mesh does in AIOpsLab): a sandbox that keeps
killing its container, a one-off pod or container kill, packet loss and delay on a pod's interface.

They are observable only through their effects (restarts, short outages, timeouts, latency) and are
cleared by replacing the pod: a new pod gets a fresh sandbox and network namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aoi.sim.apps import AppSpec
from aoi.sim.faults.base import Injector, pods_of, pods_ready, runs_of
from aoi.sim.world import ContainerRun

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

KILL_OUTAGE_S = 15.0


class SandboxFailure:
    """pod_failure: the pod's sandbox kills its container every time it starts."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        for run in runs_of(c, app, target or ""):
            run.sandbox_failing = True
        c._after_write()

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        failing = [r.uid for r in runs_of(c, app, target or "") if r.sandbox_failing]
        ok = not failing and pods_ready(c, app, target or "")
        return ok, f"{len(failing)} {target} pod(s) with a failing sandbox"


class PodKill:
    """pod_kill: one pod killed; its replacement takes ``KILL_OUTAGE_S`` to start (a visible outage)."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        c._state.extra["start_delay_s"] = KILL_OUTAGE_S
        try:
            pods = pods_of(c, app, target or "")
            c.delete_object("Pod", app.namespace, pods[0]["metadata"]["name"])
        finally:
            c._state.extra.pop("start_delay_s", None)
        c.advance(KILL_OUTAGE_S)

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        ok = pods_ready(c, app, target or "")
        return (
            ok,
            f"{target} pods {'are' if ok else 'are not'} Ready (a killed pod is replaced by its ReplicaSet)",
        )


class ContainerKill:
    """container_kill: the main container is SIGKILLed once (exit 137) and restarted after back-off."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        now = c.now()
        for run in runs_of(c, app, target or "")[:1]:
            run.start_after = now + KILL_OUTAGE_S
            for name, ct in run.containers.items():
                run.containers[name] = ContainerRun(
                    name=name,
                    image=ct.image,
                    state="waiting",
                    reason="CrashLoopBackOff",
                    message=f"back-off 10s restarting failed container={name}",
                    restarts=ct.restarts + 1,
                    last_term=(ct.started_at, now, 137, "Error"),
                    snapshot=ct.snapshot,
                    persona=ct.persona,
                )
        c._after_write()
        c.advance(KILL_OUTAGE_S)

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        ok = pods_ready(c, app, target or "")
        return ok, f"{target} containers {'are' if ok else 'are not'} running again"


class NetworkImpairment:
    """network_loss / network_delay: netem on the pod's interface (loss fraction or added delay)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        for run in runs_of(c, app, target or ""):
            if self.kind == "loss":
                run.net_loss = float(params["loss"])
            else:
                run.net_delay_ms = float(params["delay_ms"])
        c._after_write()

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        bad = [r.uid for r in runs_of(c, app, target or "") if r.net_loss > 0 or r.net_delay_ms > 0]
        ok = not bad and pods_ready(c, app, target or "")
        return ok, f"{len(bad)} {target} pod(s) with an impaired network"


INJECTORS: dict[str, Injector] = {
    "pod_failure": SandboxFailure(),
    "pod_kill": PodKill(),
    "container_kill": ContainerKill(),
    "network_loss": NetworkImpairment("loss"),
    "network_delay": NetworkImpairment("delay"),
}
