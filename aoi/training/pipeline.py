"""The training recipes the CLI and the weekly job share: SFT warm start → GRPO, and KTO, each tracked
and registered; plus the held-out evaluation of an adapter with the ``local`` planner.

Every run is recorded in the store (``training_runs``: config, dataset hash, metrics, outcome) and its
adapter registered as a ``candidate`` (``model_registry``); promotion is a separate, gated decision.
The SFT warm start is registered as its own version so its gain and GRPO's are reported separately.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aoi.agents.observer import Budget
from aoi.sim import Problem
from aoi.training.config import GrpoSettings, KtoSettings, SftSettings
from aoi.training.registry import ModelRegistry, RegisteredModel
from aoi.training.rewards_verified import VerifiedOutcomeReward
from aoi.training.rollout import AbstainingFallback, Episode, run_episodes, scores
from aoi.training.runs import TrainResult
from aoi.training.trainers import train_grpo, train_kto, train_sft


@dataclass
class Trained:
    """A finished run and, when a registry was given, its registry entry."""

    result: TrainResult
    model: RegisteredModel | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.result.method,
            "adapter_dir": str(self.result.adapter_dir),
            "dataset_hash": self.result.dataset_hash,
            "metrics": self.result.metrics,
            "version": self.model.version if self.model else None,
            "registry_id": self.model.id if self.model else None,
        }


def _track(
    registry: ModelRegistry | None,
    method: str,
    dataset_hash: str,
    config: dict[str, Any],
    fn: Callable[[], TrainResult],
) -> Trained:
    if registry is None:
        return Trained(fn())
    run_id, result = registry.track(method, dataset_hash, config, fn)
    return Trained(result, registry.register(result, training_run_id=run_id))


def run_sft(
    settings: SftSettings,
    rows: Sequence[Mapping[str, Any]],
    dataset_hash: str,
    registry: ModelRegistry | None,
) -> Trained:
    return _track(
        registry, "sft", dataset_hash, settings.to_json(), lambda: train_sft(settings, rows, dataset_hash)
    )


def run_grpo(
    settings: GrpoSettings,
    rows: Sequence[Mapping[str, Any]],
    dataset_hash: str,
    registry: ModelRegistry | None,
    *,
    problems: Mapping[str, Problem] | None = None,
) -> Trained:
    """GRPO with the judge, plus the verified-outcome reward when the rows' problems are given (rows
    without a problem — production investigations — are scored by the judge alone)."""
    verified = None
    if problems is not None and settings.verified_weight > 0:
        _check_problems(rows, problems)
        verified = VerifiedOutcomeReward(problems)
    return _track(
        registry,
        "grpo",
        dataset_hash,
        settings.to_json(),
        lambda: train_grpo(settings, rows, dataset_hash, verified_reward=verified),
    )


def _check_problems(rows: Sequence[Mapping[str, Any]], problems: Mapping[str, Problem]) -> None:
    missing = sorted({str(r.get("problem_id") or "") for r in rows} - set(problems) - {""})
    if missing:
        raise ValueError(
            f"{len(missing)} row problem(s) are not in the given suite ({', '.join(missing[:3])}…); "
            "pass the suite the rows came from, or train without the verified reward"
        )


def run_kto(
    settings: KtoSettings,
    rows: Sequence[Mapping[str, Any]],
    dataset_hash: str,
    registry: ModelRegistry | None,
) -> Trained:
    return _track(
        registry, "kto", dataset_hash, settings.to_json(), lambda: train_kto(settings, rows, dataset_hash)
    )


def sft_then_grpo(
    sft: SftSettings | None,
    grpo: GrpoSettings,
    rows: Sequence[Mapping[str, Any]],
    dataset_hash: str,
    registry: ModelRegistry | None,
    *,
    problems: Mapping[str, Problem] | None = None,
) -> list[Trained]:
    """The CPU recipe: an optional SFT warm start (so the model emits steps at all), then GRPO on it."""
    done: list[Trained] = []
    if problems is not None and grpo.verified_weight > 0:
        _check_problems(rows, problems)  # before the warm start, not after its minutes of training
    if sft is not None:
        warm = run_sft(sft, rows, dataset_hash, registry)
        done.append(warm)
        grpo = dataclasses.replace(grpo, init_adapter=warm.result.adapter_dir)
    done.append(run_grpo(grpo, rows, dataset_hash, registry, problems=problems))
    return done


@dataclass
class EvalScore:
    """Held-out quality of one model: avg@k/best@k, the valid-step rate, and the episodes behind them."""

    label: str
    avg_at_k: float
    best_at_k: float
    valid_step_rate: float
    n: int
    k: int
    episodes: list[Episode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "avg_at_k": self.avg_at_k,
            "best_at_k": self.best_at_k,
            "valid_step_rate": self.valid_step_rate,
            "n": self.n,
            "k": self.k,
        }


def valid_step_rate(episodes: Sequence[Episode], planner_name: str = "local") -> float:
    """Share of the model's step attempts that the Observer accepted (the rest were failures that
    were re-asked, retried or handed to the heuristic fallback)."""
    accepted = failed = 0
    for episode in episodes:
        accepted += sum(1 for s in episode.trajectory.steps if s.planner == planner_name)
        diagnosis = episode.trajectory.diagnosis
        notes = diagnosis.notes if diagnosis else []
        failed += sum(1 for n in notes if n.startswith(f"planner {planner_name} step"))
    total = accepted + failed
    return round(accepted / total, 4) if total else 0.0


def evaluate_local(
    label: str,
    problems: Sequence[Problem],
    *,
    base_model: Path,
    adapter: Path | None,
    k: int = 1,
    budget: Budget | None = None,
    max_new_tokens: int = 192,
    on_episode: Callable[[Episode], None] | None = None,
) -> EvalScore:
    """Run the ``local`` planner (base + optional adapter) on ``problems`` and score the model *alone*:
    the heuristic fallback is replaced by one that abstains, so a rescued episode counts as a miss."""
    from aoi.agents.planners.local_planner import LocalPlanner

    planner = LocalPlanner(model_path=base_model, adapter_path=adapter, max_new_tokens=max_new_tokens)
    episodes = run_episodes(
        problems, planner, k=k, budget=budget, on_episode=on_episode, fallback=AbstainingFallback()
    )
    return eval_score(label, episodes, k)


def eval_score(label: str, episodes: list[Episode], k: int) -> EvalScore:
    """Score episodes of the local model: also how an evaluation split across processes is merged."""
    summary = scores(episodes)
    return EvalScore(
        label=label,
        avg_at_k=summary["avg_at_k"],
        best_at_k=summary["best_at_k"],
        valid_step_rate=valid_step_rate(episodes),
        n=int(summary["n"]),
        k=k,
        episodes=episodes,
    )
