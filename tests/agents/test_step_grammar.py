"""The step grammar: whatever a model chooses, the text is a valid step built from seen names only.

A scripted chooser stands in for the model: it prefers candidates containing given words (or takes
the first / a random one), so every branch of the grammar is driven deterministically and the output
is checked with the same parser the Observer uses.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Literal

import pytest

from aoi.agents.planners.base import BudgetLeft, HistoryItem, PlannerContext
from aoi.agents.planners.parsing import parse_step
from aoi.agents.planners.step_grammar import (
    FAULT_TYPES,
    SYSTEM_LEVELS,
    End,
    Param,
    StepGrammar,
    decode_step,
    policy_verb_params,
    seen_names,
)
from aoi.agents.records import Step, ToolResult
from aoi.agents.tools import READ_TOOLS
from aoi.policies import load_policy

TOOLS = [d.bind(None).spec for d in READ_TOOLS]
SCHEMAS = {spec.name: spec.parameters for spec in TOOLS}
PODS = """NAME  READY  STATUS  RESTARTS  AGE
geo-7f9c6d-abcde  0/1  CrashLoopBackOff  5  3m
frontend-5d8c7-xyz12  1/1  Running  0  3m
"""
INCIDENT = (
    "Incident report for the HotelReservation application in Kubernetes namespace test-hotel-reservation."
)


class Scripted:
    """At each choice: the first candidate containing the next wanted word (then that word is used
    up), else the first candidate — or a random one with ``seed``."""

    def __init__(self, wants: Sequence[str] = (), text: str = "look around", seed: int | None = None) -> None:
        self.wants = list(wants)
        self.text = text
        self.random = random.Random(seed) if seed is not None else None
        self.seen: list[list[str]] = []

    def choose(self, text: str, candidates: Sequence[tuple[str, End]]) -> int:
        options = [c for c, _ in candidates]
        self.seen.append(options)
        if self.wants:
            for index, option in enumerate(options):
                if self.wants[0] in option:
                    self.wants.pop(0)
                    return index
        return self.random.randrange(len(options)) if self.random else 0

    def generate(self, text: str, kind: Literal["string", "digits"], max_tokens: int) -> str:
        return "100" if kind == "digits" else self.text


def context(
    task: str | None = "localization", history: Sequence[HistoryItem] = (), steps: int = 5
) -> PlannerContext:
    return PlannerContext(
        incident=INCIDENT,
        task=task,  # type: ignore[arg-type]
        tools=TOOLS,
        history=list(history),
        budget_left=BudgetLeft(steps=steps, tokens=9999, seconds=60),
    )


def pods_seen() -> HistoryItem:
    step = Step(
        summary="pods", action_type="probe", tool="get_pods", args={"namespace": "test-hotel-reservation"}
    )
    result = ToolResult(tool="get_pods", invocation="kubectl get pods", status="ok", output=PODS)
    return HistoryItem(index=1, step=step, result=result)


def grammar() -> StepGrammar:
    return StepGrammar.build(SCHEMAS, policy_verb_params(load_policy(None)))


def decode(chooser: Scripted, ctx: PlannerContext) -> Step:
    text = decode_step(chooser, grammar(), ctx)
    json.loads(text)  # strict JSON, no repair needed
    return parse_step(text, SCHEMAS, schemas=SCHEMAS).step


def test_a_probe_names_a_held_tool_with_schema_arguments_and_a_seen_namespace() -> None:
    step = decode(
        Scripted(["probe", "get_logs", "geo-7f9c6d-abcde", "tail", "targets"]), context(history=[pods_seen()])
    )
    assert step.action_type == "probe" and step.tool == "get_logs"
    assert step.args == {"namespace": "test-hotel-reservation", "name": "geo-7f9c6d-abcde", "tail": 100}
    assert step.targets == ["geo-7f9c6d-abcde"]


def test_names_come_from_the_incident_and_earlier_outputs_only() -> None:
    names = seen_names(context(history=[pods_seen()]))
    assert names.namespaces == ("test-hotel-reservation",)
    assert set(names.entities) == {"geo-7f9c6d-abcde", "frontend-5d8c7-xyz12"}
    assert "test-hotel-reservation" not in names.entities


def test_a_submission_lists_seen_components_and_taxonomy_values() -> None:
    chooser = Scripted(["submit", "true", "geo-7f9c6d", "]", "Application", "Code Defect"])
    step = decode(chooser, context(history=[pods_seen()]))
    assert step.action_type == "submit"
    assert step.args["detected"] is True
    assert step.args["faulty_components"] == ["geo-7f9c6d-abcde"]
    assert step.args["system_level"] in SYSTEM_LEVELS and step.args["fault_type"] == "Code Defect"
    offered = [options for options in chooser.seen if any("Code Defect" in o for o in options)]
    assert offered and set(offered[0]) == set(FAULT_TYPES)


def test_with_one_step_left_only_a_submission_is_possible() -> None:
    chooser = Scripted(["probe"])
    step = decode(chooser, context(steps=1))
    assert step.action_type == "submit"
    assert all("probe" not in option for options in chooser.seen for option in options)


def test_propose_is_offered_only_on_tasks_that_may_change_the_cluster() -> None:
    for task, offered in (("detection", False), ("localization", False), ("mitigation", True), (None, True)):
        chooser = Scripted()
        decode(chooser, context(task=task))
        assert ("propose" in chooser.seen[0]) is offered, task


def test_a_proposal_uses_a_whitelisted_verb_on_a_seen_target() -> None:
    chooser = Scripted(["propose", "rollout_restart", "geo-7f9c6d"])
    step = decode(chooser, context(task="mitigation", history=[pods_seen()]))
    assert step.action_type == "propose"
    assert step.args["verb"] == "rollout_restart" and step.args["target"] == "geo-7f9c6d-abcde"
    assert step.args["namespace"] == "test-hotel-reservation"


def test_a_submission_decides_whether_anything_is_faulty_before_choosing_which() -> None:
    empty = Scripted(["submit", "true", "]"])
    step = decode(empty, context(history=[pods_seen()]))
    assert step.args["detected"] is True and step.args["faulty_components"] == []
    assert ['"', "]"] in empty.seen  # the list's shape: one choice, not each name against "[]"
    named = Scripted(["submit", "true", '"', "frontend", "]"])
    step = decode(named, context(history=[pods_seen()]))
    assert step.args["faulty_components"] == ["frontend-5d8c7-xyz12"]
    assert ["geo-7f9c6d-abcde", "frontend-5d8c7-xyz12"] in named.seen  # then names alone


def test_a_mitigation_submission_may_carry_remediations() -> None:
    wants = [
        "submit",
        "true",
        "geo-7f9c6d",
        "]",
        "Application",
        "Code Defect",
        "remediations",
        "rollout_undo",
        "geo-7f9c6d",
        "rationale",
        "}]}",
    ]
    step = decode(Scripted(wants), context(task="mitigation", history=[pods_seen()]))
    assert step.action_type == "submit"
    assert step.args["remediations"][0]["verb"] == "rollout_undo"
    assert step.args["remediations"][0]["target"] == "geo-7f9c6d-abcde"


def test_an_earlier_probe_is_not_repeated() -> None:
    step = decode(Scripted(["probe", "get_pods", "namespace", "targets"]), context(history=[pods_seen()]))
    assert (step.tool, step.args) != ("get_pods", {"namespace": "test-hotel-reservation"})


def test_free_text_is_escaped_into_valid_json() -> None:
    step = decode(Scripted(["probe", "get_nodes", "targets"], text='say "hi"\\ now\n'), context())
    assert step.summary == 'say "hi"\\ now'


@pytest.mark.parametrize("seed", range(40))
def test_any_sequence_of_choices_yields_a_valid_step(seed: int) -> None:
    ctx = context(task=random.Random(seed).choice(["detection", "mitigation", None]), history=[pods_seen()])
    decode(Scripted(seed=seed), ctx)


def test_verbs_needing_maps_or_lists_are_left_out() -> None:
    built = StepGrammar.build(
        {}, {"ok": (Param("replicas", "integer", True),), "bad": (Param("data", "other", True),)}
    )
    assert list(built.verbs) == ["ok"]
