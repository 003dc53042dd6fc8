"""The ``openai`` planner against a loopback OpenAI-compatible server, through the real ``openai`` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aoi.agents.backends.sim import SimReadBackend
from aoi.agents.observer import Budget, Observer
from aoi.agents.planners.base import BudgetLeft, Planner, PlannerContext, PlannerError
from aoi.agents.planners.model_steps import InvalidStepError, ModelUnavailableError, UnknownToolError
from aoi.agents.planners.openai_planner import OpenAIPlanner, retry_after_seconds
from aoi.agents.tools import READ_TOOLS, read_tools
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
    tool_call,
    truncated,
    unsupported,
)

PROBE = {"summary": "start", "action_type": "probe", "tool": "get_pods", "args": {"namespace": "ns"}}
SUBMIT = {
    "action_type": "submit",
    "args": {"detected": True, "faulty_components": ["geo"]},
    "confidence": 0.8,
}


def context(seconds: float = 30.0, task: Any = "detection") -> PlannerContext:
    return PlannerContext(
        incident="Users see 502s on the front page",
        task=task,
        tools=[definition.bind(None).spec for definition in READ_TOOLS],
        guidance=["Check Service targetPorts"],
        budget_left=BudgetLeft(steps=5, tokens=50_000, seconds=seconds),
    )


class Sleeps:
    """Records the planner's back-off waits instead of sleeping (the clock stays real)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_planner(server: FakeOpenAIServer, sleeps: Sleeps, **options: Any) -> OpenAIPlanner:
    options.setdefault("verbs", ["- scale: Scale a Deployment (params: replicas)"])
    return OpenAIPlanner(server.base_url, "fake-model", "sk-test", sleep=sleeps, backoff_s=0.01, **options)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FakeOpenAIServer] = []

    def start(script: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(script).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_valid_step_is_returned_with_the_usage_token_counts(serve: Any, sleeps: Sleeps) -> None:
    server = serve([step_reply(PROBE, usage=(1234, 56))])
    planner = make_planner(server, sleeps)
    assert isinstance(planner, Planner)
    output = planner.next_step(context())
    assert output.step.tool == "get_pods" and output.step.args == {"namespace": "ns"}
    assert (output.prompt_tokens, output.completion_tokens) == (1234, 56)
    assert json.loads(output.raw_text) == PROBE
    (request,) = server.completion_requests
    assert request["model"] == "fake-model"
    assert request["temperature"] == 0.0
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    user = request["messages"][1]["content"]
    assert "Users see 502s" in user and "get_traces" in user and "- scale: Scale a Deployment" in user
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


def test_fenced_answer_with_trailing_commas_is_repaired_without_a_reask(serve: Any, sleeps: Sleeps) -> None:
    server = serve(
        [reply('Here you go:\n```json\n{"action_type": "submit", "args": {"detected": true,},}\n```')]
    )
    output = make_planner(server, sleeps).next_step(context())
    assert output.step.action_type == "submit" and output.step.args == {"detected": True}
    assert len(server.completion_requests) == 1


def test_invalid_answer_is_reasked_once_with_the_validation_error(serve: Any, sleeps: Sleeps) -> None:
    server = serve(
        [reply("I think the pods are broken.", usage=(100, 10)), step_reply(SUBMIT, usage=(150, 20))]
    )
    output = make_planner(server, sleeps).next_step(context())
    assert output.step.action_type == "submit"
    assert (output.prompt_tokens, output.completion_tokens) == (250, 30)
    first, second = server.completion_requests
    assert len(second["messages"]) == len(first["messages"]) + 2
    assert second["messages"][-2] == {"role": "assistant", "content": "I think the pods are broken."}
    assert "no JSON object found" in second["messages"][-1]["content"]


def test_still_invalid_after_the_reask_raises_invalid_step_error(serve: Any, sleeps: Sleeps) -> None:
    server = serve([reply("no idea"), reply('{"action_type": "dance"}')])
    with pytest.raises(InvalidStepError) as caught:
        make_planner(server, sleeps).next_step(context())
    assert isinstance(caught.value, PlannerError)
    assert "no valid step after 2 answer(s)" in str(caught.value)
    assert caught.value.raw_text == '{"action_type": "dance"}'
    assert caught.value.prompt_tokens == 200  # spent tokens travel with the error


def test_insisting_on_an_unknown_tool_raises_unknown_tool_error(serve: Any, sleeps: Sleeps) -> None:
    bad = {"action_type": "probe", "tool": "delete_namespace", "args": {"name": "prod"}}
    server = serve([step_reply(bad), step_reply(bad)])
    with pytest.raises(UnknownToolError) as caught:
        make_planner(server, sleeps).next_step(context())
    assert caught.value.tool == "delete_namespace"
    assert "unknown tool 'delete_namespace'" in server.completion_requests[1]["messages"][-1]["content"]


def test_wrong_argument_names_are_reasked_with_the_tools_real_arguments(serve: Any, sleeps: Sleeps) -> None:
    wrong = {"action_type": "probe", "tool": "get_logs", "args": {"pod": "geo", "namespace": "ns"}}
    right = {"action_type": "probe", "tool": "get_logs", "args": {"name": "geo", "namespace": "ns"}}
    server = serve([step_reply(wrong), step_reply(right)])
    output = make_planner(server, sleeps).next_step(context())
    assert output.step.args == right["args"]
    reask = server.completion_requests[1]["messages"][-1]["content"]
    assert "unknown argument(s) ['pod']" in reask and "missing required argument(s) ['name']" in reask


def test_rate_limit_waits_for_retry_after_then_succeeds(serve: Any, sleeps: Sleeps) -> None:
    server = serve([rate_limited(0.25), step_reply(PROBE)])
    output = make_planner(server, sleeps).next_step(context())
    assert output.step.tool == "get_pods"
    assert sleeps.calls == [pytest.approx(0.25)]


def test_retry_after_beyond_the_deadline_fails_fast_without_waiting(serve: Any, sleeps: Sleeps) -> None:
    server = serve([rate_limited(120), step_reply(PROBE)])
    with pytest.raises(ModelUnavailableError, match="would pass the investigation deadline"):
        make_planner(server, sleeps).next_step(context(seconds=10))
    assert sleeps.calls == []
    assert len(server.completion_requests) == 1


def test_server_errors_and_bad_bodies_are_retried_with_backoff(serve: Any, sleeps: Sleeps) -> None:
    server = serve([server_error(503), garbage(), step_reply(SUBMIT)])
    output = make_planner(server, sleeps).next_step(context())
    assert output.step.action_type == "submit"
    assert sleeps.calls == [pytest.approx(0.01), pytest.approx(0.02)]


def test_truncated_response_body_is_retried(serve: Any, sleeps: Sleeps) -> None:
    server = serve([truncated(PROBE), step_reply(PROBE)])
    assert make_planner(server, sleeps).next_step(context()).step.tool == "get_pods"
    assert len(server.completion_requests) == 2


def test_timeouts_are_retried_then_reported_as_model_unavailable(serve: Any, sleeps: Sleeps) -> None:
    server = serve([slow(2.0), slow(2.0)])
    planner = make_planner(server, sleeps, timeout_s=0.2, max_attempts=2)
    with pytest.raises(ModelUnavailableError) as caught:
        planner.next_step(context())
    assert "after 2 attempt(s)" in str(caught.value)
    assert "timed out after 0.2s" in str(caught.value)


def test_a_slow_answer_within_the_timeout_succeeds_after_one_timeout(serve: Any, sleeps: Sleeps) -> None:
    server = serve([slow(2.0), slow(0.05, step_reply(PROBE))])
    output = make_planner(server, sleeps, timeout_s=0.5).next_step(context())
    assert output.step.tool == "get_pods"


def test_client_errors_are_not_retried_and_name_the_settings(serve: Any, sleeps: Sleeps) -> None:
    server = serve([Scripted(status=401, error_message="Incorrect API key provided")])
    with pytest.raises(ModelUnavailableError, match=r"HTTP 401.*AOI_LLM_API_KEY"):
        make_planner(server, sleeps).next_step(context())
    assert len(server.completion_requests) == 1 and sleeps.calls == []


def test_a_reasoning_model_out_of_tokens_is_told_apart_and_not_reasked(serve: Any, sleeps: Sleeps) -> None:
    """content None, finish_reason length: the whole budget went on thinking; asking again would
    spend it the same way, so the error names the setting to raise."""
    server = serve([Scripted(content=None, finish_reason="length"), step_reply(PROBE)])
    with pytest.raises(ModelUnavailableError, match=r"all 64 completion tokens.*AOI_LLM_MAX_TOKENS"):
        make_planner(server, sleeps, max_tokens=64).next_step(context())
    assert len(server.completion_requests) == 1
    assert server.completion_requests[0]["max_tokens"] == 64


def test_a_thinking_model_answer_in_content_is_parsed_after_its_think_block(
    serve: Any, sleeps: Sleeps
) -> None:
    plans = " ".join('{"action_type": "probe", "tool": "kubectl_get"}' for _ in range(7))
    server = serve([reply(f"<think>{plans}</think>\n{json.dumps(PROBE)}")])
    assert make_planner(server, sleeps).next_step(context()).step.tool == "get_pods"
    assert len(server.completion_requests) == 1, "no re-ask"


def test_missing_usage_is_estimated_from_the_text(serve: Any, sleeps: Sleeps) -> None:
    server = serve([step_reply(PROBE, usage=None)])
    output = make_planner(server, sleeps).next_step(context())
    prompt_chars = sum(len(m["content"]) for m in server.completion_requests[0]["messages"])
    assert output.prompt_tokens == pytest.approx(prompt_chars / 4, abs=2)
    assert output.completion_tokens == pytest.approx(len(json.dumps(PROBE)) / 4, abs=2)


def test_json_response_format_is_requested_when_enabled(serve: Any, sleeps: Sleeps) -> None:
    server = serve([step_reply(PROBE)])
    make_planner(server, sleeps, json_response_format=True).next_step(context())
    assert server.completion_requests[0]["response_format"] == {"type": "json_object"}


def test_tools_mode_sends_native_tools_and_turns_calls_into_steps(serve: Any, sleeps: Sleeps) -> None:
    server = serve(
        [
            tool_call("get_logs", {"namespace": "ns", "name": "geo"}, content='{"summary": "geo restarts"}'),
            tool_call(
                "propose_action",
                {"verb": "scale", "target": "geo", "namespace": "ns", "params": {"replicas": 1}},
            ),
            tool_call(
                "submit_diagnosis", {"detected": True, "faulty_components": ["geo"], "summary": "geo at 0"}
            ),
        ]
    )
    planner = make_planner(server, sleeps, mode="tools")
    probe = planner.next_step(context())
    assert (probe.step.action_type, probe.step.tool, probe.step.summary) == (
        "probe",
        "get_logs",
        "geo restarts",
    )
    assert planner.next_step(context()).step.args["verb"] == "scale"
    submit = planner.next_step(context())
    assert submit.step.action_type == "submit" and submit.step.args["faulty_components"] == ["geo"]
    names = [tool["function"]["name"] for tool in server.completion_requests[0]["tools"]]
    assert {"get_pods", "get_traces", "propose_action", "submit_diagnosis"} <= set(names)
    get_logs = next(t for t in server.completion_requests[0]["tools"] if t["function"]["name"] == "get_logs")
    assert get_logs["function"]["parameters"]["required"] == ["namespace", "name"]


def test_tools_mode_accepts_a_plain_json_answer(serve: Any, sleeps: Sleeps) -> None:
    server = serve([step_reply(SUBMIT)])
    assert make_planner(server, sleeps, mode="tools").next_step(context()).step.action_type == "submit"


def test_models_endpoint_and_default_policy_verbs(serve: Any) -> None:
    server = serve([step_reply(PROBE)])
    planner = OpenAIPlanner(server.base_url, "fake-model")  # no key: local servers need none
    assert [m.id for m in planner.client.models.list().data] == ["fake-model"]
    planner.next_step(context())
    user = server.completion_requests[0]["messages"][1]["content"]
    assert "- rollout_undo:" in user  # verbs of the packaged default policy


def test_configuration_mistakes_fail_at_construction_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="AOI_LLM_BASE_URL"):
        OpenAIPlanner(None, "m")
    with pytest.raises(ValueError, match="AOI_LLM_MODEL"):
        OpenAIPlanner("http://127.0.0.1:9/v1", "")


