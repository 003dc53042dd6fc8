"""The Observer loop: read-only by construction, budgets, retries and fallback, memory, diagnosis."""

from __future__ import annotations

from typing import Any

import pytest

from aoi.agents.backends.base import BackendError
from aoi.agents.memory import build_memory
from aoi.agents.observer import Budget, Observer, WriteToolRefused
from aoi.agents.planners.base import PlannerContext, PlannerError, PlannerOutput
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.records import Step
from aoi.agents.tools import read_tools
from aoi.agents.tools.base import ToolCall, ToolDef
from tests.agents.fake_backend import FakeBackend, pod
from tests.agents.faulty_backend import FaultyReadBackend

NS = "test-hotel-reservation"
INCIDENT = f"Pods are failing in namespace {NS}."


def backend() -> FakeBackend:
    return FakeBackend(
        {
            "Pod": [
                pod("geo-abc12-x1", NS, "geo", ready=False, waiting="CrashLoopBackOff"),
                pod("user-abc12-y2", NS, "user"),
            ]
        },
        logs={"geo-abc12-x1": "starting geo\npanic: config invalid: missing GeoMongoAddress"},
    )


class ScriptedPlanner:
    """Returns the given steps (or raises the given exceptions) in order, then repeats the last."""

    def __init__(self, script: list[Any], name: str = "scripted", tokens: int = 0) -> None:
        self.script = script
        self.name = name
        self.tokens = tokens
        self.contexts: list[PlannerContext] = []

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        self.contexts.append(context)
        item = self.script[min(len(self.contexts) - 1, len(self.script) - 1)]
        if isinstance(item, Exception):
            raise item
        return PlannerOutput(step=item, prompt_tokens=self.tokens, completion_tokens=self.tokens)


def probe(tool: str, **args: Any) -> Step:
    return Step(action_type="probe", tool=tool, args=args, summary=f"look at {tool}")


SUBMIT = Step(
    action_type="submit",
    summary="geo crashes",
    args={
        "detected": True,
        "faulty_components": ["geo"],
        "system_level": "Application",
        "fault_type": "Misconfiguration",
    },
    confidence=80,
)


def _write_fn(backend: Any, call: ToolCall, name: str) -> str:
    """Scale something (a write)."""
    call.invocation = f"kubectl scale {name}"
    return "scaled"


def test_constructor_refuses_any_write_tool() -> None:
    writer = ToolDef(name="scale", description="scale", fn=_write_fn, effect="write").bind(backend())
    with pytest.raises(WriteToolRefused, match="scale"):
        Observer([*read_tools(backend()), writer], HeuristicPlanner())


def test_scripted_run_records_steps_and_submits_the_diagnosis() -> None:
    planner = ScriptedPlanner(
        [probe("get_pods", namespace=NS), probe("get_logs", namespace=NS, name="geo"), SUBMIT], tokens=7
    )
    trajectory = Observer(read_tools(backend()), planner).run(INCIDENT, task="analysis", problem_id="p1")
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None
    assert [s.step.tool for s in trajectory.steps[:2]] == ["get_pods", "get_logs"]
    assert (
        trajectory.steps[1].result is not None
        and "missing GeoMongoAddress" in trajectory.steps[1].result.output
    )
    assert diagnosis.faulty_components == ["geo"] and diagnosis.confidence == pytest.approx(0.8)
    assert diagnosis.steps == 3 and diagnosis.tokens.in_ == 21 and diagnosis.tokens.out == 21
    assert not diagnosis.degraded and diagnosis.planner == "scripted"
    assert diagnosis.evidence and diagnosis.evidence[-1].invocation.startswith("kubectl logs geo-abc12-x1")
    json = diagnosis.to_json_dict()
    assert json["tokens"] == {"in": 21, "out": 21}


def test_planner_sees_memory_of_earlier_steps_and_the_previous_in_full() -> None:
    planner = ScriptedPlanner(
        [
            probe("get_pods", namespace=NS),
            probe("get_nodes"),
            probe("get_logs", namespace=NS, name="geo"),
            SUBMIT,
        ]
    )
    Observer(read_tools(backend()), planner).run(INCIDENT)
    memory = planner.contexts[3].memory
    assert "#1 get_pods" in memory and "#2 get_nodes" in memory
    assert "Previous step #3" in memory and "panic: config invalid" in memory
    assert planner.contexts[3].budget_left.steps == Budget().max_steps - 3  # three steps taken


