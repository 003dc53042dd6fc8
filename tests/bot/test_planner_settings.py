"""Planner settings reach the planner: ``AOI_LOCAL_DECODING`` picks how the local model answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aoi.bot.services import planner_spec
from aoi.bot.settings import Settings


def test_the_local_planner_decodes_under_the_step_grammar_unless_told_otherwise() -> None:
    spec = planner_spec(Settings(AOI_PLANNER="local"))
    assert spec.name == "local" and spec.options["decoding"] == "constrained"
    free = planner_spec(Settings(AOI_PLANNER="local", AOI_LOCAL_DECODING="free"))
    assert free.options["decoding"] == "free"


def test_an_unknown_decoding_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="AOI_LOCAL_DECODING"):
        Settings(AOI_PLANNER="local", AOI_LOCAL_DECODING="beam")  # type: ignore[arg-type]


def test_the_local_model_takes_a_gpu_when_there_is_one_unless_pinned() -> None:
    assert planner_spec(Settings(AOI_PLANNER="local")).options["device"] == "auto"
    pinned = planner_spec(Settings(AOI_PLANNER="local", AOI_LOCAL_DEVICE="cuda:1"))
    assert pinned.options["device"] == "cuda:1"
    with pytest.raises(ValidationError, match="AOI_LOCAL_DEVICE"):
        Settings(AOI_PLANNER="local", AOI_LOCAL_DEVICE="gpu")


def test_the_openai_planners_completion_budget_comes_from_aoi_llm_max_tokens() -> None:
    endpoint = {"AOI_PLANNER": "openai", "AOI_LLM_BASE_URL": "http://127.0.0.1:9/v1", "AOI_LLM_MODEL": "m"}
    assert planner_spec(Settings(**endpoint)).options["max_tokens"] == 512  # type: ignore[arg-type]
    thinking = Settings(**endpoint, AOI_LLM_MAX_TOKENS="4096")  # type: ignore[arg-type]
    assert planner_spec(thinking).options["max_tokens"] == 4096
    with pytest.raises(ValidationError, match="AOI_LLM_MAX_TOKENS"):
        Settings(**endpoint, AOI_LLM_MAX_TOKENS="0")  # type: ignore[arg-type]


def test_model_planners_describe_the_verbs_of_aoi_policy_file_not_the_packaged_policy(tmp_path: Path) -> None:
    """A model told verbs the configured policy does not allow proposes fixes that are all dropped."""
    from aoi.agents.planners.openai_planner import OpenAIPlanner
    from aoi.policies.schema import DEFAULT_POLICY_PATH

    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    start = text.index("  - id: k8s-scale")
    end = text.index("\n  - id:", start + 10)
    narrowed = tmp_path / "no-scale.yaml"
    narrowed.write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    settings = Settings(
        AOI_PLANNER="openai",
        AOI_LLM_BASE_URL="http://127.0.0.1:9/v1",
        AOI_LLM_MODEL="m",
        AOI_POLICY_FILE=narrowed,
    )
    spec = planner_spec(settings)
    assert spec.options["policy_file"] == narrowed
    verbs = OpenAIPlanner(**spec.options).verbs
    assert verbs and not any(line.startswith("- scale:") for line in verbs)
    assert any(line.startswith("- scale:") for line in OpenAIPlanner("http://127.0.0.1:9/v1", "m").verbs)


def _without_scale(text: str) -> str:
    start = text.index("  - id: k8s-scale")
    end = text.index("\n  - id:", start + 10)
    return text[:start] + text[end + 1 :]


def _touch_forward(path: Path) -> None:
    import os

    stamp = path.stat()
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))


def test_the_bots_openai_planners_follow_the_live_policy_and_share_what_the_endpoint_refuses(
    tmp_path: Path,
) -> None:
    """The bot builds a planner per investigation: each is told the verbs of the policy in force (a
    broken edit does not fail it), and a reasoning model's 400s are met once, not per investigation."""
    from aoi.bot.services import planner_factory
    from aoi.policies import LivePolicy
    from aoi.policies.schema import DEFAULT_POLICY_PATH
    from tests.agents.test_openai_planner import PROBE, context
    from tests.fakes.openai_server import FakeOpenAIServer, Scripted, step_reply, unsupported

    def reasoning_model(request: dict[str, object]) -> Scripted:
        if "max_tokens" in request:
            return unsupported("max_tokens")
        return step_reply(PROBE)

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    live = LivePolicy(policy_file, poll_s=None)
    with FakeOpenAIServer(reasoning_model) as server:
        settings = Settings(
            AOI_PLANNER="openai",
            AOI_LLM_BASE_URL=server.base_url,
            AOI_LLM_MODEL="m",
            AOI_POLICY_FILE=policy_file,
        )
        planners = planner_factory(settings, live)
        first = planners()
        assert any(line.startswith("- scale:") for line in first.verbs)  # type: ignore[attr-defined]
        first.next_step(context())
        policy_file.write_text(_without_scale(policy_file.read_text(encoding="utf-8")), encoding="utf-8")
        _touch_forward(policy_file)
        second = planners()
        assert not any(line.startswith("- scale:") for line in second.verbs)  # type: ignore[attr-defined]
        second.next_step(context())
        assert len(server.completion_requests) == 3  # refused once, then learnt for both
        policy_file.write_text("rules: [", encoding="utf-8")
        _touch_forward(policy_file)
        assert planners().verbs == second.verbs  # type: ignore[attr-defined]