def test_retry_after_accepts_seconds_milliseconds_and_http_dates() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_observer_falls_back_to_the_heuristic_planner_when_the_endpoint_stays_down(sleeps: Sleeps) -> None:
    problem = load_problem("k8s_target_port-misconfig-localization-1")
    cluster = SimCluster.from_problem(problem)
    with FakeOpenAIServer(lambda request: server_error(503)) as server:
        planner = make_planner(server, sleeps)
        observer = Observer(read_tools(SimReadBackend(cluster)), planner, Budget(max_retries=1))
        trajectory = observer.run("Errors in namespace test-social-network", problem.task, problem.id)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None and diagnosis.degraded
    assert diagnosis.planner == "openai->heuristic"
    assert any("ModelUnavailableError" in note for note in diagnosis.notes)
    assert len(server.completion_requests) == 2 * planner.max_attempts  # two tries of three attempts
    assert grade(problem, cluster, diagnosis.to_json_dict()).success


def test_a_wrong_model_name_falls_back_after_one_request_not_the_retries(sleeps: Sleeps) -> None:
    """A 404 for the model name fails the same way every time: retrying it only spends the deadline."""
    problem = load_problem("k8s_target_port-misconfig-localization-1")
    cluster = SimCluster.from_problem(problem)
    missing = Scripted(status=404, error_message="The model `gpt-4-typo` does not exist")
    with FakeOpenAIServer(lambda request: missing) as server:
        planner = make_planner(server, sleeps)
        observer = Observer(read_tools(SimReadBackend(cluster)), planner, Budget(max_retries=2))
        diagnosis = observer.run(
            "Errors in namespace test-social-network", problem.task, problem.id
        ).diagnosis
    assert diagnosis is not None and diagnosis.planner == "openai->heuristic"
    assert len(server.completion_requests) == 1
    assert any("HTTP 404" in note and "AOI_LLM_MODEL" in note for note in diagnosis.notes)
    assert grade(problem, cluster, diagnosis.to_json_dict()).success


