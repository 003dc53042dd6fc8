"""The Evolver classifies failures, repairs the plan, writes a note, files it and retrieves it."""

from __future__ import annotations

from typing import Any

from aoi.agents.records import Diagnosis, Remediation, Step, ToolResult, Trajectory, TrajectoryStep
from aoi.training.embeddings import HashingEmbedder
from aoi.training.evolver import (
    NOTE_CHARS,
    FailureCase,
    RepairedPlan,
    classify,
    evolve,
    guidance_note,
    symptoms_of,
)
from aoi.training.guidance import GuidanceLibrary

NS = "test-hotel-reservation"


def _probe(
    i: int, tool: str, targets: list[str], output: str = "ok", status: str = "ok", **args: Any
) -> TrajectoryStep:
    return TrajectoryStep(
        index=i,
        step=Step(action_type="probe", tool=tool, args=args, targets=targets, summary=f"{tool} {targets}"),
        result=ToolResult(tool=tool, invocation=f"{tool} {args}", status=status, output=output),  # type: ignore[arg-type]
    )


def _propose(i: int, verb: str, target: str) -> TrajectoryStep:
    return TrajectoryStep(
        index=i,
        step=Step(
            action_type="propose",
            args={"verb": verb, "target": target, "namespace": NS, "params": {}},
            targets=[target],
        ),
    )


def _traj(
    steps: list[TrajectoryStep],
    components: list[str],
    task: str = "mitigation",
    incident: str = "geo requests time out; frontend returns 500",
    notes: list[str] | None = None,
    fixes: list[Remediation] | None = None,
) -> Trajectory:
    submit = TrajectoryStep(index=len(steps) + 1, step=Step(action_type="submit", args={"detected": True}))
    diagnosis = Diagnosis(
        detected=True, faulty_components=components, remediations=fixes or [], notes=notes or []
    )
    return Trajectory(incident=incident, task=task, steps=[*steps, submit], diagnosis=diagnosis)


def test_mitigation_that_stops_early_without_a_fix() -> None:
    failed = _traj([_probe(1, "get_pods", [], namespace=NS)], ["geo"])
    assert classify(FailureCase(failed, "grader", failed_checks=("mitigation",))) == [
        "premature_stop",
        "missing_resolution",
    ]


def test_budget_exhaustion_counts_as_a_premature_stop() -> None:
    probes = [
        _probe(1, "get_pods", [], namespace=NS),
        _probe(2, "get_logs", ["geo"], namespace=NS, pod="geo"),
    ]
    failed = _traj(probes, ["geo"], task="localization", notes=["step budget of 2 exhausted; concluded ..."])
    assert "premature_stop" in classify(FailureCase(failed, "grader", failed_checks=("localization",)))


def test_looping_run_is_repaired_from_the_successful_reference() -> None:
    loop = [
        _probe(1, "get_pods", [], namespace=NS),
        _probe(2, "get_logs", ["frontend"], namespace=NS, pod="frontend"),
        _probe(3, "get_logs", ["frontend"], namespace=NS, pod="frontend"),
        _probe(4, "get_logs", ["frontend"], namespace=NS, pod="frontend"),
    ]
    failed = _traj(loop, ["frontend"], task="localization")
    good = _traj(
        [
            _probe(1, "get_pods", [], namespace=NS),
            _probe(2, "describe_service", ["geo"], namespace=NS, name="geo"),
            _probe(3, "get_logs", ["geo"], namespace=NS, pod="geo"),
        ],
        ["geo"],
        task="localization",
    )
    evolution = evolve(FailureCase(failed, "grader", failed_checks=("localization",), reference=good))
    assert "wrong_path" in evolution.patterns
    assert "incomplete_diagnosis" in evolution.patterns
    assert any(line.startswith("describe_service") for line in evolution.plan.diagnosis)
    assert evolution.plan.discovery[0].startswith("get_pods")
    assert "geo" in evolution.plan.verification[0]
    assert "describe_service" in evolution.note and len(evolution.note) <= 700


def test_rejected_fix_on_an_unread_resource() -> None:
    steps = [
        _probe(1, "get_pods", [], namespace=NS),
        _probe(2, "get_logs", ["geo"], namespace=NS, pod="geo"),
        _propose(3, "delete_pod", "mongodb-geo"),
    ]
    failed = _traj(steps, ["geo"])
    evolution = evolve(FailureCase(failed, "rejected", reason="deleting the database pod loses data"))
    assert evolution.patterns == ["wrong_fix", "missing_verification"]
    assert not any("delete_pod" in line for line in evolution.plan.resolution)
    assert "deleting the database pod" in " ".join(evolution.plan.resolution)


def _long_plan() -> RepairedPlan:
    listing = 'get_pods {"namespace": "test-social-network-with-a-long-namespace-name", "selector": "app"}'
    decisive = [
        f'get_logs {{"namespace": "{NS}", "pod": "user-service-{i}", "tail": 200, "grep": "error"}}'
        for i in range(3)
    ]
    return RepairedPlan(
        discovery=[listing, listing.replace("get_pods", "get_events")],
        diagnosis=decisive,
        resolution=['propose scale_deployment test/user-service {"replicas": 1}'],
        verification=["after the fix, check user-service: pods Ready, no restarts or CrashLoopBackOff"],
    )


