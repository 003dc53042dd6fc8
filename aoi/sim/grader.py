"""The grader, with AIOpsLab's semantics (DESIGN.md §4). With ``aoi.sim.faults`` it is the only code
that reads a problem's fault.

- detection: ``answer["detected"]`` (bool, or "Yes"/"No") must equal whether a fault was applied;
- localization: ``faulty_components`` equal to the expected set, or a single component that is in it;
- analysis: ``root_cause.system_level`` and ``root_cause.fault_type`` both equal (case-insensitive);
- mitigation: the cluster's end state — every pod of the app Ready, none in CrashLoopBackOff or
  Pending — plus the fault-specific check that the fault is really undone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aoi.sim.faults.catalogue import catalogue, fault_spec

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster
    from aoi.sim.problems import Problem


@dataclass
class GradeResult:
    success: bool
    details: dict[str, Any] = field(default_factory=dict)


def expected_answer(problem: Problem) -> dict[str, Any]:
    """What a correct answer to ``problem`` is, in the shape of the problem file's ``expected``."""
    fault = problem.fault
    if problem.task == "detection":
        return {"detection": "Yes" if fault is not None else "No"}
    assert fault is not None  # Problem validation guarantees a fault for the other tasks
    spec = fault_spec(fault.type)
    if problem.task == "localization":
        return {"localization": [fault.target]}
    if problem.task == "analysis":
        return {"analysis": {"system_level": spec.system_level, "fault_type": spec.fault_type}}
    text = spec.mitigation or catalogue().default_mitigation
    if "{port}" in text:
        from aoi.sim.apps import load_app

        text = text.format(port=load_app(problem.app).service(fault.target or "").container_port)
    return {"mitigation": text}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("no", "false"):
        return False
    return None


def cluster_health(cluster: SimCluster, namespace: str) -> list[str]:
    """Reasons the namespace is not healthy: pods not Ready, crash-looping, pending or missing."""
    problems: list[str] = []
    for pod in cluster.list_objects("Pod", namespace):
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        if status.get("phase") != "Running":
            problems.append(f"pod {name} is {status.get('phase')}")
            continue
        for cs in status.get("containerStatuses", []):
            waiting = cs.get("state", {}).get("waiting")
            if waiting and waiting.get("reason") == "CrashLoopBackOff":
                problems.append(f"pod {name} container {cs['name']} is in CrashLoopBackOff")
            elif not cs.get("ready"):
                problems.append(f"pod {name} container {cs['name']} is not Ready")
    for dep in cluster.list_objects("Deployment", namespace):
        want = dep["spec"].get("replicas", 1)
        have = dep.get("status", {}).get("availableReplicas", 0)
        if have < want or want == 0:
            problems.append(f"deployment {dep['metadata']['name']} has {have}/{want} available replicas")
    return problems


def grade(problem: Problem, cluster: SimCluster, answer: dict[str, Any] | None) -> GradeResult:
    """Grade ``answer`` (a Diagnosis-shaped dict) for ``problem``; mitigation reads ``cluster``."""
    answer = answer or {}
    expected = expected_answer(problem)
    task = problem.task
    if task == "detection":
        got = _as_bool(answer.get("detected"))
        want = expected["detection"] == "Yes"
        return GradeResult(
            got == want, {"task": task, "expected": expected["detection"], "got": answer.get("detected")}
        )
    if task == "localization":
        got_list = [str(c) for c in answer.get("faulty_components") or []]
        want_set = set(expected["localization"])
        ok = set(got_list) == want_set or (len(got_list) == 1 and got_list[0] in want_set)
        return GradeResult(ok, {"task": task, "expected": sorted(want_set), "got": got_list})
    if task == "analysis":
        rc = answer.get("root_cause") or {}
        want_rc = expected["analysis"]
        keys = ("system_level", "fault_type")
        ok = all(str(rc.get(k, "")).strip().lower() == str(want_rc[k]).lower() for k in keys)
        return GradeResult(ok, {"task": task, "expected": want_rc, "got": {k: rc.get(k) for k in keys}})
    from aoi.sim.apps import load_app
    from aoi.sim.faults import is_fixed

    assert problem.fault is not None
    unhealthy = cluster_health(cluster, load_app(problem.app).namespace)
    fixed, why = is_fixed(cluster, problem.fault, problem.app)
    details = {
        "task": task,
        "expected": expected["mitigation"],
        "unhealthy": unhealthy,
        "fault_undone": fixed,
        "fault_check": why,
    }
    return GradeResult(not unhealthy and fixed, details)
