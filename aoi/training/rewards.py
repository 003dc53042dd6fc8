"""The step judge: a pure, weighted, six-dimension reward of a completion against the expert's step.

Contract (trl's): ``reward(prompts, completions, **columns) -> list[float]``, one float in [0, 1] per
completion; the dataset columns arrive as lists aligned with ``completions``. The columns read here
are ``expert_step`` (the expert's Step as a JSON string), ``step_index`` and ``n_steps`` (where the
step sits in the purified expert trajectory) and, optionally, ``tool_names`` (the Observer's tools:
a probe naming another tool is invalid, as it is at inference time). Completions are read with the
model planners' own parser (``aoi.agents.planners.parsing``), so "valid" means what it means live.

Dimensions and weights (AOI's, DESIGN.md §8):

=============  ======  ==================================================================
dimension      weight  score in [0, 1]
=============  ======  ==================================================================
format         0.10    1 if the completion is exactly one JSON step object (fences allowed),
                       0.5 if a valid step had to be dug out of surrounding text; otherwise
                       0.3 × the share of the step's seven keys that appear quoted in the text
                       (shaping: an untrained small model gets a gradient towards the schema)
summary        0.15    text similarity of ``summary``; skipped on the first and last step
                       (its weight is spread proportionally over the other five)
action type    0.10    1 if ``action_type`` equals the expert's
instruction    0.30    what the step asks to be done: tool (or proposed verb) match 0.5,
                       argument similarity 0.3, reasoning similarity 0.2
targets        0.30    F1 between the named target resources
confidence     0.05    1 − |confidence − expert confidence|
=============  ======  ==================================================================

A completion that is not a valid step scores 0 on every other dimension: nothing else can be judged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aoi.agents.planners.parsing import StepParseError, parse_step
from aoi.agents.records import Step
from aoi.training.similarity import args_similarity, set_f1, text_similarity

WEIGHTS: dict[str, float] = {
    "format": 0.10,
    "summary": 0.15,
    "action_type": 0.10,
    "instruction": 0.30,
    "targets": 0.30,
    "confidence": 0.05,
}

STEP_KEYS = tuple(Step.model_fields)

TextSimilarity = Callable[[str, str], float]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class ParsedCompletion:
    """A completion read as a step: the Step (or None), and whether it was clean JSON."""

    step: Step | None
    exact: bool
    error: str = ""


def completion_text(completion: Any) -> str:
    """trl passes plain strings, or (conversational datasets) a list of ``{"role", "content"}`` dicts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    raise TypeError(
        f"completion must be a string or a list of chat messages, got {type(completion).__name__}"
    )


class AnyTool(Collection[str]):
    """Stands in for the tool list when a row does not carry one: every tool name is accepted."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and bool(item)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def parse_step_completion(text: str, tool_names: Collection[str] | None = None) -> ParsedCompletion:
    """Read a completion exactly as the model planners do (``aoi.agents.planners.parsing``).

    ``exact`` is True when the answer was one clean JSON object (a single code fence allowed), False
    when the planners' parser had to extract or repair it. ``tool_names`` (the Observer's tools for
    that row) makes an unknown probe tool invalid, as it is at inference time.
    """
    names: Collection[str] = AnyTool() if tool_names is None else tool_names
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    body = fenced.group(1) if fenced else stripped
    try:
        parsed = parse_step(body, names)
    except StepParseError as exc:
        return ParsedCompletion(None, exact=False, error=exc.reason)
    return ParsedCompletion(parsed.step, exact=not parsed.repaired)


def _instruction_subject(step: Step) -> str:
    """What the step acts with: the tool for a probe, the proposed verb for a proposal."""
    if step.action_type == "propose":
        verb = step.args.get("verb") or step.tool or ""
        return str(verb).lower()
    return (step.tool or "").lower()


@dataclass(frozen=True)
class JudgeScore:
    """Per-dimension scores, the weights actually applied, and the weighted total."""

    scores: dict[str, float]
    weights: dict[str, float]
    total: float
    valid: bool
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def step_weights(*, first: bool, last: bool) -> dict[str, float]:
    """AOI's weights; on the first and last step the summary's weight is spread over the others."""
    if not (first or last):
        return dict(WEIGHTS)
    rest = {k: v for k, v in WEIGHTS.items() if k != "summary"}
    scale = 1.0 / sum(rest.values())
    return {k: v * scale for k, v in rest.items()} | {"summary": 0.0}


def judge_step(
    completion: str,
    expert: Step,
    *,
    first: bool = False,
    last: bool = False,
    tool_names: Collection[str] | None = None,
    similarity: TextSimilarity = text_similarity,
) -> JudgeScore:
    """Score one completion against the expert step (see the module docstring for the rubric)."""
    weights = step_weights(first=first, last=last)
    parsed = parse_step_completion(completion, tool_names)
    if parsed.step is None:
        scores = dict.fromkeys(WEIGHTS, 0.0)
        scores["format"] = 0.3 * sum(f'"{key}"' in completion for key in STEP_KEYS) / len(STEP_KEYS)
        total = round(weights["format"] * scores["format"], 6)
        return JudgeScore(scores, weights, total, valid=False, error=parsed.error)
    step = parsed.step
    subject_match = 1.0 if _instruction_subject(step) == _instruction_subject(expert) else 0.0
    scores = {
        "format": 1.0 if parsed.exact else 0.5,
        "summary": similarity(step.summary, expert.summary),
        "action_type": 1.0 if step.action_type == expert.action_type else 0.0,
        "instruction": 0.5 * subject_match
        + 0.3 * args_similarity(step.args, expert.args)
        + 0.2 * similarity(step.reasoning, expert.reasoning),
        "targets": set_f1(step.targets, expert.targets),
        "confidence": 1.0 - min(1.0, abs(step.confidence - expert.confidence)),
    }
    total = sum(weights[k] * scores[k] for k in WEIGHTS)
    return JudgeScore(scores, weights, round(total, 6), valid=True)


def _column(columns: dict[str, Any], name: str, n: int) -> Sequence[Any]:
    if name not in columns:
        raise KeyError(
            f"reward column {name!r} is missing from the dataset; step rows need "
            f"'expert_step', 'step_index' and 'n_steps' (see aoi.training.datasets.StepRow)"
        )
    values = columns[name]
    if len(values) != n:
        raise ValueError(f"reward column {name!r} has {len(values)} values for {n} completions")
    return values


def _expert(value: Any) -> Step:
    if isinstance(value, Step):
        return value
    if isinstance(value, str):
        return Step.model_validate_json(value)
    return Step.model_validate(value)


def step_judge_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
    """trl reward function: :func:`judge_step` of each completion against its row's expert step."""
    n = len(completions)
    experts = _column(columns, "expert_step", n)
    indices = _column(columns, "step_index", n)
    lengths = _column(columns, "n_steps", n)
    tools = columns.get("tool_names") or [None] * n
    rewards: list[float] = []
    for completion, expert, index, length, names in zip(
        completions, experts, indices, lengths, tools, strict=True
    ):
        score = judge_step(
            completion_text(completion),
            _expert(expert),
            first=int(index) == 0,
            last=int(index) == int(length) - 1,
            tool_names=names,
        )
        rewards.append(score.total)
    return rewards


def valid_step_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
    """1.0 for a completion the planners would accept as a step, else 0.0 (logged with weight 0)."""
    tools = columns.get("tool_names") or [None] * len(completions)
    return [
        1.0 if parse_step_completion(completion_text(c), names).step is not None else 0.0
        for c, names in zip(completions, tools, strict=True)
    ]
