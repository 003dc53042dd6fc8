"""The model registry copies adapters, records rows, and promotes/rolls back one version at a time."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aoi.store.errors import InvalidTransitionError
from aoi.training.registry import ModelRegistry, RegistryError
from aoi.training.runs import TrainResult


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 6, 3, 0, 0)

    def __call__(self) -> datetime:
        self.now += timedelta(days=7)
        return self.now


def _result(tmp_path: Path, name: str, reward: float) -> TrainResult:
    adapter = tmp_path / name / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights-" + name.encode())
    return TrainResult(
        method="grpo",
        adapter_dir=adapter,
        base_model="/models/smollm2",
        dataset_hash=f"hash-{name}",
        config={"lr": 1e-5},
        metrics={"reward_last": reward},
    )


@pytest.fixture
def registry(store: Any, tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(store, tmp_path / "registry", clock=Clock())


def test_register_copies_the_adapter_and_records_base_hash_and_metrics(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    model = registry.register(_result(tmp_path, "a", 0.4), extra_metrics={"avg_at_1": 0.3})
    assert model.status == "candidate"
    assert model.version == "20250113T030000-grpo"
    folder = Path(model.adapter_path or "")
    assert folder.parent == tmp_path / "registry" / "aoi-observer"
    assert (folder / "adapter_model.safetensors").read_bytes() == b"weights-a"
    assert model.base_model == "/models/smollm2"
    assert model.dataset_hash == "hash-a"
    assert model.metrics == {"reward_last": 0.4, "avg_at_1": 0.3}
    assert json.loads(json.dumps(model.to_json()))["id"] == model.id


def test_promote_then_rollback_serves_the_previous_version(registry: ModelRegistry, tmp_path: Path) -> None:
    first = registry.register(_result(tmp_path, "a", 0.4))
    second = registry.register(_result(tmp_path, "b", 0.5))
    registry.promote(first.version)
    registry.promote(second.id)
    current = registry.current()
    assert current is not None and current.id == second.id
    back = registry.rollback()
    assert back.id == first.id
    statuses = {m.version: m.status for m in registry.versions()}
    assert statuses == {first.version: "promoted", second.version: "retired"}


def test_rollback_without_an_earlier_version_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    only = registry.register(_result(tmp_path, "a", 0.4))
    registry.promote(only.id)
    with pytest.raises(InvalidTransitionError, match="no earlier promoted version"):
        registry.rollback()


def test_rollback_to_a_version_whose_adapter_was_deleted_is_refused_and_changes_nothing(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    first = registry.register(_result(tmp_path, "a", 0.4))
    second = registry.register(_result(tmp_path, "b", 0.5))
    registry.promote(first.id)
    registry.promote(second.id)
    shutil.rmtree(str(first.adapter_path))
    with pytest.raises(RegistryError, match="missing on disk"):
        registry.rollback()
    statuses = {m.version: m.status for m in registry.versions()}
    assert statuses == {first.version: "retired", second.version: "promoted"}


def test_every_version_is_listed_and_promotable_not_only_the_newest_hundred(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    models = [registry.register(_result(tmp_path, f"m{i}", 0.1)) for i in range(102)]
    assert len(registry.versions()) == 102
    assert registry.promote(models[0].version).status == "promoted"


def test_registering_the_same_adapter_again_returns_the_existing_version(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    """A re-run into a finished --output folder resumes at its cap, trains nothing and hands back the
    same weights: no phantom candidate. Other weights, or another dataset, are a new version."""
    result = _result(tmp_path, "a", 0.4)
    first = registry.register(result)
    assert registry.register(result).id == first.id
    changed = tmp_path / "a" / "adapter" / "adapter_model.safetensors"
    changed.write_bytes(b"weights-a, trained further")
    assert registry.register(result).id != first.id
    assert len(registry.versions()) == 2


def test_promoting_an_unknown_version_names_the_known_ones(registry: ModelRegistry, tmp_path: Path) -> None:
    known = registry.register(_result(tmp_path, "a", 0.4))
    with pytest.raises(RegistryError, match=known.version):
        registry.promote("v999")


def test_tracked_run_records_success_metrics_and_failure_errors(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    run_id, result = registry.track("grpo", "h1", {"base_model": "b"}, lambda: _result(tmp_path, "a", 0.7))
    assert result.metrics["reward_last"] == 0.7

    def boom() -> TrainResult:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        registry.track("kto", "h2", {}, boom)
    runs = {r.id: r for r in registry.runs()}
    assert runs[run_id].status == "succeeded" and runs[run_id].metrics == {"reward_last": 0.7}
    failed = [r for r in runs.values() if r.kind == "kto"]
    assert failed[0].status == "failed" and "out of memory" in (failed[0].error or "")
