"""Reading symptoms like an SRE: dependency errors in logs, and why a link to a dependency is broken.

``dependency_errors`` turns a workload's log lines into (host, port, kind, issue) complaints;
``diagnose_link`` follows one complaint the way one would with kubectl: does the host resolve to a
Service, does the Service expose that port, does its targetPort reach a container port, does it have
endpoints, does its selector match the pods, is the backend scaled to zero or itself broken.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.rules import Rules

_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_DATABASE_LINE = re.compile(r"database|mongo|\bdb\b|storage", re.IGNORECASE)


@dataclass(frozen=True)
class DepError:
    """One kind of complaint a workload makes about a dependency, with an example line."""

    host: str
    port: int | None
    kind: str
    issue: str
    line: str
    count: int = 1


@dataclass
class Finding:
    """A candidate root cause: verdict key (rules.yaml), faulty component, detail, fix, evidence."""

    verdict: str
    target: str
    detail: str
    rank: int
    evidence: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    remediation: dict[str, Any] | None = None
    extra_targets: list[str] = field(default_factory=list)
    address: tuple[str, int | None] | None = None  # the wrong address a misconfigured caller dials
    followups: list[dict[str, Any]] = field(default_factory=list)  # further steps of the same fix


def _service_by_ip(facts: Facts) -> dict[str, str]:
    return {str(s.get("cluster_ip")): s["name"] for s in facts.services or [] if s.get("cluster_ip")}


def _count_of(line: str) -> int:
    match = re.search(r"\[×(\d+)\]\s*$", line)
    return int(match.group(1)) if match else 1


def dependency_errors(facts: Facts, workload: str, rules: Rules) -> list[DepError]:
    """Complaints in ``workload``'s logs, most frequent first; the host is mapped to a Service name.

    A line that names no address (``not authorized on geo-db``) is attributed to the address the
    program last mentioned (``Read database URL: mongodb-geo:27017``), as a reader of the log would.
    """
    by_ip = _service_by_ip(facts)
    found: Counter[tuple[str, int | None, str, str]] = Counter()
    example: dict[tuple[str, int | None, str, str], str] = {}
    context: tuple[str, int | None] | None = None
    db_context: tuple[str, int | None] | None = None
    for line in facts.log_lines(workload):
        addresses = rules.addresses(line)
        hosts: list[tuple[str, int | None]] = [
            (by_ip.get(h, h), p) for h, p in addresses if not _IP.match(h) or h in by_ip
        ]
        if not hosts:
            named = [
                s["name"] for s in facts.services or [] if re.search(rf"\b{re.escape(s['name'])}\b", line)
            ]
            no_port: int | None = None
            hosts = [(str(n), no_port) for n in named if n != workload][:1]
        signal = rules.classify(line)
        if signal is None:
            if hosts:
                context = hosts[0]
                if _DATABASE_LINE.search(line):
                    db_context = hosts[0]
            continue
        if signal.issue == "dns":
            looked_up = rules.dns_name.search(line)
            if looked_up and not _IP.match(looked_up.group("host")):
                hosts = [(looked_up.group("host"), hosts[0][1] if hosts else None)]
        remembered = db_context if signal.kind == "mongo" and db_context else context
        if not hosts and remembered is not None:
            hosts = [remembered]
        for host, port in hosts[:1] or [("", None)]:
            key = (host.split(".")[0] if host else "", port, signal.kind, signal.issue)
            found[key] += _count_of(line)
            example.setdefault(key, line.strip())
    return [DepError(h, p, k, i, example[(h, p, k, i)], n) for (h, p, k, i), n in found.most_common()]


def _selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def backing_workload(facts: Facts, service: dict[str, Any]) -> str | None:
    """The workload a Service is meant to front: by selector, else by name."""
    selector = service.get("selector") or {}
    for dep in facts.deployments or []:
        if _selector_matches(selector, dep.get("template_labels") or {}):
            return str(dep["name"])
    if facts.deployment(service["name"]) is not None or facts.pods_of(service["name"]):
        return str(service["name"])
    return None


def _container_ports(facts: Facts, workload: str) -> list[int]:
    dep = facts.deployment(workload)
    ports = [int(p) for p in (dep or {}).get("ports") or [] if p is not None]
    return ports


def service_problem(facts: Facts, name: str) -> Finding | None:
    """What is wrong with Service ``name`` itself (targetPort, selector, replicas), if anything."""
    svc = facts.service(name)
    if svc is None:
        return None
    workload = backing_workload(facts, svc)

    def services_row(text: str) -> tuple[str, dict[str, Any], str]:
        return ("get_services", {"namespace": facts.namespace}, f"Service {name}: {text}")

    dep = facts.deployment(workload) if workload else None
    if dep is not None and dep["desired"] == 0:
        return Finding(
            "scaled_to_zero",
            str(workload),
            "0 desired replicas",
            rank=10,
            evidence=[("get_deployments", {"namespace": facts.namespace}, f"{workload} READY 0/0")],
            remediation={
                "verb": "scale",
                "target": workload,
                "params": {"replicas": 1, "current_replicas": 0},
            },
        )
    selector = svc.get("selector") or {}
    pods = facts.pods_of(workload) if workload else []
    if selector and pods and not any(_selector_matches(selector, p.get("labels") or {}) for p in pods):
        labels = pods[0].get("labels") or {}
        wanted = {k: labels[k] for k in selector if k in labels} or {
            k: v for k, v in labels.items() if k != "pod-template-hash"
        }
        return Finding(
            "service_selector",
            name,
            f"selector {selector} matches none of the pods of {workload} (labels {labels})",
            rank=10,
            evidence=[
                services_row(f"selector {selector}"),
                ("get_endpoints", {"namespace": facts.namespace}, f"Service {name} has no endpoints"),
            ],
            remediation={"verb": "patch_service_selector", "target": name, "params": {"selector": wanted}},
        )
    ports = _container_ports(facts, workload) if workload else []
    for index, target in enumerate(svc.get("target_ports") or []):
        if isinstance(target, int) and ports and target not in ports:
            service_port = (svc.get("ports") or [None])[index]
            fix = (
                service_port if service_port in ports else (ports[index] if index < len(ports) else ports[0])
            )
            return Finding(
                "service_target_port",
                name,
                f"{target} (containers of {workload} listen on {', '.join(map(str, ports))})",
                rank=10,
                evidence=[
                    services_row(f"port {service_port} → targetPort {target}"),
                    ("get_deployments", {"namespace": facts.namespace}, f"{workload} ports {ports}"),
                ],
                remediation={
                    "verb": "patch_service_target_port",
                    "target": name,
                    "params": {"target_port": fix, "port_index": index},
                },
            )
    return None


def static_service_problems(facts: Facts) -> list[Finding]:
    """Services whose configuration is broken regardless of traffic (checked for every Service)."""
    out = []
    for svc in facts.services or []:
        problem = service_problem(facts, svc["name"])
        if problem is not None:
            out.append(problem)
    covered = {f.target for f in out}
    for dep in facts.deployments or []:
        if dep["desired"] == 0 and dep["name"] not in covered:  # e.g. a queue consumer with no Service
            out.append(
                Finding(
                    "scaled_to_zero",
                    str(dep["name"]),
                    "0 desired replicas",
                    rank=10,
                    evidence=[
                        ("get_deployments", {"namespace": facts.namespace}, f"{dep['name']} READY 0/0")
                    ],
                    remediation={
                        "verb": "scale",
                        "target": dep["name"],
                        "params": {"replicas": 1, "current_replicas": 0},
                    },
                )
            )
    return out


def requires_tls(facts: Facts, workload: str) -> bool:
    """Whether the workload's server is started requiring TLS from every client."""
    details = facts.deployment_details.get(workload) or {}
    args = " ".join(str(a) for c in details.get("containers") or [] for a in (c.get("args") or []))
    return bool(re.search(r"--(tls|ssl)Mode[ =](requireTLS|requireSSL)", args))


