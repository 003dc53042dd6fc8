"""Faults in a workload's pod template or configuration: command, image, resources, probes, env."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aoi.sim.apps import AppSpec
from aoi.sim.behaviour.network import dependency_address
from aoi.sim.faults.base import (
    Injector,
    container_of,
    patch_container,
    pods_ready,
    restart_pods,
    runs_of,
    workload,
)
from aoi.sim.kube.quantity import cpu_millicores, memory_bytes

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

Obj = dict[str, Any]


def _template_container(c: SimCluster, app: AppSpec, target: str | None) -> Obj:
    return container_of(workload(c, app, target or ""))


class WrongBinary:
    """wrong_bin_usage: the container command starts another service's binary (profile runs geo)."""

    @staticmethod
    def other_binary(app: AppSpec, target: str) -> str:
        spec = app.service(target)
        peers = [s for s in app.services if s.image == spec.image and s.kind == "app"]
        idx = peers.index(spec)
        other = peers[idx - 1] if idx > 0 else peers[idx + 1]
        return other.command[0]

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        patch_container(c, app, target or "", {"command": [self.other_binary(app, target or "")]})

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        command = _template_container(c, app, target).get("command") or []
        want = app.service(target or "").command[0]
        ok = (
            bool(command)
            and command[0] == want
            and all(
                ct.persona == target for r in runs_of(c, app, target or "") for ct in r.containers.values()
            )
        )
        return ok, f"{target} runs {command[:1]}, its binary is {want}"


class DefectImage:
    """misconfig_app: the Deployment runs an image build whose code has a wrong database address."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        binary = app.service(target or "").command[0]
        image = next(r.image for r in app.registry if r.overrides and binary in r.binaries)
        obj = workload(c, app, target or "")
        c.set_image(app.namespace, target or "", container_of(obj)["name"], image)

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        image = _template_container(c, app, target).get("image")
        defect = any(r.image == image and r.overrides for r in app.registry)
        ok = not defect and pods_ready(c, app, target or "")
        return ok, f"{target} image is {image}" + (
            " (a build with a wrong database address)" if defect else ""
        )


class LowMemoryLimit:
    """oom_memory_limit (ours): the memory limit is half of what the process needs."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        need = app.service(target or "").mem_mi
        patch_container(
            c, app, target or "", {"resources": {"limits": {"memory": f"{max(4, int(need * 0.5))}Mi"}}}
        )

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        limit = memory_bytes(
            ((_template_container(c, app, target).get("resources") or {}).get("limits") or {}).get("memory")
        )
        need = app.service(target or "").mem_mi * 2**20 * 1.1
        ok = (limit is None or limit >= need) and pods_ready(c, app, target or "")
        return ok, f"{target} memory limit {limit} bytes, process needs about {int(need)}"


class MissingSecretRef:
    """missing_secret_ref (ours): an env var now references a Secret name that does not exist."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        env = _template_container(c, app, target).get("env", [])
        for item in env:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                ref["name"] = f"{ref['name']}-v2"
        patch_container(c, app, target or "", {"env": env})

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        missing = []
        for item in _template_container(c, app, target).get("env", []) or []:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref and c._state.store.get("Secret", app.namespace, ref.get("name", "")) is None:
                missing.append(ref.get("name"))
        ok = not missing and pods_ready(c, app, target or "")
        return (
            ok,
            f"{target} references missing secrets {missing}" if missing else f"{target} secrets resolve",
        )


class BadProbe:
    """liveness_/readiness_probe_misconfig (ours): a probe on a port the process does not listen on."""

    def __init__(self, field: str) -> None:
        self.field = field

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        port = (app.service(target or "").container_port or 8080) + 1
        probe = {
            "tcpSocket": {"port": port},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "failureThreshold": 3,
            "successThreshold": 1,
        }
        patch_container(c, app, target or "", {self.field: probe})

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        probe = _template_container(c, app, target).get(self.field)
        want = app.service(target or "").container_port
        port = (
            None
            if not probe
            else next((v.get("port") for k, v in probe.items() if k in ("tcpSocket", "httpGet")), want)
        )
        ok = (probe is None or port == want) and pods_ready(c, app, target or "")
        return ok, f"{target} {self.field} checks port {port}, process listens on {want}"


class CpuThrottle:
    """cpu_throttling (ours): the CPU limit is a fraction of the process's demand."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        demand = app.service(target or "").cpu_m
        patch_container(
            c, app, target or "", {"resources": {"limits": {"cpu": f"{max(5, int(demand * 0.15))}m"}}}
        )

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        limit = cpu_millicores(
            ((_template_container(c, app, target).get("resources") or {}).get("limits") or {}).get("cpu")
        )
        need = app.service(target or "").cpu_m * 1.5
        ok = (limit is None or limit >= need) and pods_ready(c, app, target or "")
        return ok, f"{target} cpu limit {limit}m, demand about {need:.0f}m"


