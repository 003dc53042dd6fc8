"""Training configurations as plain dataclasses (one per method), with CPU defaults and GPU presets.

Why dataclasses and not trl's configs directly: the registry stores the config of every adapter it
keeps, the CLI and the weekly job build them from a few flags, and tests build tiny ones; trl's
``GRPOConfig``/``KTOConfig``/``SFTConfig`` are derived from these at the last moment.

CPU defaults are sized for SmolLM2-135M on 2 cores (FACTS.md: SFT ~4 s/step, GRPO ~20 s/step at
4 generations × 96 tokens). :func:`gpu_grpo_preset` documents the settings for a Qwen-class model
with vLLM rollouts on one GPU (AOI's own: LoRA r=64, alpha=128, lr 1e-5, group size 4, KL 0.1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LoraSettings:
    """LoRA on every projection layer (``all-linear``), as AOI does."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"


@dataclass
class RunSettings:
    """What every run shares: base model, where it writes, how long, and checkpointing."""

    base_model: Path
    output_dir: Path
    max_steps: int = 30
    learning_rate: float = 5e-4
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    seed: int = 0
    save_steps: int = 10
    save_total_limit: int = 2
    logging_steps: int = 1
    bf16: bool = False
    gradient_checkpointing: bool = True
    init_adapter: Path | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    # wall-clock cap: training stops (and saves) after the step that crosses it, even short of
    # max_steps; a weekly job on a shared machine then ends when planned, whatever the hardware
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes}")
        self.base_model = Path(self.base_model)
        self.output_dir = Path(self.output_dir)
        if self.init_adapter is not None:
            self.init_adapter = Path(self.init_adapter)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict for the registry (paths as strings)."""
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


@dataclass
class SftSettings(RunSettings):
    """Supervised warm start on expert steps (loss on the completion only). ``max_length`` covers prompt
    + completion: the local planner's small-model prompt is ~700–2,400 SmolLM2 tokens (median ~1,500)."""

    max_length: int = 4096


@dataclass
class GrpoSettings(RunSettings):
    """Observer GRPO. ``batch_size`` must be a multiple of ``num_generations`` (trl's rule)."""

    learning_rate: float = 5e-5
    num_generations: int = 4
    max_completion_length: int = 96
    temperature: float = 1.0
    beta: float = 0.0
    epsilon: float = 0.2
    judge_weight: float = 1.0
    verified_weight: float = 0.5
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_generations < 2:
            raise ValueError("num_generations must be >= 2: GRPO compares completions within a group")
        if (self.batch_size * self.gradient_accumulation_steps) % self.num_generations:
            raise ValueError(
                f"batch_size × gradient_accumulation_steps ({self.batch_size} × "
                f"{self.gradient_accumulation_steps}) must be divisible by num_generations "
                f"({self.num_generations})"
            )


@dataclass
class KtoSettings(RunSettings):
    """KTO on unpaired thumbs rows; needs batch_size > 1 (trl estimates the KL term per batch)."""

    learning_rate: float = 5e-5
    beta: float = 0.1
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    max_length: int = 4096

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 2:
            raise ValueError("KTO needs batch_size >= 2 (its KL estimate mixes examples within a batch)")


def gpu_grpo_preset(base_model: Path, output_dir: Path) -> GrpoSettings:
    """Documented GPU settings: a Qwen2.5-7B/14B-class model, vLLM colocated rollouts, bf16.

    Matches AOI's published recipe (LoRA r=64, alpha=128, dropout 0.05, lr 1e-5, group size 4,
    KL 0.1, clip 0.2). Needs the ``serve`` extra (vLLM) on a CUDA machine.
    """
    return GrpoSettings(
        base_model=base_model,
        output_dir=output_dir,
        max_steps=500,
        learning_rate=1e-5,
        batch_size=8,
        gradient_accumulation_steps=4,
        save_steps=50,
        bf16=True,
        num_generations=4,
        max_completion_length=512,
        beta=0.1,
        epsilon=0.2,
        use_vllm=True,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=0.35,
        lora=LoraSettings(r=64, alpha=128, dropout=0.05),
    )