def test_a_long_note_sheds_verification_and_discovery_before_any_decisive_probe() -> None:
    plan = _long_plan()
    note = guidance_note(["wrong_path", "incomplete_diagnosis"], plan, reason="x" * 300)
    assert len(note) <= NOTE_CHARS
    assert all(line in note for line in plan.diagnosis)  # every decisive probe whole, parseable
    assert "Resolution: propose scale_deployment" in note
    assert "Verification:" not in note and "get_events" not in note
    assert not note.endswith("…")


def test_a_note_that_fits_keeps_every_phase() -> None:
    plan = RepairedPlan(
        discovery=['get_pods {"namespace": "ns"}'],
        diagnosis=['describe_service {"name": "geo", "namespace": "ns"}'],
        resolution=[],
        verification=["after the fix, check geo: pods Ready"],
    )
    note = guidance_note(["wrong_path"], plan)
    assert note == (
        "A similar incident failed before (probes went in circles or away from the failing component)."
        ' Discovery: get_pods {"namespace": "ns"}. Diagnosis: describe_service {"name": "geo",'
        ' "namespace": "ns"}. Verification: after the fix, check geo: pods Ready.'
    )


def test_a_note_too_long_even_with_one_probe_is_cut_with_an_ellipsis() -> None:
    huge = 'get_logs {"pod": "' + "p" * 900 + '"}'
    note = guidance_note(["wrong_path"], RepairedPlan(diagnosis=[huge], verification=["v"]))
    assert len(note) == NOTE_CHARS and note.endswith("…")


def test_symptoms_carry_the_error_lines_the_probes_saw() -> None:
    probe = _probe(
        1, "get_logs", ["geo"], output="INFO ok\nERROR dial tcp 10.0.0.7:27017: connection refused\nINFO ok"
    )
    text = symptoms_of(_traj([probe], ["geo"]))
    assert text.startswith("geo requests time out")
    assert "connection refused" in text and "INFO ok" not in text


def test_filed_notes_are_retrieved_for_similar_incidents_only_once_and_not_after_removal(store: Any) -> None:
    from aoi.store import repo

    library = GuidanceLibrary(store, HashingEmbedder())
    geo = evolve(FailureCase(_traj([_probe(1, "get_pods", [], namespace=NS)], ["geo"]), "grader"))
    disk = evolve(
        FailureCase(
            _traj(
                [_probe(1, "get_nodes", [])],
                ["node-2"],
                incident="node-2 reports disk pressure; pods evicted",
            ),
            "thumbs_down",
        )
    )
    first = library.file(geo)
    assert not first.duplicate
    assert library.file(geo).duplicate
    library.file(disk)
    assert len(repo.list_guidance(store)) == 2

    found = library.search("frontend returns 500 because geo requests time out", k=1)
    assert [row.id for row, _ in found] == [first.guidance.id]
    retrieve = library.source(k=2, min_score=0.2)
    assert retrieve("pods evicted: node-2 disk pressure")[0] == disk.note

    repo.remove_guidance(store, first.guidance.id, actor="U1")
    assert geo.note not in retrieve("geo requests time out; frontend returns 500")


def test_decisive_probes_of_the_reference_lead_the_diagnosis_phase() -> None:
    good = _traj(
        [
            _probe(1, "get_pods", [], namespace=NS),
            _probe(2, "get_deployments", [], namespace=NS),
            _probe(3, "get_services", [], namespace=NS),
        ],
        ["geo"],
        task="localization",
    )
    good.steps[-1].step.args["evidence"] = [{"step": 3, "finding": "targetPort 9999"}]
    failed = _traj([_probe(1, "get_pods", [], namespace=NS)], ["frontend"], task="localization")
    plan = evolve(FailureCase(failed, "grader", failed_checks=("localization",), reference=good)).plan
    assert plan.diagnosis[0].startswith("get_services")
    assert [line.split()[0] for line in plan.discovery] == ["get_pods", "get_deployments"]


def test_observed_symptoms_tell_apart_notes_of_incidents_with_the_same_text(store: Any) -> None:
    library = GuidanceLibrary(store, HashingEmbedder())
    crash = _probe(1, "get_pods", [], output="geo-7d 0/1 CrashLoopBackOff 5 (last: Error)", namespace=NS)
    pending = _probe(1, "get_pods", [], output="user-5f 0/1 Pending 0 <none> FailedScheduling", namespace=NS)
    crash_note = library.file(evolve(FailureCase(_traj([crash], ["geo"]), "grader"))).guidance
    pending_note = library.file(evolve(FailureCase(_traj([pending], ["user"]), "grader"))).guidance
    incident = "geo requests time out; frontend returns 500"
    assert library.search(f"{incident}\nObserved: user-5f 0/1 Pending FailedScheduling", k=1)[0][0].id == (
        pending_note.id
    )
    assert (
        library.search(f"{incident}\nObserved: geo-7d CrashLoopBackOff Error", k=1)[0][0].id == crash_note.id
    )