def _database_link(
    facts: Facts, caller: str, err: DepError, logs: tuple[str, dict[str, Any], str]
) -> Finding | None:
    """A client cannot reach its database: wrong address, broken Service, or TLS it does not speak."""
    svc = facts.service(err.host)
    ns = facts.namespace
    if svc is None or (err.port is not None and svc.get("ports") and err.port not in svc["ports"]):
        exposed = ", ".join(map(str, (svc or {}).get("ports") or [])) or "nothing (no such Service)"
        return Finding(
            "caller_misconfigured",
            caller,
            f"it connects to {err.host}:{err.port} but Service {err.host} exposes {exposed}",
            rank=30,
            evidence=[logs, ("get_services", {"namespace": ns}, f"{err.host} ports {exposed}")],
            address=(err.host, err.port),
        )
    own = service_problem(facts, err.host)
    if own is not None:
        return own
    if requires_tls(facts, err.host):
        return Finding(
            "mongo_auth_mismatch",
            err.host,
            "the server requires TLS while its clients connect without it",
            rank=20,
            evidence=[
                logs,
                ("describe_deployment", {"namespace": ns, "name": err.host}, "--tlsMode requireTLS"),
            ],
            remediation={"verb": "rollout_undo", "target": err.host, "params": {}},
        )
    return None


