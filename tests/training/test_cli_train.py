"""`aoi train grpo|kto` train on a saved dataset with --max-steps/--output and register the adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.bot.settings import get_settings
from aoi.store.db import Store
from aoi.training.datasets import save_dataset


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'aoi.db'}"
    monkeypatch.setenv("AOI_DATABASE_URL", url)
    monkeypatch.setenv("AOI_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    store = Store.open(url, migrate=True)
    yield store
    store.dispose()
    get_settings.cache_clear()


def test_train_grpo_with_sft_warm_start_registers_both(
    env: Store, world: dict[str, Any], tmp_path: Path
) -> None:
    dataset = save_dataset(world["rows"], tmp_path / "ds", "expert")
    out = tmp_path / "run"
    args = ["train", "grpo", "--base", str(world["tiny"]), "--dataset", str(dataset.path), "--max-steps", "1"]
    args += [
        "--sft-steps",
        "1",
        "--max-completion-length",
        "8",
        "--lora-r",
        "4",
        "--output",
        str(out),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["dataset_hash"] == dataset.hash
    assert [r["method"] for r in payload["runs"]] == ["sft", "grpo"]
    assert (out / "grpo" / "adapter" / "adapter_config.json").is_file()
    assert json.loads((out / "grpo" / "run.json").read_text())["config"]["max_steps"] == 1
    listed = json.loads(CliRunner().invoke(app, ["models", "list", "--json"]).output)
    assert {m["version"] for m in listed} == {r["version"] for r in payload["runs"]}
    assert all(m["dataset_hash"] == dataset.hash for m in listed)


def test_train_kto_on_a_saved_thumbs_dataset(env: Store, world: dict[str, Any], tmp_path: Path) -> None:
    rows = [{**r, "label": i % 2 == 0} for i, r in enumerate(world["rows"])]
    dataset = save_dataset(rows, tmp_path / "ds", "kto")
    out = tmp_path / "kto"
    args = ["train", "kto", "--base", str(world["tiny"]), "--dataset", str(dataset.path), "--max-steps", "1"]
    result = CliRunner().invoke(app, [*args, "--output", str(out), "--no-register", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["run"]["method"] == "kto" and payload["run"]["version"] is None
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_train_kto_without_feedback_says_there_is_nothing_to_learn(env: Store, world: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["train", "kto", "--base", str(world["tiny"])])
    assert result.exit_code == 1
    assert "nothing for KTO to learn from" in result.output


def test_train_with_a_missing_base_model_is_refused(env: Store, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "grpo", "--base", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "not a Hugging Face model folder" in result.output


def test_train_grpo_builds_the_expert_dataset_from_the_train_split(
    env: Store, world: dict[str, Any], tmp_path: Path
) -> None:
    args = ["train", "grpo", "--base", str(world["tiny"]), "--max-steps", "1", "--sft-steps", "0"]
    args += ["--max-completion-length", "4", "--lora-r", "4", "--no-verified", "--no-register", "--json"]
    result = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rows"] > 100 and [r["method"] for r in payload["runs"]] == ["grpo"]
    manifests = list((tmp_path / "data" / "datasets").glob("expert-*.json"))
    assert len(manifests) == 1
    meta = json.loads(manifests[0].read_text())
    assert meta["successful"] >= 30 and meta["episodes"] == 38  # the 38 train-split tasks only


def test_train_weekly_now_runs_one_pass_on_the_served_local_model(
    env: Store, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AOI_LOCAL_MODEL_PATH", str(world["tiny"]))
    monkeypatch.setenv("AOI_GUIDANCE_EMBEDDER", "hashing")
    get_settings.cache_clear()
    args = ["train", "weekly", "--now", "--grpo-steps", "1", "--sft-steps", "1", "--kto-steps", "0"]
    result = CliRunner().invoke(app, [*args, "--eval-problems", "1", "--eval-steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [t["method"] for t in report["trained"]] == ["sft", "grpo"]
    assert report["current"]["label"] == "base" and report["current"]["n"] == 1
    assert not report["promoted"] and report["decision"].startswith("kept the current model")
    listed = json.loads(CliRunner().invoke(app, ["models", "list", "--json"]).output)
    assert {m["status"] for m in listed} == {"candidate"} and len(listed) == 2


def test_a_relative_base_is_recorded_as_an_absolute_path(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry keeps the base; the weekly job compares it from another working directory."""
    from aoi.training.base_models import resolve_base_model

    monkeypatch.chdir(tiny_model.parent)
    resolved = resolve_base_model(tiny_model.name, tmp_path)
    assert resolved.is_absolute() and resolved == tiny_model.resolve()


@pytest.mark.slow
def test_a_gguf_base_is_converted_once_into_a_model_folder(tmp_path: Path) -> None:
    from aoi.training.base_models import is_model_folder, resolve_base_model, smollm2_gguf_path

    folder = resolve_base_model(smollm2_gguf_path(), tmp_path)
    assert is_model_folder(folder) and folder.parent == tmp_path / "models" / "base"
    assert resolve_base_model(smollm2_gguf_path(), tmp_path) == folder


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (["--grpo-steps", "0"], "--grpo-steps must be >= 1, got 0"),
        (["--eval-steps", "-1"], "--eval-steps must be >= 1, got -1"),
        (["--margin", "-0.5"], "--margin must be a number >= 0"),
        (["--margin", "nan"], "--margin must be a number >= 0"),
    ],
)
def test_weekly_scheduler_refuses_bad_options_at_startup_not_at_the_first_run(
    env: Store, flags: list[str], why: str
) -> None:
    result = CliRunner().invoke(app, ["train", "weekly", *flags])  # would block if it scheduled
    assert result.exit_code == 1 and why in result.output


