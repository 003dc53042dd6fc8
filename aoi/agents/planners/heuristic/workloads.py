"""A workload's *own* failure, read from pod status, kubelet/scheduler events and its describe output:
image pulls, start errors, OOM kills, failing probes, scheduling, volumes, missing configuration."""

from __future__ import annotations

import re
from typing import Any

from aoi.agents.planners.heuristic.analysis import Finding
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.volumes import mentions_volume, release_fixes

SEVERITY = {
    "CrashLoopBackOff": 0,
    "Error": 1,
    "OOMKilled": 1,
    "ImagePullBackOff": 1,
    "ErrImagePull": 1,
    "CreateContainerConfigError": 1,
    "StartError": 1,
    "Pending": 2,
    "ContainerCreating": 2,
}


def unhealthy_workloads(facts: Facts) -> list[str]:
    """Workloads with a pod that is not Ready (worst first), then Deployments short of replicas."""
    ranked: dict[str, int] = {}
    for pod in facts.pods or []:
        if pod["healthy"] or pod["phase"] == "Succeeded":
            continue
        ranked[pod["workload"]] = min(ranked.get(pod["workload"], 9), SEVERITY.get(pod["status"], 3))
    for dep in facts.deployments or []:
        if dep["desired"] > 0 and dep["ready"] < dep["desired"] and dep["name"] not in ranked:
            ranked[dep["name"]] = 4
    return sorted(ranked, key=lambda w: (ranked[w], w))


def first_bad_pod(facts: Facts, workload: str) -> dict[str, Any] | None:
    pods = [p for p in facts.pods_of(workload) if not p["healthy"]]
    return pods[0] if pods else None


def events_about(facts: Facts, workload: str) -> list[dict[str, Any]]:
    """Events about the workload, its ReplicaSets or its pods (not about similarly named workloads)."""
    pods = {p["name"] for p in facts.pods_of(workload)}
    replica_set = re.compile(rf"^{re.escape(workload)}-[a-z0-9]{{6,10}}$")
    return [
        e
        for e in facts.events or []
        if e["object"] == workload
        or e["object"] in pods
        or (e["kind"] == "ReplicaSet" and replica_set.match(e["object"]))
    ]


def _memory_mi(text: str | None) -> float | None:
    if not text:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?", str(text))
    if not match:
        return None
    value = float(match.group(1))
    unit = match.group(2) or ""
    factor = {
        "Ki": 1 / 1024,
        "Mi": 1,
        "Gi": 1024,
        "K": 1 / 1048.576,
        "M": 1 / 1.048576,
        "G": 953.674,
        "": 1 / 2**20,
    }
    return value * factor[unit]


def _container(facts: Facts, workload: str) -> dict[str, Any] | None:
    pod = first_bad_pod(facts, workload)
    if pod is not None and pod["name"] in facts.pod_details:
        containers = facts.pod_details[pod["name"]].get("containers") or []
        if containers:
            return dict(containers[0])
    details = facts.deployment_details.get(workload)
    if details and details.get("containers"):
        return dict(details["containers"][0])
    return None


def _scheduling_finding(facts: Facts, workload: str, message: str, pod: dict[str, Any]) -> Finding | None:
    ns = facts.namespace
    evidence = [("describe_pod", {"namespace": ns, "name": pod["name"]}, message[:200])]
    lowered = message.lower()
    # The scheduler lists one reason per group of nodes; a cordoned or NotReady node is the cause an
    # operator can undo, and it also explains "volume node affinity conflict" for a local volume.
    down = [n for n in facts.nodes or [] if n["unschedulable"] or not n["ready"]]
    if down and ("were unschedulable" in lowered or "not ready" in lowered or "unreachable" in lowered):
        node = down[0]
        return Finding(
            "node_unavailable",
            workload,
            f"node {node['name']} is {node['status']}; scheduler: {message[:160]}",
            rank=15,
            evidence=[*evidence, ("get_nodes", {}, f"{node['name']} {node['status']}")],
            remediation={"verb": "uncordon", "target": node["name"], "params": {}},
        )
    if (
        "node affinity/selector" in lowered
        or "node selector" in lowered
        or "didn't match pod's node affinity" in lowered
    ):
        return Finding(
            "node_selector",
            workload,
            message[:200],
            rank=15,
            evidence=evidence,
            remediation={"verb": "patch_node_selector", "target": workload, "params": {"node_selector": {}}},
        )
    if mentions_volume([message]):
        fixes = release_fixes(facts)
        if fixes:
            ns_args = {"namespace": ns}
            evidence += [
                ("get_pvcs", ns_args, "claims Pending"),
                ("get_pvs", {}, "volumes Released to the deleted claims"),
            ]
        return Finding(
            "volume_missing",
            workload,
            message[:200],
            rank=15,
            evidence=evidence,
            remediation=fixes[0] if fixes else None,
            followups=fixes[1:],
        )
    return None