def diagnose_link(facts: Facts, caller: str, err: DepError) -> Finding | None:
    """Why ``caller`` cannot use ``err.host``; None when the link looks fine (look at the callee)."""
    ns = facts.namespace
    logs = ("get_logs", {"namespace": ns, "name": caller}, err.line)
    if err.kind == "tls" and err.host and facts.service(err.host) is not None:
        return Finding(
            "cert_expired",
            err.host,
            f"{caller} rejects the certificate {err.host} presents: {err.line[:160]}",
            rank=20,
            evidence=[logs],
            remediation={"verb": "rollout_restart", "target": err.host, "params": {}},
        )
    if err.kind == "mongo" and err.host and err.issue in ("unreachable", "tls"):
        return _database_link(facts, caller, err, logs)
    if err.kind == "mongo" and err.host:
        verdict = {
            "unauthorized": "mongo_unauthorized",
            "auth_failed": "mongo_user_missing",
            "tls": "mongo_auth_mismatch",
            "unauthenticated": "mongo_auth_mismatch",
        }.get(err.issue, "mongo_auth_mismatch")
        return Finding(
            verdict,
            err.host,
            err.line[:200],
            rank=20,
            evidence=[
                logs,
                ("get_logs", {"namespace": ns, "name": err.host, "tail": 100}, f"{err.host}'s own log"),
            ],
            remediation={"verb": "mongo", "target": err.host, "params": {}},
        )
    if not err.host:
        return None
    svc = facts.service(err.host)
    if svc is None:
        if err.issue in ("dns", "timeout", "refused"):
            return Finding(
                "caller_misconfigured",
                caller,
                f"it dials {err.host}:{err.port}, which is not a Service in {ns}",
                rank=30,
                evidence=[logs],
                address=(err.host, err.port),
            )
        return None
    if err.port is not None and svc.get("ports") and err.port not in svc["ports"]:
        return Finding(
            "caller_misconfigured",
            caller,
            f"it dials {err.host}:{err.port} but Service {err.host} exposes port(s) "
            f"{', '.join(map(str, svc['ports']))}",
            rank=30,
            evidence=[
                logs,
                (
                    "describe_service",
                    {"namespace": ns, "name": err.host},
                    f"ports {svc['ports']} of {err.host}",
                ),
            ],
            address=(err.host, err.port),
        )
    own = service_problem(facts, err.host)
    if own is not None:
        own.evidence.insert(0, logs)
        return own
    return None
