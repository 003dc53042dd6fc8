"""What every training method shares: the run folder, resuming from checkpoints, the result record.

Run folder layout (``RunSettings.output_dir``)::

    checkpoints/checkpoint-N/   trl/transformers checkpoints (adapter + optimizer), resumable
    adapter/                    the final LoRA adapter (adapter_config.json, adapter_model.safetensors,
                                tokenizer) — what the registry, the local planner and vLLM load
    run.json                    method, base model, dataset hash, config, metrics, log history

Re-running with the same ``output_dir`` resumes from the newest checkpoint (``--max-steps`` may be
raised to train further). Progress bars are the trainers' own (tqdm).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aoi.training.config import RunSettings

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """The outcome of one training run, as the registry stores it."""

    method: str
    adapter_dir: Path
    base_model: str
    dataset_hash: str
    config: dict[str, Any]
    metrics: dict[str, float]
    log_history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "adapter_dir": str(self.adapter_dir),
            "base_model": self.base_model,
            "dataset_hash": self.dataset_hash,
            "config": self.config,
            "metrics": self.metrics,
            "log_history": self.log_history,
            "resumed_from": self.resumed_from,
        }

    @classmethod
    def load(cls, run_dir: Path) -> TrainResult:
        """Read a finished run's ``run.json``."""
        path = Path(run_dir) / "run.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: {run_dir} is not a finished training run")
        data = json.loads(path.read_text())
        return cls(
            method=data["method"],
            adapter_dir=Path(data["adapter_dir"]),
            base_model=data["base_model"],
            dataset_hash=data["dataset_hash"],
            config=data["config"],
            metrics=data["metrics"],
            log_history=data.get("log_history", []),
            resumed_from=data.get("resumed_from"),
        )


def checkpoints_dir(settings: RunSettings) -> Path:
    return settings.output_dir / "checkpoints"


def last_checkpoint(settings: RunSettings) -> Path | None:
    """The newest ``checkpoint-N`` folder of this run, if a previous attempt left one."""
    folder = checkpoints_dir(settings)
    if not folder.is_dir():
        return None
    candidates = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(candidates, key=lambda p: int(p.name.split("-")[-1])) if candidates else None


def lora_config(settings: RunSettings, task_type: str = "CAUSAL_LM") -> LoraConfig:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora.r,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=settings.lora.target_modules,
        task_type=task_type,
    )


def load_trainable_model(
    settings: RunSettings,
) -> tuple[PreTrainedModel | PeftModel | str, LoraConfig | None]:
    """The ``(model, peft_config)`` pair to hand a trl trainer.

    Without ``init_adapter``: the base model's path and a fresh LoRA config (trl wraps it). With one
    (e.g. the SFT warm start): the base model with that adapter loaded *trainable*, so GRPO keeps
    improving the same adapter and serving needs only base + one adapter.
    """
    if settings.init_adapter is None:
        return str(settings.base_model), lora_config(settings)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if not (settings.init_adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"init adapter {settings.init_adapter} has no adapter_config.json")
    base = AutoModelForCausalLM.from_pretrained(settings.base_model)
    try:
        return PeftModel.from_pretrained(base, str(settings.init_adapter), is_trainable=True), None
    except RuntimeError as exc:  # peft's state-dict size mismatch: hundreds of lines, one cause
        raise ValueError(
            f"adapter {settings.init_adapter} does not fit base model {settings.base_model} "
            f"({_first_line(exc)}): pass the --base it was trained on, or --init-adapter none"
        ) from exc


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:limit] if text else ''}"


class ResumeError(ValueError):
    """The run folder's checkpoint cannot be resumed: damaged, or written by a different run."""


def common_trainer_args(settings: RunSettings) -> dict[str, Any]:
    """Arguments shared by SFTConfig/GRPOConfig/KTOConfig."""
    import torch

    return {
        "output_dir": str(checkpoints_dir(settings)),
        "max_steps": settings.max_steps,
        "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "seed": settings.seed,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "logging_steps": settings.logging_steps,
        "report_to": "none",
        "use_cpu": not torch.cuda.is_available(),
        "bf16": settings.bf16,
        "gradient_checkpointing": settings.gradient_checkpointing,
    }


def _numeric(entry: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in entry.items() if isinstance(v, int | float)}