def own_problem(facts: Facts, workload: str) -> Finding | None:
    """The failure of ``workload`` that needs no other service to explain it, if any."""
    ns = facts.namespace
    pod = first_bad_pod(facts, workload)
    events = events_about(facts, workload)
    messages = [e["message"] for e in events]
    if pod is None:
        return None
    evidence = [("get_pods", {"namespace": ns}, f"{pod['name']} {pod['status']}")]
    status = pod["status"]
    if pod["unschedulable"] or (status == "Pending" and any("schedul" in m.lower() for m in messages)):
        message = pod["unschedulable"] or next(m for m in messages if "schedul" in m.lower())
        return _scheduling_finding(facts, workload, str(message), pod)
    if status in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        pull = next((m for m in messages if "pull" in m.lower()), status)
        return Finding(
            "bad_image",
            workload,
            pull[:200],
            rank=15,
            evidence=evidence,
            remediation={"verb": "rollout_undo", "target": workload, "params": {}},
        )
    if status == "CreateContainerConfigError" or any("not found" in m and "Error:" in m for m in messages):
        detail = next((m for m in messages if "not found" in m or "couldn't find" in m), status)
        return Finding(
            "config_missing",
            workload,
            detail[:200],
            rank=15,
            evidence=evidence,
            remediation={"verb": "rollout_undo", "target": workload, "params": {}},
        )
    mounts = [m for m in messages if "MountVolume" in m or "FailedMount" in m]
    if status == "ContainerCreating" and mounts:
        return Finding("config_missing", workload, mounts[0][:200], rank=15, evidence=evidence)
    start_error = next((m for m in messages if "executable file not found" in m or "exec:" in m), None)
    if (
        start_error
        or pod["terminated_reason"] == "StartError"
        or pod["last_termination_reason"] == "StartError"
    ):
        return Finding(
            "wrong_binary",
            workload,
            (start_error or "the container's command cannot be started")[:200],
            rank=15,
            evidence=evidence,
            remediation={"verb": "rollout_undo", "target": workload, "params": {}},
        )
    if "OOMKilled" in (pod["last_termination_reason"], pod["terminated_reason"]):
        container = _container(facts, workload)
        limit = ((container or {}).get("resources") or {}).get("limits", {}).get("memory")
        current = _memory_mi(limit)
        new = f"{int(max(256, (current or 128) * 4))}Mi"
        params: dict[str, Any] = {
            "container": (container or {}).get("name", workload),
            "limits": {"memory": new},
        }
        return Finding(
            "out_of_memory",
            workload,
            f"memory limit {limit or 'unknown'}",
            rank=15,
            evidence=evidence,
            remediation={"verb": "set_resources", "target": workload, "params": params},
        )
    probe = next((m for m in messages if "probe failed" in m.lower()), None)
    if probe:
        kind = "liveness" if "liveness" in probe.lower() else "readiness"
        container = _container(facts, workload) or {}
        ports = [int(p) for p in container.get("ports") or [] if p is not None]
        params = {"container": container.get("name", workload), "probe": kind}
        if ports:
            params["port"] = ports[0]
        dep = facts.deployment(workload) or {}
        http = "httpGet" in (container.get(kind) or {})
        if int(dep.get("revision") or 1) > 1 or not http:
            # the probe changed with the last rollout (or is not an HTTP probe patch_probe can fix)
            fix: dict[str, Any] = {"verb": "rollout_undo", "target": workload, "params": {}}
        else:
            fix = {"verb": "patch_probe", "target": workload, "params": params}
        return Finding(
            "bad_probe",
            workload,
            f"{kind} probe ({probe[:160]})",
            rank=16,
            evidence=[*evidence, ("get_events", {"namespace": ns, "warnings_only": True}, probe[:200])],
            remediation=fix,
        )
    return None


def _binary_of(facts: Facts, workload: str) -> str | None:
    details = facts.deployment_details.get(workload) or {}
    containers = details.get("containers") or []
    command = containers[0].get("command") if containers else None
    return str(command[0]).rsplit("/", 1)[-1] if command else None


def wrong_binary_findings(facts: Facts) -> list[Finding]:
    """Deployments whose container starts the program of *another* workload of the application."""

    def norm(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())  # ComposePostService ~ compose-post-service

    names = {norm(str(d["name"])): str(d["name"]) for d in facts.deployments or []}
    out = []
    for workload in facts.deployment_details:
        binary = _binary_of(facts, workload)
        other = names.get(norm(binary)) if binary else None
        if binary and other and other != workload:
            out.append(
                Finding(
                    "wrong_binary",
                    workload,
                    f"its container runs `{binary}`, the program of the {other} service",
                    rank=15,
                    evidence=[
                        (
                            "describe_deployment",
                            {"namespace": facts.namespace, "name": workload},
                            f"Command: {binary}",
                        )
                    ],
                    remediation={"verb": "rollout_undo", "target": workload, "params": {}},
                )
            )
    return out