def test_weekly_scheduler_refuses_a_crontab_that_never_fires(
    env: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AOI_RETRAIN_CRON", "0 3 31 2 *")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["train", "weekly"])
    assert result.exit_code == 1 and "never fires" in result.output


def test_the_gpu_preset_still_checks_the_step_cap(env: Store, world: dict[str, Any], tmp_path: Path) -> None:
    dataset = save_dataset(world["rows"], tmp_path / "ds", "expert")
    args = ["train", "grpo", "--gpu", "--max-steps", "-3", "--sft-steps", "0", "--base", str(world["tiny"])]
    result = CliRunner().invoke(
        app, [*args, "--dataset", str(dataset.path), "--no-verified", "--no-register"]
    )
    assert result.exit_code == 1 and "max_steps must be >= 1, got -3" in result.output


def test_an_output_path_that_is_a_file_is_a_clear_error(
    env: Store, world: dict[str, Any], tmp_path: Path
) -> None:
    rows = [{**r, "label": i % 2 == 0} for i, r in enumerate(world["rows"])]
    dataset = save_dataset(rows, tmp_path / "ds", "kto")
    afile = tmp_path / "afile"
    afile.write_text("x")
    args = ["train", "kto", "--base", str(world["tiny"]), "--dataset", str(dataset.path), "--max-steps", "1"]
    result = CliRunner().invoke(
        app, [*args, "--output", str(afile), "--no-register", "--init-adapter", "none"]
    )
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert afile.read_text() == "x"


def test_kto_continuing_a_promoted_adapter_of_another_base_is_refused_naming_both(
    env: Store, world: dict[str, Any], tmp_path: Path
) -> None:
    from aoi.bot.commands.models import open_registry
    from aoi.training.runs import TrainResult

    adapter = tmp_path / "elsewhere" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    registry = open_registry()
    version = registry.register(TrainResult("grpo", adapter, "/models/qwen-14b", "h", {}, {})).version
    registry.promote(version, actor="test")
    rows = [{**r, "label": i % 2 == 0} for i, r in enumerate(world["rows"])]
    dataset = save_dataset(rows, tmp_path / "ds", "kto")
    args = ["train", "kto", "--base", str(world["tiny"]), "--dataset", str(dataset.path), "--max-steps", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "was trained on /models/qwen-14b" in result.output and "--init-adapter none" in result.output
    assert "Traceback" not in result.output


def test_a_training_run_stopped_with_sigterm_says_how_to_resume_and_is_not_left_running(
    env: Store, world: dict[str, Any], tmp_path: Path
) -> None:
    """Kubernetes and systemd stop with SIGTERM: the run must end like Ctrl-C, not vanish."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from aoi.store.models import TrainingRun

    dataset = save_dataset(world["rows"], tmp_path / "ds", "expert")
    out = tmp_path / "run"
    args = ["train", "grpo", "--base", str(world["tiny"]), "--dataset", str(dataset.path)]
    args += ["--max-steps", "500", "--sft-steps", "0", "--max-completion-length", "8", "--output", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-m", "aoi.bot.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    try:
        deadline = time.monotonic() + 120
        while not any(run.status == "running" for run in _runs(env, TrainingRun)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert f"rerun with --output {out} to resume" in stderr
    assert [run.status for run in _runs(env, TrainingRun)] == ["failed"]


def _runs(store: Store, model: Any) -> list[Any]:
    from sqlmodel import select

    with store.transaction() as session:
        return list(session.exec(select(model)).all())


def test_two_schedulers_firing_the_same_weekly_retrain_run_it_once(
    env: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second `aoi worker` left with its scheduler on must not train the same week twice."""
    import aoi.bot.commands.train as train_commands

    passes: list[dict[str, Any]] = []

    def one_pass(**options: Any) -> dict[str, Any]:
        passes.append(options)
        return {"ran": True}

    monkeypatch.setattr(train_commands, "weekly_job", one_pass)
    assert train_commands.scheduled_weekly_job(grpo_steps=2) == {"ran": True}
    assert train_commands.scheduled_weekly_job(grpo_steps=2) is None  # the other process, same fire
    assert passes == [{"grpo_steps": 2}]


def test_the_latest_fire_of_a_crontab_is_the_one_a_late_run_belongs_to() -> None:
    from datetime import UTC, datetime

    from aoi.training.weekly import latest_fire

    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert latest_fire("0 3 * * 1", wednesday) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday
    monday_late = datetime(2026, 11, 23, 8, 59, tzinfo=UTC)  # within the misfire grace
    assert latest_fire("0 3 * * 1", monday_late) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert latest_fire("* * * * *", wednesday) == wednesday
    assert latest_fire("0 3 1 1 *", wednesday) == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
