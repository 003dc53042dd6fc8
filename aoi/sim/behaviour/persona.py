"""What happens when a container starts: image pull, config resolution, the program it runs, and
whether that program comes up (memory, start-up dependencies, probes).

The program is identified from the image and the command (``geo`` in the HotelReservation image runs
the geo service, whatever Deployment it is in); its behaviour (port, dependencies, resource needs) is
the matching service's spec. Outcomes carry the exact messages kubelet and the program would print.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from aoi.sim.apps import AppSpec, RegistryImage, ServiceSpec
from aoi.sim.behaviour.mongo import mongo_issue
from aoi.sim.behaviour.network import dependency_address, reach
from aoi.sim.kube.quantity import memory_bytes
from aoi.sim.world import PodRun, Snapshot, State

Obj = dict[str, Any]


@dataclass
class Outcome:
    """``state``: running | crashloop | waiting. ``fatal`` entries are structured log facts."""

    state: str
    reason: str = ""
    message: str = ""
    exit_code: int = 0
    term_reason: str = ""
    run_s: float = 2.0
    program: ServiceSpec | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    listen_port: int | None = None
    ready: bool = True
    snapshot: Snapshot = field(default_factory=Snapshot)
    fatal: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)


def _registry(app: AppSpec, image: str) -> RegistryImage | None:
    return next((r for r in app.registry if r.image == image), None)


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def build_snapshot(state: State, ns: str, pod: Obj, container: Obj) -> Snapshot | Outcome:
    """Resolve env vars and mounted ConfigMap/Secret files as kubelet does at container creation.

    ``files`` holds each mounted key twice: as ``<configmap-or-secret>/<key>`` and as the path the
    container sees (``<mountPath>/<key>``).
    """
    env: dict[str, str] = {}
    for item in container.get("env", []) or []:
        name = item.get("name", "")
        if "value" in item:
            env[name] = str(item["value"])
            continue
        ref = item.get("valueFrom") or {}
        for kind, key_name in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            sel = ref.get(key_name)
            if not sel:
                continue
            obj = state.store.get(kind, ns, sel.get("name", ""))
            if obj is None:
                if sel.get("optional"):
                    break
                msg = f'{kind.lower()} "{sel.get("name")}" not found'
                return Outcome(
                    "waiting",
                    "CreateContainerConfigError",
                    msg,
                    events=[("Warning", "Failed", f"Error: {msg}")],
                )
            data = obj.get("data") or {}
            if sel.get("key") not in data:
                if sel.get("optional"):
                    break
                msg = f"couldn't find key {sel.get('key')} in {kind} {ns}/{sel.get('name')}"
                return Outcome(
                    "waiting",
                    "CreateContainerConfigError",
                    msg,
                    events=[("Warning", "Failed", f"Error: {msg}")],
                )
            raw = data[sel["key"]]
            env[name] = _b64(raw) if kind == "Secret" else str(raw)
    volumes = {v.get("name"): v for v in pod["spec"].get("volumes", []) or []}
    files: dict[str, str] = {}
    for mount in container.get("volumeMounts", []) or []:
        vol = volumes.get(mount.get("name"))
        if vol is None:
            continue
        for kind, key_name, name_key in (
            ("ConfigMap", "configMap", "name"),
            ("Secret", "secret", "secretName"),
        ):
            src = vol.get(key_name)
            if not src:
                continue
            obj = state.store.get(kind, ns, src.get(name_key, ""))
            if obj is None:
                msg = (
                    f'MountVolume.SetUp failed for volume "{vol.get("name")}" : '
                    f'{kind.lower()} "{src.get(name_key)}" not found'
                )
                return Outcome("waiting", "ContainerCreating", "", events=[("Warning", "FailedMount", msg)])
            base, sub = str(mount.get("mountPath", "")).rstrip("/"), mount.get("subPath")
            for key, value in (obj.get("data") or {}).items():
                text = _b64(value) if kind == "Secret" else str(value)
                files[f"{src.get(name_key)}/{key}"] = text  # by source, and by path in the container
                if base and sub in (None, key):
                    files[base if sub else f"{base}/{key}"] = text
    return Snapshot(env=env, files=files, args=tuple(str(a) for a in container.get("args", []) or []))


def identify_program(
    app: AppSpec, image: str, command: list[str], own: str
) -> tuple[ServiceSpec | None, str]:
    """The service whose program ``command`` starts in ``image``; (None, error message) if none."""
    reg = _registry(app, image)
    if not command:
        own_spec = next((s for s in app.services if s.name == own), None)
        if own_spec is not None and own_spec.image == image:
            return own_spec, ""
        return None, "no command specified"
    binary = command[0]
    candidates = [s for s in app.services if s.command and s.command[0] == binary]
    if reg is not None and reg.binaries:
        candidates = [s for s in candidates if binary in reg.binaries]
    else:
        candidates = [s for s in candidates if s.image == image]
    if not candidates:
        return None, (
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc "
            f'create failed: unable to start container process: exec: "{binary}": executable file not '
            "found in $PATH: unknown"
        )
    mine = next((s for s in candidates if s.name == own), None)
    return (mine or candidates[0]), ""


def _probe_port(probe: Obj, container: Obj) -> int | str | None:
    for kind in ("tcpSocket", "httpGet", "grpc"):
        if kind in probe:
            port = probe[kind].get("port")
            if isinstance(port, str):
                named = next((p for p in container.get("ports", []) or [] if p.get("name") == port), None)
                return named["containerPort"] if named else port
            return port if isinstance(port, int | str) else None
    return None


def _probe_failure(probe: Obj | None, container: Obj, listen: int | None, ip: str) -> str | None:
    if not probe or "exec" in probe:
        return None
    port = _probe_port(probe, container)
    if port == listen and port is not None:
        return None
    if "httpGet" in probe:
        path = probe["httpGet"].get("path", "/")
        return f'Get "http://{ip}:{port}{path}": dial tcp {ip}:{port}: connect: connection refused'
    return f"dial tcp {ip}:{port}: connect: connection refused"


def evaluate_start(state: State, app: AppSpec, pod: Obj, container: Obj, run: PodRun) -> Outcome:
    """Start ``container`` of ``pod`` now; the outcome says whether and how it runs."""
    ns = pod["metadata"]["namespace"]
    own = (pod["metadata"].get("labels") or {}).get(app.label_key, "")
    image = str(container.get("image", ""))
    if _registry(app, image) is None:
        ref = (
            image
            if "/" in image.split(":")[0] or "." in image.split("/")[0]
            else f"docker.io/library/{image}"
        )
        pull = (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack '
            f'image "{ref}": failed to resolve reference "{ref}": {ref}: not found'
        )
        return Outcome(
            "waiting",
            "ImagePullBackOff",
            f'Back-off pulling image "{image}"',
            events=[
                ("Normal", "Pulling", f'Pulling image "{image}"'),
                ("Warning", "Failed", pull),
                ("Warning", "Failed", "Error: ErrImagePull"),
                ("Normal", "BackOff", f'Back-off pulling image "{image}"'),
            ],
        )
    snap = build_snapshot(state, ns, pod, container)
    if isinstance(snap, Outcome):
        return snap
    program, error = identify_program(app, image, list(container.get("command") or []), own)
    if program is None:
        return Outcome(
            "crashloop",
            "CrashLoopBackOff",
            "",
            exit_code=128,
            term_reason="StartError",
            run_s=0.0,
            snapshot=snap,
            fatal=[f"start|{error}"],
            events=[("Warning", "Failed", f"Error: {error}")],
        )
    reg = _registry(app, image)
    overrides = dict(reg.overrides) if reg else {}
    out = Outcome(
        "running", program=program, overrides=overrides, listen_port=program.container_port, snapshot=snap
    )
    limit = memory_bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))
    if limit is not None and limit < program.mem_mi * 2**20 * 1.1:
        out.state, out.exit_code, out.term_reason, out.run_s = "crashloop", 137, "OOMKilled", 6.0
        return out
    if run.sandbox_failing:
        out.state, out.exit_code, out.term_reason, out.run_s = "crashloop", 137, "Error", 1.0
        return out
    for dep in program.init_deps:
        addr = dependency_address(app, program, dep, snap, overrides)
        if addr is None:
            out.fatal.append(f"noconfig|{dep}")
        else:
            r = reach(state, ns, addr)
            if r.ok <= 0.0:
                out.fatal.append(f"unreachable|{dep}|{addr.host}:{addr.port}|{r.error}")
            else:
                issue = mongo_issue(state, ns, snap, r, app.service(dep).database or "")
                if issue:
                    out.fatal.append(f"mongo|{dep}|{issue}|{app.service(dep).database}")
        if out.fatal:
            out.state, out.exit_code, out.term_reason = "crashloop", 2, "Error"
            out.run_s = 30.0 if out.fatal[0].startswith("unreachable") else 1.5
            return out
    liveness = _probe_failure(container.get("livenessProbe"), container, out.listen_port, run.ip)
    if liveness:
        probe = container["livenessProbe"]
        period = float(probe.get("periodSeconds", 10))
        out.state, out.exit_code, out.term_reason = "crashloop", 137, "Error"
        out.run_s = float(probe.get("initialDelaySeconds", 0)) + period * float(
            probe.get("failureThreshold", 3)
        )
        out.events = [
            ("Warning", "Unhealthy", f"Liveness probe failed: {liveness}"),
            ("Normal", "Killing", f"Container {container['name']} failed liveness probe, will be restarted"),
        ]
        return out
    readiness = _probe_failure(container.get("readinessProbe"), container, out.listen_port, run.ip)
    if readiness:
        out.ready = False
        out.events = [("Warning", "Unhealthy", f"Readiness probe failed: {readiness}")]
    return out