def summarise_log(log_history: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    """First/last value of each metric in ``keys`` over the logged steps, plus the final step."""
    metrics: dict[str, float] = {}
    steps = [_numeric(e) for e in log_history if "step" in e]
    for key in keys:
        values = [e[key] for e in steps if key in e and not math.isnan(e[key])]  # NaN: not applicable
        if values:
            metrics[f"{key}_first"] = values[0]
            metrics[f"{key}_last"] = values[-1]
            metrics[f"{key}_mean"] = sum(values) / len(values)
    if steps:
        metrics["steps"] = max(e.get("step", 0.0) for e in steps)
    return metrics


def time_limit(minutes: float) -> Any:
    """A trainer callback that ends training after the step that crosses ``minutes`` of wall clock.

    It asks for a save as it stops, so the run resumes from there like any interrupted run.
    """
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.deadline = time.monotonic() + minutes * 60.0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.monotonic() >= self.deadline:
                log.info("time limit of %.1f min reached at step %d: stopping", minutes, state.global_step)
                control.should_training_stop = True
                control.should_save = True
            return control

    return TimeLimit()


RUN_START = "run-start.json"  # what a run folder's checkpoints were trained on


# what makes two runs the same run: resuming or reusing one folder across a difference here would
# continue (or return) weights trained for something else
_SAME_RUN_KEYS = ("base_model", "lora", "init_adapter")


def _identity(settings: RunSettings, method: str, dataset_hash: str) -> dict[str, Any]:
    config = settings.to_json()
    return {"method": method, "dataset_hash": dataset_hash, **{k: config.get(k) for k in _SAME_RUN_KEYS}}


def _check_same_run(settings: RunSettings, method: str, dataset_hash: str, resume: Path | None) -> None:
    """Resuming continues the *same* run: a checkpoint trained on another dataset, method, base model,
    LoRA shape or starting adapter would otherwise be continued silently and registered as this one."""
    marker = settings.output_dir / RUN_START
    started = _identity(settings, method, dataset_hash)
    if resume is not None and marker.is_file():
        try:
            before = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            before = {}
        differ = [k for k in started if k in before and before[k] != started[k]]
        if differ:
            was = ", ".join(f"{k} {before[k]}" for k in differ)
            now = ", ".join(f"{k} {started[k]}" for k in differ)
            raise ResumeError(
                f"{settings.output_dir} holds a run with {was}, not {now}: train into another --output "
                "(or delete that folder to start over)"
            )
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(started), encoding="utf-8")


def _finished(settings: RunSettings, method: str, dataset_hash: str) -> TrainResult | None:
    """This folder's recorded result when it already trained this method on this dataset to at least
    ``max_steps`` and saved its adapter."""
    if not (settings.output_dir / "run.json").is_file() or not (settings.output_dir / "adapter").is_dir():
        return None
    try:
        done = TrainResult.load(settings.output_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: train (and resume) as if it were not there
    wanted = _identity(settings, method, dataset_hash)
    recorded: dict[str, Any] = {"method": done.method, "dataset_hash": done.dataset_hash}
    recorded |= {k: done.config.get(k) for k in _SAME_RUN_KEYS}
    return done if recorded == wanted and done.metrics.get("steps", 0) >= settings.max_steps else None


class _TrainBegan:
    """Marks that training started (after a checkpoint's weights, optimiser and state loaded)."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        self.began = False
        outer = self

        class Began(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                outer.began = True
                return control

        self.callback = Began()


def finish_run(
    trainer: Any,
    settings: RunSettings,
    *,
    method: str,
    dataset_hash: str,
    metric_keys: tuple[str, ...],
) -> TrainResult:
    """Train (resuming if a checkpoint exists), save the adapter, write ``run.json``."""
    resume = last_checkpoint(settings)
    _check_same_run(settings, method, dataset_hash, resume)
    finished = _finished(settings, method, dataset_hash)
    if finished is not None:  # a re-run into a finished folder: transformers would still take a step
        log.info(
            "%s run in %s already reached %d steps: nothing to train",
            method,
            settings.output_dir,
            settings.max_steps,
        )
        return finished
    if resume is not None:
        log.info("resuming %s run from %s", method, resume)
    if settings.max_minutes is not None:
        trainer.add_callback(time_limit(settings.max_minutes))
    began = _TrainBegan()
    trainer.add_callback(began.callback)
    started = time.monotonic()
    try:
        output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except Exception as exc:
        if resume is None or began.began:
            raise
        # the checkpoint failed to load (the trainer had not started): say which and what to do
        raise ResumeError(
            f"cannot resume from {resume} ({_first_line(exc)}): if that checkpoint is damaged (a "
            f"half-written save) or from a different run, delete it to resume from the one before, or "
            f"train into another --output"
        ) from exc
    seconds = time.monotonic() - started
    adapter_dir = settings.output_dir / "adapter"
    trainer.save_model(str(adapter_dir))
    history = [dict(e) for e in trainer.state.log_history]
    metrics = summarise_log(history, metric_keys)
    metrics["train_seconds"] = round(seconds, 3)
    metrics["train_loss"] = float(output.training_loss)
    result = TrainResult(
        method=method,
        adapter_dir=adapter_dir,
        base_model=str(settings.base_model),
        dataset_hash=dataset_hash,
        config={"method": method, **settings.to_json()},
        metrics=metrics,
        log_history=history,
        resumed_from=str(resume) if resume else None,
    )
    (settings.output_dir / "run.json").write_text(json.dumps(result.to_json(), indent=2, default=str))
    return result