class MissingImageTag:
    """image_tag_not_found (ours): a rollout to a tag that was never pushed."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        ctr = _template_container(c, app, target)
        repo = ctr["image"].rsplit(":", 1)[0]
        c.set_image(app.namespace, target or "", ctr["name"], f"{repo}:v2.0.1")

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        image = _template_container(c, app, target).get("image")
        known = any(r.image == image for r in app.registry)
        ok = known and pods_ready(c, app, target or "")
        return ok, f"{target} image {image} {'exists' if known else 'does not exist'} in the registry"


def _config_dep(app: AppSpec, target: str) -> tuple[str, str, str, str]:
    """(dependency, configmap, key, field) of the first called dependency configured in a ConfigMap."""
    spec = app.service(target)
    called = [callee for caller, callee in sorted(app.edges()) if caller == target]
    for dep in called:
        src = spec.deps.get(dep)
        if src is not None and src.config:
            ref, _, field = src.config.partition("#")
            cm, _, key = ref.partition("/")
            return dep, cm, key, field
        if src is None and spec.deps_from:
            cm, _, key = spec.deps_from.partition("/")
            return dep, cm, key, dep
    raise ValueError(f"{target} has no ConfigMap-configured dependency")


class ConfigMapTypo:
    """configmap_typo (ours): a typo in a dependency's host in the ConfigMap; restarted pods use it."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        _, cm, key, field = _config_dep(app, target or "")
        raw = c.get_object("ConfigMap", app.namespace, cm)["data"][key]
        value = json.loads(raw)[field]
        if isinstance(value, dict):
            host = str(value["addr"])
            old, new = f'"addr": "{host}"', f'"addr": "{host[:2] + host[3:]}"'
        else:
            old, new = f'"{field}": "{value}"', f'"{field}": "{value[:2] + value[3:]}"'
        if old not in raw:
            raise ValueError(f"configmap {cm}/{key}: cannot find {old}")
        c.patch_object("ConfigMap", app.namespace, cm, {"data": {key: raw.replace(old, new, 1)}})
        restart_pods(c, app, target or "")

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        dep = _config_dep(app, target or "")[0]
        program = app.service(target or "")
        bad = []
        for run in runs_of(c, app, target or ""):
            for ct in run.containers.values():
                addr = dependency_address(app, program, dep, ct.snapshot, {})
                if addr is None or addr.host.split(".")[0] != dep:
                    bad.append(f"{run.uid[:8]}:{addr}")
        ok = not bad and pods_ready(c, app, target or "")
        return (
            ok,
            f"{target} pods resolve {dep} as {bad}" if bad else f"{target} pods resolve {dep} correctly",
        )


INJECTORS: dict[str, Injector] = {
    "wrong_bin_usage": WrongBinary(),
    "misconfig_app": DefectImage(),
    "oom_memory_limit": LowMemoryLimit(),
    "missing_secret_ref": MissingSecretRef(),
    "liveness_probe_misconfig": BadProbe("livenessProbe"),
    "readiness_probe_misconfig": BadProbe("readinessProbe"),
    "cpu_throttling": CpuThrottle(),
    "image_tag_not_found": MissingImageTag(),
    "configmap_typo": ConfigMapTypo(),
}
