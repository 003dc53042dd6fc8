"""The ask → parse → re-ask protocol shared by the model-driven planners, and their typed errors.

Both ``openai`` and ``local`` planners reduce to "given chat messages, produce a completion"; this
module does the rest identically for both: parse (with near-JSON repair), re-ask once with the exact
validation error, count tokens, and raise a typed ``PlannerError`` when the model still fails, so the
Observer can retry within budget and then fall back to the heuristic planner (marking the diagnosis
degraded).

Errors (all ``aoi.agents.planners.base.PlannerError``):
- ``InvalidStepError`` — no valid step after the re-ask(s); ``UnknownToolError`` when the last answer
  named a tool the Observer does not have (a write tool, an invented one).
- ``ModelUnavailableError`` — the model could not be reached or run (timeouts, 429/5xx after retries,
  unusable responses, a model that fails to load). Raised by the planners themselves.
Each carries ``prompt_tokens``/``completion_tokens`` spent before failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aoi.agents.planners.base import PlannerError, PlannerOutput
from aoi.agents.planners.parsing import (
    ParsedStep,
    StepParseError,
    UnknownToolStepError,
    parse_step,
    step_from_tool_call,
)
from aoi.agents.planners.prompt import Message, PromptTemplate, estimate_tokens, messages_text, reask_message
from aoi.agents.tools.base import ToolSpec

PROPOSE_TOOL = "propose_action"
SUBMIT_TOOL = "submit_diagnosis"


class ModelPlannerError(PlannerError):
    """Base of the model planners' errors; says how many tokens were spent before failing."""

    def __init__(self, message: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


class InvalidStepError(ModelPlannerError):
    """The model's answer was not a valid step, also after being told what was wrong."""

    def __init__(
        self, message: str, raw_text: str, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        super().__init__(message, prompt_tokens, completion_tokens)
        self.raw_text = raw_text


class UnknownToolError(InvalidStepError):
    """The model insisted on a tool the Observer does not hold (for example a write tool)."""

    def __init__(
        self, tool: str, message: str, raw_text: str, prompt_tokens: int, completion_tokens: int
    ) -> None:
        super().__init__(message, raw_text, prompt_tokens, completion_tokens)
        self.tool = tool


class ModelUnavailableError(ModelPlannerError):
    """The model could not answer: endpoint down, timeouts, 429/5xx after retries, load failure."""


class ModelMisconfiguredError(ModelUnavailableError):
    """The endpoint refused the request itself (a wrong model name's 404, a bad key's 401, an
    out-of-tokens answer): asking again fails the same way, so the Observer falls back at once
    instead of spending its retries (and their seconds) on it."""


@dataclass(frozen=True)
class Completion:
    """One model answer: its text, an optional native tool call ``(name, arguments_json)``, usage.

    ``prompt_tokens``/``completion_tokens`` are None when the backend did not report them; they are
    then estimated from the text.
    """

    text: str
    tool_call: tuple[str, str] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


Generate = Callable[[list[Message]], Completion]


def _parse(completion: Completion, schemas: Mapping[str, Mapping[str, Any]]) -> ParsedStep:
    if completion.tool_call is not None:
        name, arguments = completion.tool_call
        return step_from_tool_call(
            name, arguments, completion.text, schemas, PROPOSE_TOOL, SUBMIT_TOOL, schemas=schemas
        )
    return parse_step(completion.text, schemas, schemas=schemas)


def _raw(completion: Completion) -> str:
    if completion.tool_call is None:
        return completion.text
    name, arguments = completion.tool_call
    return f"{completion.text}\n[tool call] {name}({arguments})".strip()


def ask_for_step(
    generate: Generate,
    messages: Sequence[Message],
    template: PromptTemplate,
    tools: Sequence[ToolSpec],
    reasks: int = 1,
) -> PlannerOutput:
    """Ask for a step; on an invalid answer re-ask up to ``reasks`` times with the error; else raise.

    A probe must name one of ``tools`` with argument names from its schema.

    ``generate`` may raise ``ModelUnavailableError`` (propagated unchanged, with the tokens so far).
    Token counts are the sum over every call, from ``usage`` or estimated (≈4 chars a token).
    """
    schemas = {spec.name: spec.parameters for spec in tools}
    conversation = list(messages)
    prompt_tokens = completion_tokens = 0
    reasons: list[str] = []
    last_error: StepParseError | None = None
    last_raw = ""
    for _ in range(reasks + 1):
        try:
            completion = generate(conversation)
        except ModelUnavailableError as error:
            error.prompt_tokens += prompt_tokens
            error.completion_tokens += completion_tokens
            raise
        last_raw = _raw(completion)
        prompt_tokens += (
            completion.prompt_tokens
            if completion.prompt_tokens is not None
            else estimate_tokens(messages_text(conversation))
        )
        completion_tokens += (
            completion.completion_tokens
            if completion.completion_tokens is not None
            else estimate_tokens(last_raw)
        )
        try:
            parsed = _parse(completion, schemas)
        except StepParseError as error:
            last_error = error
            reasons.append(error.reason)
            conversation += [
                {"role": "assistant", "content": last_raw},
                reask_message(template, error.reason),
            ]
            continue
        return PlannerOutput(
            step=parsed.step,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            raw_text=completion.text if completion.tool_call is None else last_raw,
        )
    attempts = len(reasons)
    summary = f"no valid step after {attempts} answer(s): " + " | then: ".join(reasons)
    if isinstance(last_error, UnknownToolStepError):
        raise UnknownToolError(last_error.tool, summary, last_raw, prompt_tokens, completion_tokens)
    raise InvalidStepError(summary, last_raw, prompt_tokens, completion_tokens)