def test_a_refused_connection_names_the_endpoint_and_why(sleeps: Sleeps) -> None:
    """The SDK's own text is only "Connection error."; the operator needs the URL and the cause."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    planner = OpenAIPlanner(f"http://127.0.0.1:{port}/v1", "m", "sk-test", sleep=sleeps, max_attempts=1)
    with pytest.raises(ModelUnavailableError) as caught:
        planner.next_step(context())
    text = str(caught.value)
    assert f"127.0.0.1:{port}" in text and "ConnectError" in text


def test_a_reasoning_model_refusing_max_tokens_and_temperature_gets_what_it_accepts(
    serve: Any, sleeps: Sleeps
) -> None:
    """o-series / GPT-5 answer 400 to ``max_tokens`` and to temperature 0: the planner switches to
    ``max_completion_tokens`` and the default temperature once, instead of falling back every step."""

    def reasoning_model(request: dict[str, Any]) -> Scripted:
        if "max_tokens" in request:
            return unsupported("max_tokens")
        if request.get("temperature", 1) != 1:
            return unsupported("temperature")
        return step_reply(PROBE)

    server = serve(reasoning_model)
    planner = make_planner(server, sleeps, max_tokens=300)
    assert planner.next_step(context()).step.tool == "get_pods"
    assert planner.next_step(context()).step.tool == "get_pods"
    first, second, third, fourth = server.completion_requests
    assert first["max_tokens"] == 300 and first["temperature"] == 0.0
    assert "max_tokens" not in second and second["max_completion_tokens"] == 300
    assert "temperature" not in third and third["max_completion_tokens"] == 300
    assert fourth.keys() == third.keys()  # learnt once: the next step needs one request
    assert sleeps.calls == []


def test_a_parameter_refused_again_after_switching_is_a_configuration_error(
    serve: Any, sleeps: Sleeps
) -> None:
    server = serve([unsupported("max_tokens"), unsupported("max_tokens"), step_reply(PROBE)])
    with pytest.raises(ModelUnavailableError, match=r"HTTP 400.*max_tokens"):
        make_planner(server, sleeps).next_step(context())
    assert len(server.completion_requests) == 2


def test_other_bad_requests_are_not_retried(serve: Any, sleeps: Sleeps) -> None:
    refusal = Scripted(status=400, error_message="Invalid 'messages'", error_param="messages")
    server = serve([refusal, step_reply(PROBE)])
    with pytest.raises(ModelUnavailableError, match=r"HTTP 400"):
        make_planner(server, sleeps).next_step(context())
    assert len(server.completion_requests) == 1


def test_an_answer_trickling_in_is_cut_off_at_the_timeout_not_after_every_byte(
    serve: Any, sleeps: Sleeps
) -> None:
    """Each byte arrives well within the read timeout, so only a whole-request limit stops it: the
    body (~300 bytes at 20 ms each) would take six seconds."""
    trickling = Scripted(**{**step_reply(PROBE).__dict__, "trickle_s": 0.02})
    server = serve([trickling])
    planner = make_planner(server, sleeps, timeout_s=0.5, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="timed out"):
        planner.next_step(context())
    assert time.monotonic() - started < 2.0


def test_a_value_refused_as_too_large_is_a_configuration_error_not_a_parameter_switch(
    serve: Any, sleeps: Sleeps
) -> None:
    """``max_tokens is too large`` refuses the value: sending it as max_completion_tokens would only
    hide the limit on servers that ignore that name."""
    too_large = Scripted(
        status=400,
        error_message="max_tokens is too large: 131072. This model supports at most 16384 completion tokens.",
        error_param="max_tokens",
        error_code="invalid_value",
    )
    server = serve([too_large, step_reply(PROBE)])
    with pytest.raises(ModelUnavailableError, match="max_tokens is too large"):
        make_planner(server, sleeps, max_tokens=131072).next_step(context())
    assert len(server.completion_requests) == 1


def test_redirects_do_not_restart_the_whole_request_clock() -> None:
    """Each hop answers within the limit; together they do not (the client follows redirects)."""
    import httpx2

    from aoi.agents.planners.request_deadline import RequestDeadline

    def handler(request: httpx2.Request) -> httpx2.Response:
        time.sleep(0.3)
        if request.url.path == "/first":
            return httpx2.Response(307, headers={"location": "/second"})
        return httpx2.Response(200, stream=httpx2.ByteStream(b"{}"))  # read through the hooks

    with httpx2.Client(
        transport=httpx2.MockTransport(handler),
        event_hooks=RequestDeadline().hooks(),
        follow_redirects=True,
        timeout=0.5,
    ) as client:
        assert client.get("http://model.test/second").status_code == 200  # one hop: within the limit
        with pytest.raises(httpx2.ReadTimeout):
            client.get("http://model.test/first")


def test_planners_sharing_the_endpoints_quirks_learn_a_refusal_at_once_without_failing(
    serve: Any, sleeps: Sleeps
) -> None:
    """Two investigations send max_tokens together; another planner learns the refusal while this
    one's request is in flight. This request must be sent again, not fail over to the heuristic."""
    from aoi.agents.planners.openai_planner import EndpointQuirks

    quirks = EndpointQuirks()

    def reasoning_model(request: dict[str, Any]) -> Scripted:
        if "max_tokens" in request:
            quirks.token_param = "max_completion_tokens"  # the other planner's 400 came back first
            return unsupported("max_tokens")
        return step_reply(PROBE)

    server = serve(reasoning_model)
    assert make_planner(server, sleeps, quirks=quirks).next_step(context()).step.tool == "get_pods"
    assert [sorted(r) for r in server.completion_requests][1].count("max_completion_tokens") == 1
