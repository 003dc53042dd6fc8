"""Shared fixtures: a tiny random Llama (built once per session) and hand-written step rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.records import Step
from aoi.sim import load_suite
from aoi.training.datasets import default_tool_specs, planner_renderer, step_rows
from aoi.training.rollout import run_episode

SERVICES = ["user-service", "geo", "compose-post-service", "frontend"]


def make_step_rows(n: int = 8) -> list[dict[str, Any]]:
    """Step rows as the dataset builder writes them: chat prompt, assistant completion, reward columns."""
    rows = []
    for i in range(n):
        service = SERVICES[i % len(SERVICES)]
        step = Step(
            summary=f"{service} callers fail",
            action_type="probe",
            reasoning=f"read the logs of {service}",
            tool="get_logs",
            args={"namespace": "test-social-network", "service": service},
            targets=[service],
            confidence=0.5,
        )
        text = step.model_dump_json()
        rows.append(
            {
                "prompt": [
                    {"role": "system", "content": "You are an SRE. Answer with one JSON step."},
                    {"role": "user", "content": f"Incident {i}: requests to {service} fail."},
                ],
                "completion": [{"role": "assistant", "content": text}],
                "expert_step": text,
                "step_index": 1,
                "n_steps": 3,
                "problem_id": f"p{i}",
            }
        )
    return rows


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aoi.training.tiny import build_tiny_model

    rows = make_step_rows()
    corpus = [r["expert_step"] for r in rows] + [m["content"] for r in rows for m in r["prompt"]]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", corpus)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    """A migrated SQLite store in a temporary folder."""
    from aoi.store.db import Store

    opened = Store.open(f"sqlite:///{tmp_path / 'aoi.db'}", migrate=True)
    yield opened
    opened.dispose()


WORLD_PROBLEMS = ["k8s_target_port-misconfig-localization-1", "k8s_target_port-misconfig-mitigation-1"]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny model whose tokenizer knows the rendered prompts, and expert rows from real episodes."""
    from aoi.agents.planners.local_planner import LocalPlanner
    from aoi.training.tiny import build_tiny_model

    suite = load_suite("aiopslab")
    episodes = [run_episode(suite[pid], HeuristicPlanner()) for pid in WORLD_PROBLEMS]
    smol_render = planner_renderer(LocalPlanner())
    draft = [
        r for e in episodes for r in step_rows(e.trajectory, tools=default_tool_specs(), render=smol_render)
    ]
    corpus = [m["content"] for r in draft for m in r["prompt"]] + [r["expert_step"] for r in draft]
    tiny = build_tiny_model(tmp_path_factory.mktemp("weekly") / "tiny", corpus, vocab_size=8192)
    render = planner_renderer(LocalPlanner(model_path=tiny))
    rows = [r for e in episodes for r in step_rows(e.trajectory, tools=default_tool_specs(), render=render)]
    heldout = [next(p for p in suite.values() if p.split == "test" and p.task == "localization")]
    return {
        "tiny": tiny,
        "render": render,
        "rows": rows,
        "episodes": episodes,
        "suite": suite,
        "heldout": heldout,
    }