def test_step_budget_is_a_hard_limit_and_marks_the_diagnosis() -> None:
    forever = ScriptedPlanner(
        [probe("get_pods", namespace=NS), probe("get_nodes"), probe("get_events", namespace=NS)]
    )
    forever.script = [probe("get_pods", namespace=NS), probe("get_nodes")] * 50
    trajectory = Observer(read_tools(backend()), forever, Budget(max_steps=5)).run(INCIDENT)
    assert len(forever.contexts) == 5
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and diagnosis.degraded
    assert any("step budget of 5 exhausted" in n for n in diagnosis.notes)
    assert diagnosis.detected and "geo" in diagnosis.faulty_components  # concluded from what was seen


def test_token_budget_stops_the_investigation() -> None:
    planner = ScriptedPlanner([probe("get_pods", namespace=NS), probe("get_nodes")] * 10, tokens=600)
    trajectory = Observer(read_tools(backend()), planner, Budget(max_tokens=2000)).run(INCIDENT)
    assert len(planner.contexts) == 2  # 2 x 1200 tokens > 2000
    assert trajectory.diagnosis is not None and any("token budget" in n for n in trajectory.diagnosis.notes)


def test_deadline_is_respected() -> None:
    planner = ScriptedPlanner([probe("get_pods", namespace=NS)] * 3)
    trajectory = Observer(read_tools(backend()), planner, Budget(deadline_s=1e-9)).run(INCIDENT)
    assert planner.contexts == []
    assert trajectory.diagnosis is not None and any("deadline" in n for n in trajectory.diagnosis.notes)


@pytest.mark.parametrize(
    "failure",
    [
        PlannerError("invalid JSON"),
        TimeoutError("model endpoint timed out"),
        probe("delete_namespace", namespace=NS),
        probe("get_pods", bogus_arg=1),
        Step(action_type="submit", args={"detected": "maybe"}),
    ],
    ids=["planner-error", "timeout", "unknown-tool", "bad-args", "invalid-submit"],
)
def test_failing_planner_is_retried_then_the_heuristic_takes_over(failure: Any) -> None:
    planner = ScriptedPlanner([failure])
    trajectory = Observer(read_tools(backend()), planner, Budget(max_retries=2)).run(
        INCIDENT, task="localization"
    )
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None
    assert len(planner.contexts) == 3  # the first try and two retries
    assert diagnosis.degraded and diagnosis.planner == "scripted->heuristic"
    assert any("fell back to the heuristic planner" in n for n in diagnosis.notes)
    assert diagnosis.faulty_components == ["geo"]
    assert all(s.planner == "heuristic" for s in trajectory.steps)


def test_a_transient_failure_is_retried_without_falling_back() -> None:
    planner = ScriptedPlanner([PlannerError("429"), probe("get_pods", namespace=NS), SUBMIT])
    trajectory = Observer(read_tools(backend()), planner).run(INCIDENT)
    assert trajectory.diagnosis is not None and not trajectory.diagnosis.degraded
    assert trajectory.diagnosis.notes and "429" in trajectory.diagnosis.notes[0]


def test_a_loop_of_identical_probes_counts_as_a_failure() -> None:
    planner = ScriptedPlanner([probe("get_pods", namespace=NS)])
    trajectory = Observer(read_tools(backend()), planner, Budget(max_retries=1)).run(INCIDENT)
    assert trajectory.diagnosis is not None and trajectory.diagnosis.degraded
    assert any("loop" in n for n in trajectory.diagnosis.notes)


def test_the_planner_is_told_why_its_step_was_not_carried_out_and_the_prompt_says_so() -> None:
    """Re-asked with an identical prompt, a model gives the identical step: the rejection reason goes
    into the next context (and the model prompt), and is cleared once a step is accepted."""
    from aoi.agents.planners.prompt import load_template, render_messages

    planner = ScriptedPlanner(
        [probe("get_pods", namespace=NS)] * 3
        + [probe("get_nodes"), probe("get_events", namespace=NS), SUBMIT]
    )
    Observer(read_tools(backend()), planner, Budget(max_retries=2)).run(INCIDENT)
    told = [c.rejected for c in planner.contexts]
    assert told[0] is None
    rejected = [r for r in told if r]
    assert rejected and "loop: get_pods" in rejected[0]
    assert told[-1] is None, "cleared after an accepted step"
    looped = next(c for c in planner.contexts if c.rejected)
    user = render_messages(load_template(), looped, [])[1]["content"]
    assert user.endswith("Reply with a different step.") and "not carried out: " in user
    assert "loop: get_pods" in user.split("not carried out: ")[1]


