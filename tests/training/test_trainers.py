"""GRPO, SFT and KTO really train a LoRA adapter on a tiny random model, and resume from checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aoi.training.config import GrpoSettings, KtoSettings, LoraSettings, SftSettings
from aoi.training.runs import TrainResult
from aoi.training.trainers import train_grpo, train_kto, train_sft
from tests.training.conftest import make_step_rows

LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


def distinct_characters_reward(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
    """A reward with variance on random text, so GRPO has a gradient on an untrained tiny model."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [len(set(t)) / 64.0 for t in texts]


def _lora_tensors(adapter_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def _lora_b_norm(adapter_dir: Path) -> float:
    """LoRA's B matrices start at zero: a non-zero norm means the optimiser changed the adapter."""
    return sum(float(t.abs().sum()) for k, t in _lora_tensors(adapter_dir).items() if "lora_B" in k)


def _grpo(tiny_model: Path, out: Path, **kw: Any) -> GrpoSettings:
    base: dict[str, Any] = {
        "max_steps": 2,
        "learning_rate": 1e-2,
        "max_completion_length": 16,
        "lora": LORA,
        "save_steps": 1,
    }
    return GrpoSettings(base_model=tiny_model, output_dir=out, **(base | kw))


def test_grpo_steps_change_the_adapter_and_log_every_reward(tiny_model: Path, tmp_path: Path) -> None:
    result = train_grpo(
        _grpo(tiny_model, tmp_path / "grpo"),
        make_step_rows(),
        "hash1",
        verified_reward=distinct_characters_reward,
    )
    assert _lora_b_norm(result.adapter_dir) > 0.0
    logged = [e for e in result.log_history if "rewards/step_judge_reward/mean" in e]
    assert len(logged) == 2
    assert all("rewards/distinct_characters_reward/mean" in e for e in logged)
    assert all("rewards/valid_step_reward/mean" in e for e in logged)
    assert result.metrics["steps"] == 2
    saved = TrainResult.load(tmp_path / "grpo")
    assert saved.dataset_hash == "hash1"
    assert saved.config["method"] == "grpo"
    assert saved.config["num_generations"] == 4


def test_grpo_resumes_from_its_newest_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "grpo"
    train_grpo(_grpo(tiny_model, out), make_step_rows(), "h", verified_reward=distinct_characters_reward)
    again = train_grpo(
        _grpo(tiny_model, out, max_steps=3), make_step_rows(), "h", verified_reward=distinct_characters_reward
    )
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-2")
    assert again.metrics["steps"] == 3


def test_grpo_continues_the_sft_adapter(tiny_model: Path, tmp_path: Path) -> None:
    rows = make_step_rows()
    sft = train_sft(
        SftSettings(
            base_model=tiny_model, output_dir=tmp_path / "sft", max_steps=3, learning_rate=1e-2, lora=LORA
        ),
        rows,
        "h",
    )
    assert _lora_b_norm(sft.adapter_dir) > 0.0
    assert "loss_first" in sft.metrics
    grpo = train_grpo(
        _grpo(tiny_model, tmp_path / "grpo", init_adapter=sft.adapter_dir),
        rows,
        "h",
        verified_reward=distinct_characters_reward,
    )
    before, after = _lora_tensors(sft.adapter_dir), _lora_tensors(grpo.adapter_dir)
    assert before.keys() == after.keys()
    assert any(float((before[k] - after[k]).abs().sum()) > 0 for k in before)


def test_kto_step_changes_the_adapter_and_logs_rewards(tiny_model: Path, tmp_path: Path) -> None:
    rows = [
        {"prompt": r["prompt"], "completion": r["completion"], "label": i % 2 == 0}
        for i, r in enumerate(make_step_rows())
    ]
    settings = KtoSettings(
        base_model=tiny_model, output_dir=tmp_path / "kto", max_steps=2, learning_rate=1e-2, lora=LORA
    )
    result = train_kto(settings, rows, "h")
    assert _lora_b_norm(result.adapter_dir) > 0.0
    assert any("rewards/chosen" in e and "rewards/rejected" in e for e in result.log_history)


def test_kto_refuses_rows_with_a_single_label(tiny_model: Path, tmp_path: Path) -> None:
    rows = [{"prompt": r["prompt"], "completion": r["completion"], "label": True} for r in make_step_rows()]
    settings = KtoSettings(base_model=tiny_model, output_dir=tmp_path / "kto", max_steps=1, lora=LORA)
    with pytest.raises(ValueError, match="both thumbs-up and thumbs-down"):
        train_kto(settings, rows, "h")


def test_grpo_rows_without_reward_columns_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    rows = [{"prompt": r["prompt"]} for r in make_step_rows()]
    with pytest.raises(ValueError, match="expert_step"):
        train_grpo(_grpo(tiny_model, tmp_path / "g"), rows, "h")


def test_kto_rows_whose_completion_is_plain_text_are_refused_by_row(tiny_model: Path, tmp_path: Path) -> None:
    rows = [
        {"prompt": r["prompt"], "completion": "a plain string", "label": i % 2 == 0}
        for i, r in enumerate(make_step_rows())
    ]
    settings = KtoSettings(base_model=tiny_model, output_dir=tmp_path / "kto", max_steps=1, lora=LORA)
    with pytest.raises(ValueError, match="KTO row 0: 'completion' must be a list of"):
        train_kto(settings, rows, "h")


def test_grpo_batch_must_be_divisible_by_group_size(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="divisible by num_generations"):
        GrpoSettings(base_model=tiny_model, output_dir=tmp_path, batch_size=3, num_generations=4)


def test_a_time_limit_stops_training_early_and_still_saves_the_adapter(
    tiny_model: Path, tmp_path: Path
) -> None:
    settings = SftSettings(
        base_model=tiny_model,
        output_dir=tmp_path / "sft",
        max_steps=500,
        learning_rate=1e-2,
        lora=LORA,
        max_minutes=1e-6,  # crossed by the first step
    )
    result = train_sft(settings, make_step_rows(), "h")
    assert result.metrics["steps"] == 1
    assert _lora_b_norm(result.adapter_dir) > 0.0
    assert any((tmp_path / "sft").rglob("checkpoint-1"))  # saved as it stopped: a rerun resumes there
    with pytest.raises(ValueError, match="max_minutes"):
        SftSettings(base_model=tiny_model, output_dir=tmp_path / "x", max_minutes=0)


def test_a_damaged_checkpoint_is_named_with_what_to_do_instead_of_a_traceback(
    tiny_model: Path, tmp_path: Path
) -> None:
    from aoi.training.runs import ResumeError

    out = tmp_path / "grpo"
    train_grpo(_grpo(tiny_model, out), make_step_rows(), "h", verified_reward=distinct_characters_reward)
    newest = out / "checkpoints" / "checkpoint-2"
    if not newest.is_dir():
        (newest,) = [p for p in out.rglob("checkpoint-2") if p.is_dir()]
    (newest / "adapter_model.safetensors").write_bytes(b"\x00" * 10)  # a half-written copy
    with pytest.raises(ResumeError, match=r"cannot resume from .*checkpoint-2.*delete"):
        train_grpo(
            _grpo(tiny_model, out, max_steps=3),
            make_step_rows(),
            "h",
            verified_reward=distinct_characters_reward,
        )


def test_an_init_adapter_from_another_base_is_refused_in_one_line(tiny_model: Path, tmp_path: Path) -> None:
    from aoi.training.tiny import build_tiny_model

    first = train_grpo(
        _grpo(tiny_model, tmp_path / "a", max_steps=1),
        make_step_rows(),
        "h",
        verified_reward=distinct_characters_reward,
    )
    other = build_tiny_model(tmp_path / "wider", hidden_size=64)
    with pytest.raises(ValueError, match=r"does not fit base model .*--init-adapter none"):
        train_grpo(
            _grpo(other, tmp_path / "b", max_steps=1, init_adapter=first.adapter_dir),
            make_step_rows(),
            "h",
            verified_reward=distinct_characters_reward,
        )


def test_rows_from_problems_outside_the_suite_are_refused_before_the_warm_start_trains(
    tiny_model: Path, tmp_path: Path
) -> None:
    from aoi.training.config import SftSettings
    from aoi.training.pipeline import sft_then_grpo

    rows = [{**row, "problem_id": "not-a-problem"} for row in make_step_rows()]
    sft = SftSettings(base_model=tiny_model, output_dir=tmp_path / "sft", max_steps=1)
    with pytest.raises(ValueError, match="not in the given suite"):
        sft_then_grpo(sft, _grpo(tiny_model, tmp_path / "grpo"), rows, "h", None, problems={})
    assert not (tmp_path / "sft").exists()  # nothing was trained first


def test_resuming_a_folder_trained_on_another_dataset_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    """It would continue those checkpoints silently and register them under the new dataset's hash."""
    from aoi.training.runs import ResumeError

    out = tmp_path / "grpo"
    train_grpo(_grpo(tiny_model, out), make_step_rows(), "h1", verified_reward=distinct_characters_reward)
    settings = _grpo(tiny_model, out, max_steps=3)
    with pytest.raises(ResumeError, match="holds a run with dataset_hash h1, not dataset_hash h2"):
        train_grpo(settings, make_step_rows(), "h2", verified_reward=distinct_characters_reward)


def test_a_rerun_into_a_finished_folder_trains_nothing_and_returns_its_result(
    tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "grpo"
    reward = distinct_characters_reward
    first = train_grpo(_grpo(tiny_model, out), make_step_rows(), "h", verified_reward=reward)
    weights = _lora_tensors(first.adapter_dir)
    again = train_grpo(_grpo(tiny_model, out), make_step_rows(), "h", verified_reward=reward)
    assert again.metrics["steps"] == 2 and again.log_history == first.log_history
    assert all((weights[k] == t).all() for k, t in _lora_tensors(again.adapter_dir).items())


def test_a_finished_folder_of_another_base_model_is_not_returned_as_this_run(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Same folder, same dataset, another base: the finished result belongs to that base."""
    from aoi.training.runs import ResumeError
    from aoi.training.tiny import build_tiny_model

    out = tmp_path / "grpo"
    reward = distinct_characters_reward
    train_grpo(_grpo(tiny_model, out), make_step_rows(), "h", verified_reward=reward)
    other = build_tiny_model(tmp_path / "other")
    with pytest.raises(ResumeError, match="base_model"):
        train_grpo(_grpo(other, out), make_step_rows(), "h", verified_reward=reward)
