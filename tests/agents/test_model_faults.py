"""Model faults never stop an investigation: the real ``openai`` client against a loopback server that
times out, rate-limits, errors, answers truncated or invalid JSON, names unknown tools or loops, and the
Observer still ends with a Diagnosis (``degraded`` when it fell back) that counts every token spent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aoi.agents.backends.sim import SimReadBackend
from aoi.agents.observer import Budget, Observer
from aoi.agents.planners.openai_planner import OpenAIPlanner
from aoi.agents.tools import read_tools
from aoi.sim import SimCluster, grade, load_problem
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    Scripted,
    garbage,
    rate_limited,
    reply,
    server_error,
    slow,
    step_reply,
    truncated,
)

PROBLEM = "k8s_target_port-misconfig-localization-1"
INCIDENT = "Errors in namespace test-social-network"
NS = "test-social-network"
PODS = {"summary": "survey", "action_type": "probe", "tool": "get_pods", "args": {"namespace": NS}}
SERVICES = {"summary": "services", "action_type": "probe", "tool": "get_services", "args": {"namespace": NS}}
SUBMIT = {
    "summary": "done",
    "action_type": "submit",
    "args": {"detected": True, "faulty_components": ["user-service"]},
    "confidence": 0.7,
}


def planner(server: FakeOpenAIServer, **options: Any) -> OpenAIPlanner:
    options.setdefault("timeout_s", 5.0)
    return OpenAIPlanner(
        server.base_url,
        "fake-model",
        "sk-test",
        sleep=lambda _s: None,
        backoff_s=0.0,
        verbs=["- scale: Scale a Deployment (params: replicas)"],
        **options,
    )


def alternating(first: dict[str, Any], second: dict[str, Any]) -> Callable[[dict[str, Any]], Scripted]:
    calls = iter(range(10_000))
    return lambda _request: step_reply(first if next(calls) % 2 == 0 else second)


FAULTS: dict[str, tuple[Callable[[dict[str, Any]], Scripted], dict[str, Any], str]] = {
    "timeout": (lambda _r: slow(1.0), {"timeout_s": 0.1, "max_attempts": 2}, "timed out"),
    "rate_limited": (lambda _r: rate_limited(0), {}, "429"),
    "server_error": (lambda _r: server_error(502), {}, "502"),
    "truncated_body": (lambda _r: truncated(PODS), {}, "ModelUnavailableError"),
    "garbage_body": (lambda _r: garbage(), {}, "ModelUnavailableError"),
    "invalid_json_answer": (lambda _r: reply('{"action_type": "probe", "tool": '), {}, "InvalidStepError"),
    "unknown_tool": (
        lambda _r: step_reply({"action_type": "probe", "tool": "kubectl_delete", "args": {}}),
        {},
        "UnknownToolError",
    ),
    "same_probe_forever": (lambda _r: step_reply(PODS), {}, "loop: get_pods"),
    "two_probes_in_a_cycle": (alternating(PODS, SERVICES), {}, "loop: get_"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_model_fault_still_ends_with_a_degraded_diagnosis(fault: str) -> None:
    script, options, note = FAULTS[fault]
    problem = load_problem(PROBLEM)
    cluster = SimCluster.from_problem(problem)
    with FakeOpenAIServer(script) as server:
        model = planner(server, **options)
        observer = Observer(read_tools(SimReadBackend(cluster)), model, Budget(max_retries=1, max_steps=25))
        trajectory = observer.run(INCIDENT, problem.task, problem.id)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and diagnosis.degraded
    assert diagnosis.planner == "openai->heuristic"
    assert any(note in n for n in diagnosis.notes), diagnosis.notes
    assert grade(problem, cluster, diagnosis.to_json_dict()).success  # the fallback still finds the fault


def test_tokens_of_failed_attempts_count_in_the_diagnosis() -> None:
    # attempt 1: two invalid answers (re-asked once) = 200 in / 40 out, then a probe, then a submit
    script = [reply("no idea"), reply("still no idea"), step_reply(PODS), step_reply(SUBMIT)]
    cluster = SimCluster.from_problem(load_problem(PROBLEM))
    with FakeOpenAIServer(script) as server:
        trajectory = Observer(read_tools(SimReadBackend(cluster)), planner(server)).run(INCIDENT)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and not diagnosis.degraded
    assert (diagnosis.tokens.in_, diagnosis.tokens.out) == (400, 80)
    assert "240 tokens were spent on failed planner attempts" in diagnosis.notes


def test_tokens_of_failed_attempts_exhaust_the_token_budget() -> None:
    cluster = SimCluster.from_problem(load_problem(PROBLEM))
    with FakeOpenAIServer(lambda _r: reply("not a step")) as server:
        observer = Observer(
            read_tools(SimReadBackend(cluster)), planner(server), Budget(max_tokens=300, max_retries=5)
        )
        trajectory = observer.run(INCIDENT)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and diagnosis.degraded
    assert len(server.completion_requests) == 4  # two failed attempts of 240 tokens each, then stop
    assert diagnosis.tokens.in_ + diagnosis.tokens.out == 480
    assert any("token budget of 300 exhausted" in n for n in diagnosis.notes)
