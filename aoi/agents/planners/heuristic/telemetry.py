"""Quiet failures: no pod is crashing, so read the panels (metrics), the traces, the feature flags and
the recent restarts, then follow the strongest signal into logs and workload definitions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aoi.agents.planners.heuristic.analysis import Finding, dependency_errors, diagnose_link, requires_tls
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.probes import Probe, dependency_probes
from aoi.agents.planners.heuristic.rules import Rules
from aoi.agents.planners.heuristic.signals import Signals, enabled_flags, read_signals, rendered_queries

FLAG_CONFIG = re.compile(r"flag", re.IGNORECASE)
ENTRY_HINTS = ("frontend-proxy", "frontend", "nginx", "gateway", "ingress", "web", "api")


def _entry_service(facts: Facts) -> str | None:
    services = facts.trace_services or []
    for hint in ENTRY_HINTS:
        for name in services:
            if name == hint or name.startswith(hint):
                return name
    return services[0] if services else None


def _suspects(sig: Signals) -> list[str]:
    """Services worth a closer look, strongest signal first (callers of failing calls, erroring, slow)."""
    names = [caller for caller, _ in sig.failing_edges]
    names += [peer for _, peer in sig.failing_edges]
    deepest = sig.deepest_erroring()
    if deepest:
        names.append(deepest)
    slowest = sig.slowest()
    if slowest:
        names.append(slowest)
    names += list(sig.wire) + list(sig.throttled) + list(sig.growing_memory) + sig.restarted
    return list(dict.fromkeys(names))


def quiet_probes(facts: Facts, ns: str, rules: Rules) -> Iterator[Probe]:
    yield Probe("list_metrics", {}, "which metrics Prometheus has (to write the queries)")
    for query_id, (promql, minutes, step) in rendered_queries(facts, rules).items():
        args: dict[str, Any] = {"query": promql}
        if minutes:
            args["minutes"] = minutes
            args["step_seconds"] = step
        yield Probe("query_metrics", args, f"the {query_id.replace('_', ' ')} panel")
    yield Probe("get_configmaps", {"namespace": ns}, "configuration and feature flags")
    for name in facts.configmap_names or []:
        if FLAG_CONFIG.search(name):
            yield Probe(
                "describe_configmap", {"namespace": ns, "name": name}, f"which feature flags {name} turns on"
            )
    sig = read_signals(facts, rules)
    for workload in sig.young:
        if facts.deployment(workload) is not None:
            yield Probe(
                "describe_deployment", {"namespace": ns, "name": workload}, f"what changed in {workload}"
            )
    yield Probe("get_trace_services", {}, "which services report traces")
    entry = _entry_service(facts)
    if entry and (sig.any() or enabled_flags(facts, rules)):
        yield Probe(
            "get_traces",
            {"service": entry, "limit": 50, "minutes": 5},
            f"requests through {entry}: failures, slow hops",
        )
    sig = read_signals(facts, rules)
    for caller, peer in sig.broken_edges()[:2]:
        yield Probe(
            "get_logs",
            {"namespace": ns, "name": caller, "tail": 500, "grep": rules.log_grep},
            f"how {caller}'s calls to {peer} fail",
        )
        for err in dependency_errors(facts, caller, rules)[:2]:
            yield from dependency_probes(facts, ns, caller, err.host, err.port, err.kind)
        if facts.deployment(peer) is not None:
            yield Probe(
                "describe_deployment", {"namespace": ns, "name": peer}, f"how {peer} is deployed and started"
            )
    deepest = sig.deepest_erroring()
    if deepest and facts.deployment(deepest) is not None:
        yield Probe("describe_deployment", {"namespace": ns, "name": deepest}, f"how {deepest} is deployed")
        yield Probe(
            "get_logs",
            {"namespace": ns, "name": deepest, "tail": 500, "grep": rules.log_grep},
            f"the errors {deepest} returns",
        )
    slow = sig.slowest()
    if slow and slow in (facts.trace_services or []):
        floor = max(1, int(3 * sig.baseline_ms.get(slow, 1.0)))
        yield Probe(
            "get_traces",
            {"service": slow, "limit": 30, "min_duration_ms": floor, "minutes": 5},
            f"the slow requests through {slow}: where the time goes",
        )
    slowest = sig.slowest() or next(iter(sig.throttled), None)
    if slowest and facts.deployment(slowest) is not None:
        yield Probe(
            "describe_deployment", {"namespace": ns, "name": slowest}, f"resources and limits of {slowest}"
        )
    for workload in (sig.restarted or sig.young)[:1]:
        pod = next((p for p in facts.pods_of(workload)), None)
        if pod is not None:
            yield Probe(
                "describe_pod", {"namespace": ns, "name": pod["name"]}, f"why {pod['name']} restarted"
            )


def _cpu_limit_m(facts: Facts, workload: str) -> float | None:
    details = facts.deployment_details.get(workload) or {}
    containers = details.get("containers") or []
    cpu = ((containers[0].get("resources") or {}).get("limits") or {}).get("cpu") if containers else None
    if cpu is None:
        return None
    text = str(cpu)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def _cpu_fix(facts: Facts, workload: str) -> dict[str, Any]:
    """Raise the CPU limit of the workload's (first) container to one core."""
    details = facts.deployment_details.get(workload) or {}
    containers = details.get("containers") or []
    container = containers[0]["name"] if containers else workload
    return {
        "verb": "set_resources",
        "target": workload,
        "params": {"container": container, "limits": {"cpu": "1"}},
    }


