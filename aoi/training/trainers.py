"""SFT warm start, Observer GRPO and KTO: thin wrappers around trl's trainers with a LoRA adapter.

Each function takes settings (``aoi.training.config``), rows (``aoi.training.datasets``) and the
dataset's content hash, trains (resuming from the run's newest checkpoint), saves the adapter and
returns a :class:`~aoi.training.runs.TrainResult`. The rows' schemas:

- SFT: ``{"prompt": [messages], "completion": [{"role": "assistant", "content": step_json}]}``
- GRPO: ``{"prompt": [messages], "expert_step", "step_index", "n_steps", "problem_id", ...}`` — the
  extra columns are handed to the reward functions (trl's contract)
- KTO: ``{"prompt": [messages], "completion": [assistant message], "label": bool}``
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aoi.training.config import GrpoSettings, KtoSettings, SftSettings
from aoi.training.rewards import step_judge_reward, valid_step_reward
from aoi.training.runs import TrainResult, common_trainer_args, finish_run, load_trainable_model

RewardFunc = Callable[..., list[float]]
log = logging.getLogger(__name__)

_REQUIRED = {
    "sft": ("prompt", "completion"),
    "grpo": ("prompt", "expert_step", "step_index", "n_steps"),
    "kto": ("prompt", "completion", "label"),
}


def _check_rows(method: str, rows: Sequence[Mapping[str, Any]], minimum: int = 1) -> None:
    if len(rows) < minimum:
        raise ValueError(f"{method.upper()} needs at least {minimum} training rows, got {len(rows)}")
    for index, row in enumerate(rows):
        missing = [key for key in _REQUIRED[method] if key not in row]
        if missing:
            raise ValueError(
                f"{method.upper()} row {index} lacks {missing}; expected keys {list(_REQUIRED[method])}"
            )
        for key in ("prompt", "completion"):
            if key in _REQUIRED[method] and not _is_conversation(row[key]):
                raise ValueError(
                    f"{method.upper()} row {index}: {key!r} must be a list of "
                    '{"role": ..., "content": "..."} messages (conversational rows, as aoi saves them)'
                )


def _is_conversation(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    )


def _dataset(rows: Sequence[Mapping[str, Any]], keep: Sequence[str] | None = None) -> Any:
    from datasets import Dataset

    records = [{k: v for k, v in row.items() if keep is None or k in keep} for row in rows]
    return Dataset.from_list(records)


def _tokenizer(settings: SftSettings | GrpoSettings | KtoSettings) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(settings.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _check_lengths(method: str, rows: Sequence[Mapping[str, Any]], tokenizer: Any, max_length: int) -> None:
    """Rows longer than ``max_length`` lose their completion to truncation; refuse if none would fit."""
    too_long = 0
    for row in rows:
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)
        completion = tokenizer("".join(m["content"] for m in row["completion"]))["input_ids"]
        too_long += len(prompt) + len(completion) > max_length
    if too_long == len(rows):
        raise ValueError(
            f"all {len(rows)} {method.upper()} rows are longer than max_length={max_length} tokens "
            "(prompt + completion); raise max_length (the model's context permitting)"
        )
    if too_long:
        log.warning(
            "%d of %d %s rows exceed max_length=%d and will be truncated",
            too_long,
            len(rows),
            method,
            max_length,
        )


def train_sft(settings: SftSettings, rows: Sequence[Mapping[str, Any]], dataset_hash: str) -> TrainResult:
    """Supervised warm start: teaches the model the step format and the expert's moves."""
    from trl import SFTConfig, SFTTrainer

    _check_rows("sft", rows)
    tokenizer = _tokenizer(settings)
    _check_lengths("sft", rows, tokenizer, settings.max_length)
    model, peft_config = load_trainable_model(settings)
    args = SFTConfig(**common_trainer_args(settings), max_length=settings.max_length)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=_dataset(rows, keep=("prompt", "completion")),
        processing_class=_tokenizer(settings),
        peft_config=peft_config,
    )
    return finish_run(
        trainer,
        settings,
        method="sft",
        dataset_hash=dataset_hash,
        metric_keys=("loss", "mean_token_accuracy"),
    )


def train_grpo(
    settings: GrpoSettings,
    rows: Sequence[Mapping[str, Any]],
    dataset_hash: str,
    *,
    verified_reward: RewardFunc | None = None,
) -> TrainResult:
    """Observer GRPO: the judge reward, plus the simulator-verified reward when one is given.

    ``valid_step_reward`` is logged with weight 0 so the valid-step rate shows in the log history.
    """
    from trl import GRPOConfig, GRPOTrainer

    _check_rows("grpo", rows)
    reward_funcs: list[Any] = [step_judge_reward, valid_step_reward]
    weights = [settings.judge_weight, 0.0]
    if verified_reward is not None:
        reward_funcs.append(verified_reward)
        weights.append(settings.verified_weight)
    model, peft_config = load_trainable_model(settings)
    args = GRPOConfig(
        **common_trainer_args(settings),
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        epsilon=settings.epsilon,
        reward_weights=weights,
        use_vllm=settings.use_vllm,
        vllm_mode=settings.vllm_mode,
        vllm_gpu_memory_utilization=settings.vllm_gpu_memory_utilization,
    )
    columns = [k for k in rows[0] if k != "completion"]
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=_dataset(rows, keep=columns),
        processing_class=_tokenizer(settings),
        peft_config=peft_config,
    )
    keys: tuple[str, ...] = (
        "reward",
        "reward_std",
        "loss",
        "rewards/step_judge_reward/mean",
        "rewards/valid_step_reward/mean",
    )
    if verified_reward is not None:
        keys += (f"rewards/{getattr(verified_reward, '__name__', 'verified')}/mean",)
    return finish_run(trainer, settings, method="grpo", dataset_hash=dataset_hash, metric_keys=keys)


def train_kto(settings: KtoSettings, rows: Sequence[Mapping[str, Any]], dataset_hash: str) -> TrainResult:
    """KTO on unpaired thumbs rows: pushes up liked completions, down disliked ones."""
    from trl import KTOConfig, KTOTrainer

    _check_rows("kto", rows, minimum=2)
    labels = {bool(row["label"]) for row in rows}
    if labels != {True, False}:
        raise ValueError(f"KTO needs both thumbs-up and thumbs-down rows; all {len(rows)} rows are {labels}")
    tokenizer = _tokenizer(settings)
    _check_lengths("kto", rows, tokenizer, settings.max_length)
    model, peft_config = load_trainable_model(settings)
    args = KTOConfig(
        **common_trainer_args(settings),
        beta=settings.beta,
        desirable_weight=settings.desirable_weight,
        undesirable_weight=settings.undesirable_weight,
        max_length=settings.max_length,
    )
    trainer = KTOTrainer(
        model=model,
        args=args,
        train_dataset=_dataset(rows, keep=("prompt", "completion", "label")),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    keys = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "kl")
    return finish_run(trainer, settings, method="kto", dataset_hash=dataset_hash, metric_keys=keys)