def test_proposals_outside_the_whitelist_are_dropped() -> None:
    bad = Step(action_type="propose", args={"verb": "delete_namespace", "target": NS, "namespace": NS})
    good = Step(action_type="propose", args={"verb": "rollout_restart", "target": "geo", "namespace": NS})
    trajectory = Observer(read_tools(backend()), ScriptedPlanner([bad, good, SUBMIT])).run(INCIDENT)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None
    assert [r.verb for r in diagnosis.remediations] == ["rollout_restart"]
    assert diagnosis.remediations[0].command == f"kubectl -n {NS} rollout restart deployment/geo"
    assert (
        diagnosis.remediations[0].rule_id == "k8s-rollout-restart" and diagnosis.remediations[0].risk == "low"
    )
    assert any("dropped" in n for n in diagnosis.notes)


def test_memory_of_an_empty_history_is_empty() -> None:
    assert build_memory([]) == ""


def test_memory_keeps_an_earlier_crash_looping_pod_visible_after_later_probes() -> None:
    planner = ScriptedPlanner(
        [
            probe("get_pods", namespace=NS),
            probe("get_nodes"),
            probe("get_logs", namespace=NS, name="geo"),
            SUBMIT,
        ]
    )
    Observer(read_tools(backend()), planner).run(INCIDENT)
    memory = planner.contexts[3].memory
    pods_line = next(line for line in memory.splitlines() if line.startswith("#1 get_pods"))
    assert "look at get_pods | notable: geo-abc12-x1 0/1 CrashLoopBackOff" in pods_line
    assert "user-abc12-y2" not in pods_line  # healthy rows are not notable
    nodes_line = next(line for line in memory.splitlines() if line.startswith("#2 get_nodes"))
    assert "notable" not in nodes_line  # nothing stood out: nothing appended


def test_memory_names_what_stood_out_in_the_previous_output_above_the_output() -> None:
    planner = ScriptedPlanner([probe("get_pods", namespace=NS), probe("get_nodes"), SUBMIT])
    Observer(read_tools(backend()), planner).run(INCIDENT)
    after_pods = planner.contexts[1].memory.splitlines()
    notable = next(i for i, line in enumerate(after_pods) if line.startswith("Notable: "))
    assert "geo-abc12-x1 0/1 CrashLoopBackOff" in after_pods[notable]
    assert notable < next(i for i, line in enumerate(after_pods) if line.startswith("NAME"))
    after_nodes = planner.contexts[2].memory
    assert "Notable:" not in after_nodes.split("Previous step #2")[1]  # healthy nodes: no line


def test_guidance_is_asked_again_with_the_errors_the_survey_saw() -> None:
    """The incident text alone matches the notes of every fault of an app alike; once three probes
    have shown error lines the Observer asks again with them, and the planner sees the new answer."""
    asked: list[str] = []

    def guidance(text: str) -> list[str]:
        asked.append(text)
        return ["describe geo first"] if "CrashLoopBackOff" in text else ["generic note"]

    script = [
        probe("get_services", namespace=NS),
        probe("get_events", namespace=NS),
        probe("get_pods", namespace=NS),  # the first probe whose output carries an error line
        probe("get_logs", namespace=NS, name="geo"),
        probe("get_deployments", namespace=NS),
        SUBMIT,
    ]
    planner = ScriptedPlanner(script)
    trajectory = Observer(read_tools(backend()), planner, guidance=guidance).run(INCIDENT, task="analysis")
    assert asked[0] == INCIDENT
    assert len(asked) == 3  # after the 3rd probe (its error line) and the 4th (the log's panic line)
    assert (
        "Observed:" in asked[1] and "CrashLoopBackOff" in asked[1] and "missing GeoMongoAddress" in asked[2]
    )
    assert [c.guidance for c in planner.contexts] == [["generic note"]] * 3 + [["describe geo first"]] * 3
    assert trajectory.diagnosis is not None
    assert any("guidance re-asked" in note for note in trajectory.diagnosis.notes)


def test_guidance_is_not_asked_again_while_the_probes_show_no_error() -> None:
    asked: list[str] = []

    def guidance(text: str) -> list[str]:
        asked.append(text)
        return []

    quiet = FakeBackend({"Pod": [pod("user-abc12-y2", NS, "user")]})
    tools = ("get_pods", "get_services", "get_events", "get_deployments")
    planner = ScriptedPlanner([*(probe(tool, namespace=NS) for tool in tools), SUBMIT])
    Observer(read_tools(quiet), planner, guidance=guidance).run(INCIDENT, task="detection")
    assert asked == [INCIDENT]


