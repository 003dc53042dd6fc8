"""Evolver guidance changes what the heuristic planner does: the probes a note names are made right
after the first survey probes, adapted to this investigation, and nothing else in a note (prose,
proposals) is obeyed."""

from __future__ import annotations

from typing import Any

from aoi.agents.backends.sim import SimReadBackend
from aoi.agents.observer import Observer
from aoi.agents.planners.base import PlannerContext, PlannerOutput
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.guidance import (
    GUIDED_WHY,
    MAX_GUIDED,
    guided_made,
    guided_probes,
    parse_probes,
)
from aoi.agents.records import Step, Trajectory
from aoi.agents.tools import READ_TOOLS, read_tools
from aoi.sim import SimCluster, grade, load_problem
from aoi.training.evolver import RepairedPlan, guidance_note

PROBLEM = "k8s_target_port-misconfig-localization-1"
NS = "test-social-network"
SPECS = [definition.bind(None).spec for definition in READ_TOOLS]


def evolver_note() -> str:
    plan = RepairedPlan(
        discovery=['get_pods {"namespace": "prod-social"}'],
        diagnosis=[
            'describe_configmap {"name": "service-config", "namespace": "prod-social"}',
            'get_logs {"name": "home-timeline-service", "namespace": "prod-social", "tail": 50}',
            "follow the errors to their source: describe and read logs of user-service before answering",
        ],
        resolution=['propose scale prod-social/user-service {"replicas": 0}'],
        verification=["after the fix, check user-service: pods Ready"],
    )
    return guidance_note(["wrong_path"], plan)


class FirstProbes:
    """Makes the given probes first (another planner's, or a model's detours), then the heuristic's."""

    name = "first-probes"

    def __init__(self, first: list[tuple[str, dict[str, Any]]]) -> None:
        self.first, self.inner = first, HeuristicPlanner()

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        if len(context.history) < len(self.first):
            tool, args = self.first[len(context.history)]
            return PlannerOutput(step=Step(action_type="probe", tool=tool, args=args, summary="first"))
        return self.inner.next_step(context)


def run(guidance: list[str], planner: Any = None) -> Trajectory:
    cluster = SimCluster.from_problem(load_problem(PROBLEM))
    planner = planner or HeuristicPlanner()
    observer = Observer(read_tools(SimReadBackend(cluster)), planner, guidance=lambda _i: guidance)
    trajectory = observer.run(f"Errors in namespace {NS}", "localization", PROBLEM)
    assert trajectory.diagnosis is not None
    assert grade(load_problem(PROBLEM), cluster, trajectory.diagnosis.to_json_dict()).success
    return trajectory


def probes(trajectory: Trajectory) -> list[tuple[str | None, dict[str, Any]]]:
    return [(s.step.tool, s.step.args) for s in trajectory.steps if s.step.action_type == "probe"]


def test_the_evolver_note_format_is_parsed_into_probes() -> None:
    assert parse_probes(evolver_note(), SPECS) == [
        ("get_pods", {"namespace": "prod-social"}),
        ("describe_configmap", {"name": "service-config", "namespace": "prod-social"}),
        ("get_logs", {"name": "home-timeline-service", "namespace": "prod-social", "tail": 50}),
    ]


def test_proposals_truncated_json_unknown_tools_and_bad_args_are_ignored() -> None:
    note = (
        'Resolution: propose scale ns/web {"replicas": 0}; delete_pod {"name": "x", "namespace": "y"}; '
        'get_logs {"pod": "web", "namespace": "y"}; get_events {"namespace": "y"}; '
        'describe_service {"name": "web", "names'
    )
    assert parse_probes(note, SPECS) == [("get_events", {"namespace": "y"})]


def test_a_note_adds_its_probes_to_the_trajectory_in_this_namespace() -> None:
    plain = probes(run([]))
    guided = probes(run([evolver_note()]))
    configmap = ("describe_configmap", {"name": "service-config", "namespace": NS})
    logs = ("get_logs", {"name": "home-timeline-service", "namespace": NS, "tail": 50})
    assert configmap not in plain and logs not in plain
    assert configmap in guided and logs in guided
    # after pods, deployments and services (what the Observer re-asks with), before the rest of the routine
    assert guided[:3] == plain[:3] and guided[3:5] == [configmap, logs] and guided[5:] == plain[3:]
    assert not any(tool == "get_pods" and args != {"namespace": NS} for tool, args in guided)


def test_probes_of_objects_this_app_lacks_are_skipped_and_capped() -> None:
    ghosts = "; ".join(f'describe_service {{"name": "ghost-{i}", "namespace": "x"}}' for i in range(3))
    many = "; ".join(
        f'get_logs {{"name": "compose-post-service", "namespace": "x", "tail": {n}}}' for n in range(10)
    )
    guided = probes(run([ghosts, many]))
    assert not any(args.get("name", "").startswith("ghost") for _tool, args in guided)
    extra = [a for tool, a in guided if tool == "get_logs" and a.get("name") == "compose-post-service"]
    assert len([a for a in extra if a.get("tail") != 100]) == MAX_GUIDED


def test_a_notes_diagnosis_probes_come_before_its_discovery_listings() -> None:
    note = (
        'A similar incident failed before (x). Discovery: get_configmaps {"namespace": "a"}. '
        'Diagnosis: describe_configmap {"name": "service-config", "namespace": "a"}.'
    )
    guided = probes(run([note]))
    assert guided[3:5] == [
        ("describe_configmap", {"name": "service-config", "namespace": NS}),
        ("get_configmaps", {"namespace": NS}),
    ]


def test_a_note_is_followed_after_any_three_probes_not_only_the_survey() -> None:
    first: list[tuple[str, dict[str, Any]]] = [("get_nodes", {}), ("get_pvs", {}), ("get_trace_services", {})]
    guided = probes(run([evolver_note()], FirstProbes(first)))
    assert guided[:3] == first
    assert guided[3] == ("describe_configmap", {"name": "service-config", "namespace": NS})


def test_guided_probes_already_made_count_against_the_cap_across_new_notes() -> None:
    """The Observer may replace the notes mid-investigation; the cap is per investigation."""
    facts = Facts(namespace=NS)
    notes = ["; ".join(f'get_logs {{"name": "svc-{i}", "namespace": "x", "tail": 50}}' for i in range(6))]
    assert len(list(guided_probes(facts, notes, SPECS))) == MAX_GUIDED
    made = guided_made(["survey pod health", f"{GUIDED_WHY}: get_logs", f"{GUIDED_WHY}: describe_service"])
    assert made == 2
    assert len(list(guided_probes(facts, notes, SPECS, made))) == MAX_GUIDED - 2
    assert list(guided_probes(facts, notes, SPECS, MAX_GUIDED)) == []
