"""Expert trajectories on the simulator's TRAIN split → purified step rows.

The expert is any strong planner: by default the offline heuristic planner, or an OpenAI-compatible
teacher (``PlannerSpec("openai", ...)``). Only *successful* episodes are kept (the grader says the
answer, and for mitigation the executed fix, was right), then purified (``aoi.training.purify``)
and turned into rows with the local planner's prompt. Problems from another split are refused: the
test split's fault types must stay unseen so the benchmark measures generalisation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aoi.agents.observer import Budget
from aoi.agents.planners.base import Planner
from aoi.agents.tools.base import ToolSpec
from aoi.sim import Problem
from aoi.training.datasets import PromptRenderer, Row, load_dataset, save_dataset, step_rows
from aoi.training.purify import purify
from aoi.training.rollout import Episode, run_episodes


class SplitLeakError(ValueError):
    """Expert data was asked for on problems outside the training split."""


@dataclass
class ExpertCollection:
    """The successful episodes, the rows built from them, and what purification removed."""

    episodes: list[Episode]
    rows: list[Row] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return sum(e.success for e in self.episodes) / len(self.episodes) if self.episodes else 0.0

    def summary(self) -> dict[str, object]:
        kept = [e for e in self.episodes if e.success]
        return {
            "episodes": len(self.episodes),
            "successful": len(kept),
            "problems": len({e.problem_id for e in kept}),
            "rows": len(self.rows),
            "removed_steps": dict(self.removed),
        }


def check_train_split(problems: Sequence[Problem]) -> None:
    leaked = sorted(p.id for p in problems if p.split != "train")
    if leaked:
        raise SplitLeakError(
            f"expert data comes from the train split only; {len(leaked)} problem(s) are not: "
            f"{', '.join(leaked[:5])}{' …' if len(leaked) > 5 else ''}"
        )


def collect_expert_rows(
    problems: Sequence[Problem],
    planner: Planner,
    *,
    tools: Sequence[ToolSpec],
    render: PromptRenderer,
    k: int = 1,
    budget: Budget | None = None,
    on_episode: Callable[[Episode], None] | None = None,
) -> ExpertCollection:
    """Run the expert ``k`` times per train problem; successful runs → purified step rows."""
    check_train_split(problems)
    episodes = run_episodes(problems, planner, k=k, budget=budget, on_episode=on_episode)
    collection = ExpertCollection(episodes)
    for episode in episodes:
        if not episode.success:
            continue
        for removal in purify(episode.trajectory).removed:
            collection.removed[removal.reason] = collection.removed.get(removal.reason, 0) + 1
        collection.rows.extend(
            step_rows(
                episode.trajectory,
                tools=tools,
                render=render,
                source="expert",
                step_budget=(budget or Budget()).max_steps,  # what the Observer ran under
            )
        )
    return collection


def cached_expert_rows(
    datasets_dir: Path, key: dict[str, object], build: Callable[[], ExpertCollection]
) -> tuple[list[Row], str]:
    """Expert rows for ``key`` (planner, problems, k, budget, prompt): reuse a saved dataset with the
    same key, else build, save and return it. Returns ``(rows, dataset_hash)``."""
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    for manifest in sorted(datasets_dir.glob("expert-*.json")):
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if meta.get("key") == fingerprint:
            data = manifest.with_suffix(".jsonl")
            if data.is_file():
                return load_dataset(data)
    collection = build()
    if not collection.rows:
        raise ValueError(
            f"the expert solved none of the {len(collection.episodes)} episodes: no expert rows to train on"
        )
    saved = save_dataset(
        collection.rows, datasets_dir, "expert", {"key": fingerprint, **collection.summary()}
    )
    return collection.rows, saved.hash