def test_a_guidance_source_failing_mid_investigation_keeps_the_notes_and_the_run() -> None:
    calls: list[str] = []

    def guidance(text: str) -> list[str]:
        calls.append(text)
        if len(calls) > 1:
            raise ConnectionError("store unreachable")
        return ["first note"]

    script = [*(probe(tool, namespace=NS) for tool in ("get_services", "get_events", "get_pods")), SUBMIT]
    planner = ScriptedPlanner(script)
    trajectory = Observer(read_tools(backend()), planner, guidance=guidance).run(INCIDENT, task="analysis")
    assert len(calls) == 2 and trajectory.diagnosis is not None
    assert trajectory.diagnosis.faulty_components == ["geo"]
    assert planner.contexts[-1].guidance == ["first note"]
    assert any("re-ask failed" in note and "store unreachable" in note for note in trajectory.diagnosis.notes)


def test_an_empty_answer_to_the_re_ask_replaces_the_earlier_notes() -> None:
    def guidance(text: str) -> list[str]:
        return [] if "Observed:" in text else ["a note for the incident text"]

    script = [*(probe(tool, namespace=NS) for tool in ("get_services", "get_events", "get_pods")), SUBMIT]
    planner = ScriptedPlanner(script)
    Observer(read_tools(backend()), planner, guidance=guidance).run(INCIDENT, task="analysis")
    assert [c.guidance for c in planner.contexts] == [["a note for the incident text"]] * 3 + [[]]


class HangingPlanner(ScriptedPlanner):
    """A model endpoint that hangs: each step takes all the seconds it is told remain, then fails
    (what a request timeout sized from ``budget_left.seconds`` does)."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__([PlannerError("timed out")], name="hung-model")
        self.clock = clock

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        self.clock[0] += max(0.0, context.budget_left.seconds)
        return super().next_step(context)


def test_a_hung_model_leaves_the_fallback_its_reserve_to_investigate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two 60 s timeouts once took a 120 s deadline whole and the heuristic concluded "no fault found"
    from nothing; the model is now told the deadline minus the fallback's reserve, and once it has
    used that, the heuristic reads the cluster in the reserve."""
    clock = [1000.0]
    monkeypatch.setattr("aoi.agents.observer.time.monotonic", lambda: clock[0])
    planner = HangingPlanner(clock)
    budget = Budget(deadline_s=120.0, max_retries=5)
    assert budget.fallback_reserve_s == 30.0
    trajectory = Observer(read_tools(backend()), planner, budget).run(INCIDENT, task="localization")
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None
    assert planner.contexts[0].budget_left.seconds == 90.0, "the model is told 120 s minus the 30 s reserve"
    assert clock[0] == 1090.0, "the model spent only its share"
    assert any("used its share of the 120s deadline" in n for n in diagnosis.notes)
    assert diagnosis.degraded and diagnosis.planner == "hung-model->heuristic"
    assert trajectory.steps and all(s.planner == "heuristic" for s in trajectory.steps)
    assert diagnosis.detected and diagnosis.faulty_components == ["geo"], "found in the reserve"
    assert not diagnosis.undetermined


def test_a_run_that_read_nothing_is_undetermined_not_healthy() -> None:
    planner = ScriptedPlanner([probe("get_pods", namespace=NS)])
    down = BackendError("503 the API server is unavailable")
    reads = ("list_objects", "get_object", "pod_logs", "metric_names", "prom_query", "prom_query_range")
    failing = FaultyReadBackend(backend(), {name: down for name in (*reads, "trace_services", "find_traces")})
    trajectory = Observer(read_tools(failing), planner, Budget(max_steps=3)).run(INCIDENT)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and not diagnosis.detected
    assert diagnosis.undetermined and diagnosis.confidence == 0.0
    assert diagnosis.root_cause.summary.startswith("Not determined: no read of the cluster succeeded")
    assert "healthy" not in diagnosis.root_cause.summary.lower()
    assert diagnosis.unread, "the failed reads are named"


def test_a_healthy_answer_after_real_reads_is_not_undetermined() -> None:
    healthy = FakeBackend({"Pod": [pod("user-abc12-y2", NS, "user")]})
    planner = ScriptedPlanner(
        [
            probe("get_pods", namespace=NS),
            Step(action_type="submit", summary="fine", args={"detected": False}),
        ]
    )
    diagnosis = Observer(read_tools(healthy), planner).run(INCIDENT).diagnosis
    assert diagnosis is not None and not diagnosis.detected and not diagnosis.undetermined


def test_a_planner_error_that_echoes_a_token_is_redacted_in_the_notes() -> None:
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    planner = ScriptedPlanner([PlannerError(f"401 invalid api key Bearer {key}"), SUBMIT])
    diagnosis = Observer(read_tools(backend()), planner).run(INCIDENT).diagnosis
    assert diagnosis is not None and diagnosis.notes
    assert key not in " ".join(diagnosis.notes)
