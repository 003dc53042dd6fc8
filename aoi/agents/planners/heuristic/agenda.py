"""The heuristic planner's investigation order: which read to make next, given what is known.

An SRE's routine, made explicit: survey (pods, deployments, services, endpoints, warning events, and
nodes when a pod is unscheduled or in a status a node causes), then for each unhealthy workload its
pod description and the logs of the crashed container, then the dependencies those logs complain
about (their Service, their configuration, the database's own logs), and — when nothing is visibly
broken — traces, metrics, feature flags and restarts. The agenda is recomputed from the facts at
every step; the first probe not yet made is the next step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from aoi.agents.planners.heuristic.analysis import dependency_errors, static_service_problems
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.probes import Probe, dependency_probes
from aoi.agents.planners.heuristic.rules import Rules
from aoi.agents.planners.heuristic.telemetry import quiet_probes
from aoi.agents.planners.heuristic.volumes import mentions_volume
from aoi.agents.planners.heuristic.workloads import events_about, first_bad_pod, unhealthy_workloads
from aoi.agents.symptoms import SURVEY_PROBES

MAX_SUSPECTS = 4
CRASHING = ("CrashLoopBackOff", "Error", "OOMKilled", "StartError")


def _survey(ns: str) -> Iterator[Probe]:
    yield Probe(
        "get_pods", {"namespace": ns}, "survey pod health: readiness, restarts, crash loops, pending pods"
    )
    yield Probe(
        "get_deployments", {"namespace": ns}, "compare desired and ready replicas; note container ports"
    )
    yield Probe("get_services", {"namespace": ns}, "service ports, targetPorts and selectors")
    yield Probe("get_endpoints", {"namespace": ns}, "which services have no ready endpoints")
    yield Probe(
        "get_events",
        {"namespace": ns, "warnings_only": True},
        "warning events: scheduling, probes, back-offs",
    )


# Pod statuses a node can explain: not (yet) placed, or lost, evicted or refused by its node.
NODE_STATUSES = frozenset(
    {"Pending", "Unknown", "Evicted", "Terminating", "NodeLost", "OutOfcpu", "OutOfmemory", "NodeAffinity"}
)


def _node_trouble(facts: Facts) -> bool:
    """Whether nodes can explain what the pods show: a pod unscheduled or in a status a node causes
    (``NODE_STATUSES``), or no pods at all (also before the pods are listed). Otherwise the node
    listing cannot change the verdict, and under a tight budget it costs a step the decisive probe
    needs."""
    if not facts.pods:
        return True
    return any(p["status"] in NODE_STATUSES or p.get("node") in (None, "", "<none>") for p in facts.pods)


def _waits_for_volume(facts: Facts, workload: str) -> bool:
    pod = first_bad_pod(facts, workload)
    if pod is None or pod["status"] != "Pending":
        return False
    messages = [str(pod["unschedulable"] or "")] + [e["message"] for e in events_about(facts, workload)]
    return mentions_volume(messages)


def _suspect_probes(facts: Facts, ns: str, workload: str, rules: Rules) -> Iterator[Probe]:
    pod = first_bad_pod(facts, workload)
    if pod is None:
        yield Probe(
            "describe_deployment", {"namespace": ns, "name": workload}, f"why {workload} has no ready pods"
        )
        return
    yield Probe(
        "describe_pod", {"namespace": ns, "name": pod["name"]}, f"container state and events of {pod['name']}"
    )
    if pod["status"] in (
        "Pending",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "ContainerCreating",
    ):
        return  # never started: there are no logs to read
    crashed = pod["restarts"] > 0 or pod["status"] in CRASHING
    yield Probe(
        "get_logs",
        {"namespace": ns, "name": workload, "tail": 100, "previous": crashed},
        f"what {workload}'s {'crashed ' if crashed else ''}container logged",
    )
    for err in dependency_errors(facts, workload, rules)[:2]:
        yield from dependency_probes(facts, ns, workload, err.host, err.port, err.kind)


def agenda(facts: Facts, rules: Rules, guided: Sequence[Probe] = ()) -> Iterator[Probe]:
    """Every probe worth making, in order; the planner takes the first one not yet made.

    ``guided`` are the probes Evolver guidance names (``guidance.guided_probes``): made once
    ``SURVEY_PROBES`` probes have been (the survey's pods, deployments and services, or any other
    three), before the rest."""
    ns = facts.namespace
    if ns is None:
        yield Probe("get_namespaces", {}, "the incident does not name a namespace: list them")
        return
    # A note retrieved for what the first probes saw names the decisive probe of a like incident:
    # made as soon as SURVEY_PROBES probes are (when the Observer asks again with what they saw),
    # before the rest of the routine, so a tight step budget still reaches it. (Before then the
    # survey's first probes come first: fewer probes made means one of them is still to make.)
    if len(facts.done) >= SURVEY_PROBES:
        yield from guided
    yield from _survey(ns)
    if _node_trouble(facts):
        yield Probe("get_nodes", {}, "node readiness, cordons and pressure")
    suspects = unhealthy_workloads(facts)
    if any(_waits_for_volume(facts, workload) for workload in suspects):
        # The scheduler blames claims: which are Pending, and are their volumes held by deleted claims?
        yield Probe("get_pvcs", {"namespace": ns}, "which claims are Pending and why")
        yield Probe("get_pvs", {}, "whether the volumes are Released to deleted claims")
    for workload in suspects[:MAX_SUSPECTS]:
        yield from _suspect_probes(facts, ns, workload, rules)
    if suspects or static_service_problems(facts):
        return
    yield from quiet_probes(facts, ns, rules)


def next_probe(facts: Facts, rules: Rules, guided: Sequence[Probe] = ()) -> Probe | None:
    for probe in agenda(facts, rules, guided):
        if not facts.was_done(probe.tool, probe.args):
            return probe
    return None
