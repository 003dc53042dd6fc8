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