def _flag_servers(facts: Facts, configmap: str) -> list[str]:
    """Workloads that serve a flag file (named as the ConfigMap's prefix, e.g. flagd for flagd-config)."""
    return [d["name"] for d in facts.deployments or [] if configmap.startswith(str(d["name"]) + "-")]


def _edge_findings(facts: Facts, rules: Rules, sig: Signals) -> list[Finding]:
    ns = facts.namespace
    out: list[Finding] = []
    edges = dict(sig.failing_edges)
    for edge in sig.trace_failures:
        edges.setdefault(edge, ("trace", 0.0))
    for (caller, peer), (code, _rate) in edges.items():
        metrics_row: tuple[str, dict[str, Any], str] = (
            "query_metrics",
            {},
            f"{caller} → {peer} failing with {code}",
        )
        if code == "500":
            continue  # the peer answered with an error: look where the errors start instead
        found = len(out)
        logs = ("get_logs", {"namespace": ns, "name": caller, "tail": 500, "grep": rules.log_grep}, "")
        for err in dependency_errors(facts, caller, rules):
            if err.kind == "tls" and err.host in (peer, ""):
                out.append(
                    Finding(
                        "cert_expired",
                        peer,
                        f"{caller} rejects the certificate {peer} presents: {err.line[:160]}",
                        rank=20,
                        evidence=[(logs[0], logs[1], err.line[:200]), metrics_row],
                        remediation={"verb": "rollout_restart", "target": peer, "params": {}},
                    )
                )
            elif err.host in (peer, "") or err.kind in ("network", "mongo"):
                link = diagnose_link(facts, caller, err)
                if link is not None and link.target in (peer, caller):
                    out.append(link)
        if requires_tls(facts, peer):
            out.append(
                Finding(
                    "mongo_auth_mismatch",
                    peer,
                    "it requires TLS while its clients connect without TLS",
                    rank=20,
                    evidence=[
                        ("describe_deployment", {"namespace": ns, "name": peer}, "--tlsMode requireTLS"),
                        metrics_row,
                    ],
                    remediation={"verb": "rollout_undo", "target": peer, "params": {}},
                )
            )
        if code in ("504", "trace") or peer in sig.wire:
            out.append(
                Finding(
                    "network_degraded",
                    peer,
                    f"calls from {caller} to {peer} time out or are slow on the wire "
                    f"while {peer} itself is healthy",
                    rank=35,
                    evidence=[metrics_row, ("get_traces", {}, sig.trace_failures.get((caller, peer), ""))],
                    remediation={"verb": "rollout_restart", "target": peer, "params": {}},
                )
            )
        if len(out) == found:  # the calls fail and nothing above explains why: the callee is suspect
            out.append(
                Finding(
                    "app_errors",
                    peer,
                    f"calls from {caller} to {peer} fail ({code}) for no reason the reads could show",
                    rank=45,
                    evidence=[metrics_row],
                    remediation={"verb": "rollout_restart", "target": peer, "params": {}},
                )
            )
    return out