def test_equally_close_notes_that_lead_with_different_probes_are_not_shown(store: Any) -> None:
    """Two faults of one app filed under the same incident text (no error line seen): filing order
    must not decide which note a planner follows; once the errors tell them apart, the right one is."""
    library = GuidanceLibrary(store, HashingEmbedder())
    incident = "Incident report for the hotel app in namespace test-hotel-reservation."

    def reference(tool: str) -> Trajectory:
        good = _traj([_probe(1, tool, [], namespace=NS)], ["geo"], task="localization", incident=incident)
        good.steps[-1].step.args["evidence"] = [{"step": 1}]
        return good

    def failure(output: str, tool: str) -> FailureCase:
        failed = _traj(
            [_probe(1, "get_pods", [], output=output, namespace=NS)],
            ["x"],
            task="localization",
            incident=incident,
        )
        return FailureCase(failed, "grader", failed_checks=("localization",), reference=reference(tool))

    ports = library.file(evolve(failure("all pods Running", "get_services"))).guidance
    library.file(evolve(failure("all pods Running", "get_configmaps")))
    assert len(library.search(incident, k=5)) == 2  # both are as close as can be …
    assert library.retrieve(incident) == []  # … and disagree: neither is shown

    assert len(library.retrieve(incident, hide_ties=False)) == 2  # a model planner may weigh both

    crash = library.file(evolve(failure("geo-7d 0/1 CrashLoopBackOff Error", "get_logs"))).guidance
    shown = library.retrieve(f"{incident}\nObserved: geo-7d 0/1 CrashLoopBackOff Error", min_score=0.0)
    assert shown[0] == crash.note and ports.note in shown  # a note closer than the rest leads


def test_equally_close_notes_that_lead_with_the_same_probe_are_shown(store: Any) -> None:
    """Two runs of one fault: pod suffixes, namespaces and ``tail`` differ, the plan does not."""
    library = GuidanceLibrary(store, HashingEmbedder())
    incident = "Incident report for the hotel app in namespace test-hotel-reservation."
    runs = (("ns-a", "geo-7d9f8c6b5d-x1y2z", 50), ("ns-b", "geo-5c4b3a2d1e-q9w8e", 100))
    for namespace, pod_name, tail in runs:
        logs = _probe(1, "get_logs", [], namespace=namespace, name=pod_name, tail=tail)
        good = _traj([logs], ["geo"], task="localization", incident=incident)
        good.steps[-1].step.args["evidence"] = [{"step": 1}]
        pods = _probe(1, "get_pods", [], output="all Running", namespace=namespace)
        failed = _traj([pods], ["x"], task="localization", incident=incident)
        library.file(evolve(FailureCase(failed, "rejected", reason=f"run in {namespace}", reference=good)))
    assert len(library.search(incident, k=5)) == 2
    assert len(library.retrieve(incident)) == 2


def test_an_oversized_or_empty_incident_still_files_a_note(store: Any) -> None:
    """A pasted 144 kB alert dump once made filing fail (the store keeps 100,000 characters of
    symptoms) and an empty incident with no error lines once had no symptoms at all."""
    library = GuidanceLibrary(store, HashingEmbedder())
    crash = _probe(1, "get_pods", [], output="geo-7d 0/1 CrashLoopBackOff", namespace=NS)
    huge = _traj([crash], ["geo"], incident="ALERT " + "x" * 144_000)
    filed = library.file(evolve(FailureCase(huge, "thumbs_down")))
    assert len(filed.guidance.symptoms) < 2_500 and "CrashLoopBackOff" in filed.guidance.symptoms
    quiet = _traj([_probe(1, "get_pods", [], namespace=NS)], ["geo"], incident="   ")
    filed = library.file(evolve(FailureCase(quiet, "thumbs_down")))
    assert filed.guidance.symptoms == "(no incident text)"
    assert library.retrieve("", k=1, min_score=0.0, hide_ties=False) == [filed.guidance.note]


def test_a_case_the_store_refuses_is_skipped_and_reported_and_the_rest_are_filed(store: Any) -> None:
    from aoi.training.datasets import default_renderer, default_tool_specs
    from aoi.training.evolve_job import run_evolver

    good = _traj([_probe(1, "get_pods", [], namespace=NS)], ["geo"])
    odd = _traj([_probe(1, "get_pods", [], namespace=NS)], ["user"], incident="user times out")
    odd = odd.model_copy(update={"id": "t" * 200})  # longer than the store keeps
    report = run_evolver(
        [FailureCase(odd, "thumbs_down"), FailureCase(good, "thumbs_down")],
        library=GuidanceLibrary(store, HashingEmbedder()),
        tools=default_tool_specs(),
        render=default_renderer(),
        datasets_dir=None,
    )
    assert report.filed == 1 and len(report.evolutions) == 1
    assert report.skipped == [
        {
            "trajectory_id": "t" * 200,
            "error": "source trajectory id is 200 characters long; at most 64 are stored",
        }
    ]
