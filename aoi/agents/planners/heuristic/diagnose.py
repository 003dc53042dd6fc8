"""From findings to a diagnosis: pick the root cause, fill the fix's parameters, cite the evidence.

Ranking encodes causality an SRE applies: a broken Service or a scaled-down backend explains its
callers' crashes (rank 10); a workload's own start-up failure explains itself (15); a database
refusing its clients is the database's fault (20); a caller dialling a wrong address is the caller's
(30); telemetry-only anomalies come last (40+). Lower rank wins; ties keep discovery order.
"""

from __future__ import annotations

import json
from typing import Any

from aoi.agents.planners.heuristic.analysis import (
    DepError,
    Finding,
    dependency_errors,
    diagnose_link,
    static_service_problems,
)
from aoi.agents.planners.heuristic.config_fix import caller_fix
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.mongo import complete_mongo_fix
from aoi.agents.planners.heuristic.rules import Rules
from aoi.agents.planners.heuristic.telemetry import quiet_findings
from aoi.agents.planners.heuristic.workloads import (
    first_bad_pod,
    own_problem,
    unhealthy_workloads,
    wrong_binary_findings,
)


def findings(facts: Facts, rules: Rules) -> list[Finding]:
    """Every candidate root cause, in discovery order."""
    out: list[Finding] = []
    suspects = unhealthy_workloads(facts)
    for workload in suspects:
        found = len(out)
        own = own_problem(facts, workload)
        if own is not None:
            out.append(own)
        errors = dependency_errors(facts, workload, rules)
        for err in errors:
            link = diagnose_link(facts, workload, err)
            if link is not None:
                out.append(link)
        if len(out) == found:
            out.append(unexplained_failure(facts, workload, errors))
    out += static_service_problems(facts)
    out += wrong_binary_findings(facts)
    if not out:
        out += quiet_findings(facts, rules, suspects)
    return out


def unexplained_failure(facts: Facts, workload: str, errors: list[DepError]) -> Finding:
    """A failing workload whose logs and events name no dependency or known cause."""
    ns = facts.namespace
    pod = first_bad_pod(facts, workload)
    previous = bool(pod and pod["restarts"])
    logs = ("get_logs", {"namespace": ns, "name": workload, "tail": 100, "previous": previous}, "")
    own = next((e for e in errors if e.kind in ("config", "start", "resource")), None)
    if own is not None:
        verdict = {"config": "config_missing", "start": "wrong_binary", "resource": "out_of_memory"}[own.kind]
        fix = {"verb": "rollout_undo", "target": workload, "params": {}}
        return Finding(verdict, workload, own.line[:200], rank=25, evidence=[logs], remediation=fix)
    state = f"{pod['status']}, {pod['restarts']} restarts" if pod else "no ready replicas"
    return Finding(
        "pod_failure",
        workload,
        state,
        rank=50,
        evidence=[("get_pods", {"namespace": ns}, state), logs],
        remediation={"verb": "rollout_restart", "target": workload, "params": {}},
    )


def _merge_same_cause(best: Finding, others: list[Finding]) -> Finding:
    """Workloads failing for the same reason at the same rank (e.g. several unbound volumes)."""
    for f in others:
        same = f is not best and f.verdict == best.verdict and f.rank == best.rank
        if same and f.target != best.target and f.target not in best.extra_targets:
            best.extra_targets.append(f.target)
    return best


def _evidence(facts: Facts, finding: Finding) -> list[dict[str, Any]]:
    cited = []
    for tool, args, text in finding.evidence:
        step = facts.step_of(tool, {k: v for k, v in args.items() if v is not None})
        if step is not None:
            cited.append({"step": step, "finding": text or f"{tool} {json.dumps(args, sort_keys=True)}"})
    return cited


def submission(facts: Facts, rules: Rules) -> dict[str, Any]:
    """The ``submit`` step's args (planners/base.py schema) from the current facts."""
    all_findings = findings(facts, rules)
    if not all_findings:
        verdict = rules.verdicts["healthy"]
        return {
            "detected": False,
            "faulty_components": [],
            "system_level": verdict.system_level,
            "fault_type": verdict.fault_type,
            "summary": verdict.summary,
            "remediations": [],
        }
    best = min(all_findings, key=lambda f: f.rank)
    best = _merge_same_cause(best, all_findings)
    spec = rules.verdicts[best.verdict]
    remediations: list[dict[str, Any]] = []
    if best.verdict == "caller_misconfigured" and best.remediation is None:
        steps = caller_fix(facts, best)
        if steps:
            best.remediation, best.followups = steps[0], steps[1:]
    summary = spec.summary.format(target=best.target, detail=best.detail)
    if best.remediation is not None:
        for step, fix in enumerate([best.remediation, *best.followups], start=1):
            fix = {"namespace": facts.namespace or "", **fix}
            fix.setdefault("rationale", summary if step == 1 else f"step {step} of the fix: {summary}")
            completed = complete_mongo_fix(facts, best, fix)
            if completed is None:
                break
            remediations.append(completed)
    return {
        "detected": True,
        "faulty_components": [best.target, *best.extra_targets],
        "system_level": spec.system_level,
        "fault_type": spec.fault_type,
        "summary": spec.summary.format(target=best.target, detail=best.detail),
        "remediations": remediations,
        "evidence": _evidence(facts, best),
    }