def _telemetry_findings(facts: Facts, sig: Signals) -> list[Finding]:
    ns = facts.namespace
    out: list[Finding] = []
    for callee, ms in sig.wire.items():
        if facts.deployment(callee) is not None:
            out.append(
                Finding(
                    "network_degraded",
                    callee,
                    f"requests spend {ms:.0f} ms on the wire before {callee} sees them",
                    rank=35,
                    evidence=[("get_traces", {}, f"time on the wire to {callee}: {ms:.0f} ms")],
                    remediation={"verb": "rollout_restart", "target": callee, "params": {}},
                )
            )
    deepest = sig.deepest_erroring()
    if deepest:
        out.append(
            Finding(
                "app_errors",
                deepest,
                f"{sig.erroring[deepest]:.2f} errors/s while its own calls succeed",
                rank=40,
                evidence=[
                    (
                        "get_logs",
                        {"namespace": ns, "name": deepest, "tail": 200},
                        f"errors returned by {deepest}",
                    )
                ],
                remediation={"verb": "rollout_undo", "target": deepest, "params": {}},
            )
        )
    for workload, share in sig.throttled.items():
        out.append(
            Finding(
                "cpu_starved",
                workload,
                f"CPU at {share:.0%} of its limit (throttled)",
                rank=38,
                evidence=[("describe_deployment", {"namespace": ns, "name": workload}, "CPU limit")],
                remediation=_cpu_fix(facts, workload),
            )
        )
    slowest = sig.slowest()
    if slowest and slowest not in sig.wire:
        limit = _cpu_limit_m(facts, slowest)
        starved = limit is not None and limit < 100
        out.append(
            Finding(
                "cpu_starved" if starved else "latency",
                slowest,
                f"average latency {sig.slower[slowest]:.1f}x its level earlier in the hour"
                + (f" with a CPU limit of {limit:.0f}m" if starved else ""),
                rank=38 if starved else 45,
                evidence=[("query_metrics", {}, f"{slowest} latency ×{sig.slower[slowest]:.1f}")],
                remediation=_cpu_fix(facts, slowest)
                if starved
                else {"verb": "rollout_restart", "target": slowest, "params": {}},
            )
        )
    for workload, ratio in sig.growing_memory.items():
        out.append(Finding("latency", workload, f"working set grew {ratio:.1f}x within the hour", rank=46))
    for workload in sig.restarted:
        out.append(
            Finding(
                "pod_failure",
                workload,
                "its container restarted within the last hour",
                rank=50,
                evidence=[("query_metrics", {}, f"restarts of {workload} grew")],
                remediation={"verb": "rollout_restart", "target": workload, "params": {}},
            )
        )
    for workload in sig.young:
        out.append(
            Finding(
                "pod_failure",
                workload,
                "its pod was replaced recently while the rest of the application kept running",
                rank=55,
                evidence=[("get_pods", {"namespace": ns}, f"{workload} pod much younger than the others")],
                remediation={"verb": "rollout_restart", "target": workload, "params": {}},
            )
        )
    return out


def _mentioned_service(facts: Facts, text: str) -> str | None:
    lowered = text.lower()
    names = sorted(facts.workloads(), key=len, reverse=True)
    for name in names:
        spoken = name.replace("-", " ")
        if re.search(rf"\b{re.escape(spoken)}\b", lowered) or re.search(rf"\b{re.escape(name)}\b", lowered):
            return name
    return None


def _flag_finding(facts: Facts, rules: Rules, best: Finding | None, sig: Signals) -> Finding | None:
    flags = enabled_flags(facts, rules)
    if not flags:
        return None
    source, _, _ = flags[0][0].partition("/")
    key = flags[0][0].partition("/")[2]
    target = None
    if best is not None and best.verdict in ("caller_misconfigured",):
        target = best.target
    for _, _, description in flags:
        target = target or _mentioned_service(facts, description)
    target = target or (best.target if best else None) or sig.deepest_erroring() or sig.slowest()
    if target is None:
        return None
    doc = json.loads(facts.configmaps[source][key])
    for _, flag, _ in flags:
        doc["flags"][flag]["defaultVariant"] = "off"
    names = ", ".join(flag for _, flag, _ in flags)
    return Finding(
        "feature_flag",
        target,
        names,
        rank=5,
        evidence=[
            ("describe_configmap", {"namespace": facts.namespace, "name": source}, f"{names} switched on")
        ]
        + (best.evidence if best else []),
        remediation={
            "verb": "patch_configmap",
            "target": source,
            "params": {"data": {key: json.dumps(doc, indent=2)}},
        },
        followups=[
            {"verb": "rollout_restart", "target": name, "params": {}} for name in _flag_servers(facts, source)
        ],
    )


def quiet_findings(facts: Facts, rules: Rules, suspects: list[str]) -> list[Finding]:
    """Candidate root causes when nothing is crashing (empty: the application looks healthy)."""
    sig = read_signals(facts, rules)
    found = _edge_findings(facts, rules, sig) + _telemetry_findings(facts, sig)
    best = min(found, key=lambda f: f.rank) if found else None
    flag = _flag_finding(facts, rules, best, sig)
    return [flag] if flag is not None else found
