"""Turn a language model's answer into a validated ``Step``: extraction, near-JSON repair, validation.

Shared by every model-driven planner (``openai``, ``local``) so they accept exactly the same answers.
Models rarely emit bare JSON: they wrap it in code fences or prose, leave trailing commas, use single
quotes or Python literals, or stop mid-object when they hit ``max_new_tokens``. We repair *syntax*
only — never meaning: a repaired object must still validate as a ``Step`` (pydantic), name a tool that
exists, and carry the fields its ``action_type`` needs. Anything else raises ``StepParseError`` with a
message precise enough to send back to the model in a re-ask.

Contract: ``parse_step(text, tool_names)`` returns a ``ParsedStep`` (the ``Step`` and whether repair
was needed) or raises ``StepParseError`` (``UnknownToolStepError`` when only the tool name is wrong).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aoi.agents.records import ActionRequest, Step

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_MAX_CANDIDATES = 12
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_LITERALS = {
    "True": "true",
    "False": "false",
    "None": "null",
    "true": "true",
    "false": "false",
    "null": "null",
}


class StepParseError(ValueError):
    """The answer holds no valid step. ``reason`` is written for the model (it goes into the re-ask)."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(f"{reason} (answer began: {text[:160]!r})")
        self.reason = reason
        self.text = text


class UnknownToolStepError(StepParseError):
    """The step is well formed but names a tool the Observer does not have."""

    def __init__(self, tool: str, known: Collection[str], text: str) -> None:
        names = ", ".join(sorted(known)) or "(none)"
        super().__init__(f"unknown tool {tool!r}; the tools you may use are: {names}", text)
        self.tool = tool


@dataclass(frozen=True)
class ParsedStep:
    step: Step
    repaired: bool


def parse_step(
    text: str, tool_names: Collection[str], schemas: Mapping[str, Mapping[str, Any]] | None = None
) -> ParsedStep:
    """Extract, repair and validate the first JSON object in ``text`` that is a valid step.

    ``tool_names`` are the read tools the Observer holds; a ``probe`` must name one of them. With
    ``schemas`` (tool name → JSON schema of its arguments) a probe's argument names are checked too.
    """
    if not text or not text.strip():
        raise StepParseError("the answer was empty; reply with one JSON object (the step)", text or "")
    answer = strip_thinking(text)
    if not answer.strip():
        raise StepParseError("the answer held only reasoning; end it with one JSON object (the step)", text)
    first_error: StepParseError | None = None
    unknown_tool: UnknownToolStepError | None = None
    for candidate in _candidates(answer):
        try:
            obj, repaired = _load_object(candidate)
            step = validate_step_object(obj, tool_names, text, schemas)
        except UnknownToolStepError as error:
            # a tool named in passing (an example, a plan) must not sink a valid step after it
            unknown_tool = unknown_tool or error
            continue
        except StepParseError as error:
            first_error = first_error or error
            continue
        return ParsedStep(step=step, repaired=repaired or candidate.strip() != text.strip())
    if unknown_tool is not None:
        raise unknown_tool
    if first_error is not None:
        raise first_error
    raise StepParseError("no JSON object found; reply with exactly one JSON object (the step)", text)


def validate_step_object(
    obj: Any,
    tool_names: Collection[str],
    text: str = "",
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> Step:
    """Validate an already-decoded object as a step for an Observer holding ``tool_names``."""
    if isinstance(obj, dict) and "action_type" not in obj:
        nested = [value for value in obj.values() if isinstance(value, dict) and "action_type" in value]
        if len(nested) == 1:  # {"step": {...}} or {"next_step": {...}}
            obj = nested[0]
    if not isinstance(obj, dict):
        raise StepParseError(f"the step must be a JSON object, got {type(obj).__name__}", text)
    try:
        step = Step.model_validate(obj)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'step'}: {item['msg']}" for item in error.errors()
        )
        raise StepParseError(f"the step does not match the schema: {problems}", text) from error
    if step.action_type == "probe":
        if not step.tool:
            raise StepParseError("a probe step must name a tool in 'tool'", text)
        if step.tool not in tool_names:
            raise UnknownToolStepError(step.tool, tool_names, text)
        if schemas is not None and step.tool in schemas:
            _check_arguments(step, schemas[step.tool], text)
    elif step.action_type == "propose":
        try:
            ActionRequest.model_validate(step.args)
        except ValidationError as error:
            fields = ", ".join(".".join(str(p) for p in item["loc"]) for item in error.errors())
            raise StepParseError(
                f"a propose step's args must be an action request "
                f'{{"verb", "target", "namespace", "params", "rationale"}}; problem with: {fields}',
                text,
            ) from error
    return step


def _check_arguments(step: Step, schema: Mapping[str, Any], text: str) -> None:
    """Argument *names* against the tool's schema (types are the tool's own validation)."""
    properties = schema.get("properties", {})
    required = list(schema.get("required", []))
    unknown = sorted(set(step.args) - set(properties))
    missing = [name for name in required if step.args.get(name) is None]
    if unknown or missing:
        problems = ([f"unknown argument(s) {unknown}"] if unknown else []) + (
            [f"missing required argument(s) {missing}"] if missing else []
        )
        raise StepParseError(
            f"tool {step.tool!r}: {' and '.join(problems)}; its arguments are {sorted(properties)}"
            f" (required: {required})",
            text,
        )


def strip_thinking(text: str) -> str:
    """The answer without a reasoning model's thinking: ``<think>…</think>`` blocks (Qwen3,
    DeepSeek-R1 served by Ollama or llama.cpp without a reasoning parser put them in the content),
    and everything before a closing tag whose opening tag was in the prompt's template. The braces
    of planned steps inside the thinking once used up the candidates before the real step."""
    stripped = _THINKING.sub("", text)
    for tag in ("think", "thinking", "reasoning"):
        closing = stripped.rfind(f"</{tag}>")
        if closing != -1:
            stripped = stripped[closing + len(tag) + 3 :]
    if re.match(r"\s*<(think|thinking|reasoning)>", stripped, re.IGNORECASE):
        return ""  # thinking that never closed: the model ran out of tokens before its answer
    return stripped


def first_object_closed(text: str) -> bool:
    """True once ``text`` holds a complete top-level JSON-like object (generation may stop there)."""
    start = text.find("{")
    return start != -1 and _object_span(text, start)[1]


def _candidates(text: str) -> list[str]:
    """Substrings that may hold the step: fenced blocks first, then each balanced top-level object."""
    sources = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    found: list[str] = []
    for source in sources:
        start = source.find("{")
        while start != -1 and len(found) < _MAX_CANDIDATES:
            end, _ = _object_span(source, start)
            found.append(source[start:end])
            start = source.find("{", end)
    return found


def _object_span(text: str, start: int) -> tuple[int, bool]:
    """End (exclusive) of the object opening at ``start``, and whether it closes (else truncated)."""
    depth = 0
    quote: str | None = None
    index = start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1, True
        index += 1
    return len(text), False


def _load_object(candidate: str) -> tuple[Any, bool]:
    """``json.loads``, then the repaired text; returns the object and whether repair was needed."""
    try:
        return json.loads(candidate), False
    except json.JSONDecodeError as strict_error:
        repaired = repair_json(candidate)
        try:
            return json.loads(repaired), True
        except json.JSONDecodeError:
            raise StepParseError(
                f"invalid JSON ({strict_error.msg} at line {strict_error.lineno} column "
                f"{strict_error.colno}); reply with strict JSON: double quotes, no trailing commas",
                candidate,
            ) from strict_error


def repair_json(text: str) -> str:
    """Rewrite near-JSON as JSON: quote styles, Python literals, bare keys, trailing commas, truncation.

    Works token by token so that text *inside* strings is never altered. An object cut off mid-way is
    closed after dropping the cut-off string and any dangling key or separator (a partial value is
    never completed with a guess); the result still has to pass validation.
    """
    out: list[str] = []
    stack: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "\"'":
            value, index, closed = _read_string(text, index)
            if closed:  # a string cut off by truncation is dropped, never completed with a guess
                out.append(json.dumps(value))
            continue
        if char.isalpha() or char == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[index:])
            word = match.group(0) if match else char
            index += len(word)
            rest = text[index:].lstrip()
            if word in _LITERALS:
                out.append(_LITERALS[word])
            elif rest.startswith(":"):
                out.append(json.dumps(word))  # bare key
            else:
                out.append(word)
            continue
        if char == ",":
            following = text[index + 1 :].lstrip()
            if following[:1] in ("}", "]") or not following:
                index += 1
                continue
        if char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack:
            stack.pop()
        out.append(char)
        index += 1
    if stack:
        out = _drop_dangling(out, in_object=stack[-1] == "}")
        out.extend(reversed(stack))
    return "".join(out)


def _read_string(text: str, start: int) -> tuple[str, int, bool]:
    """Decode the string literal at ``start`` (either quote style); ``closed`` False if unterminated."""
    quote = text[start]
    chars: list[str] = []
    index = start + 1
    escapes = {
        "n": "\n",
        "t": "\t",
        "r": "\r",
        "b": "\b",
        "f": "\f",
        "/": "/",
        "\\": "\\",
        '"': '"',
        "'": "'",
    }
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            nxt = text[index + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[index + 2 : index + 6]):
                chars.append(chr(int(text[index + 2 : index + 6], 16)))
                index += 6
                continue
            chars.append(escapes.get(nxt, "\\" + nxt))
            index += 2
            continue
        if char == quote:
            return "".join(chars), index + 1, True
        chars.append(char)
        index += 1
    return "".join(chars), index, False


def _drop_dangling(out: list[str], in_object: bool) -> list[str]:
    """Before closing a truncated object: drop a trailing separator or a key that lost its value."""
    text = "".join(out).rstrip()
    while True:
        trimmed = re.sub(r'(,\s*)?"(?:[^"\\]|\\.)*"\s*:\s*$', "", text)  # "key":  (value missing)
        if in_object:  # a key cut off before its colon: {"a": 1, "ke
            trimmed = re.sub(r'(?<=[{,])\s*"(?:[^"\\]|\\.)*"$', "", trimmed)
        trimmed = re.sub(r"[,:]\s*$", "", trimmed).rstrip()
        if trimmed == text:
            return [text]
        text = trimmed


def step_from_tool_call(
    name: str,
    arguments: str,
    content: str | None,
    tool_names: Collection[str],
    propose: str,
    submit: str,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> ParsedStep:
    """A native tool call → a step: a read tool is a probe; ``propose``/``submit`` are the pseudo-tools.

    ``content`` (if the model also wrote text) may carry a JSON ``summary``/``reasoning``; it is used when
    it parses and ignored otherwise. Arguments get the same near-JSON repair as text answers.
    """
    raw = f"{name}({arguments})"
    try:
        args, repaired = _load_object(arguments or "{}")
    except StepParseError as error:
        raise StepParseError(f"arguments of tool call {name!r} are not JSON: {error.reason}", raw) from error
    if not isinstance(args, dict):
        raise StepParseError(f"arguments of tool call {name!r} must be a JSON object", raw)
    notes = _content_notes(content)
    if name == propose:
        obj: dict[str, Any] = {**notes, "action_type": "propose", "args": args}
    elif name == submit:
        confidence = args.pop("confidence", notes.get("confidence", 0.5))
        obj = {**notes, "action_type": "submit", "args": args, "confidence": confidence}
    else:
        obj = {**notes, "action_type": "probe", "tool": name, "args": args}
    return ParsedStep(step=validate_step_object(obj, tool_names, raw, schemas), repaired=repaired)


def _content_notes(content: str | None) -> dict[str, Any]:
    """``summary``/``reasoning``/``targets``/``confidence`` from text accompanying a tool call."""
    if not content or not content.strip():
        return {}
    for candidate in _candidates(content):
        try:
            obj, _ = _load_object(candidate)
        except StepParseError:
            continue
        if isinstance(obj, dict):
            keep = {k: obj[k] for k in ("summary", "reasoning", "targets", "confidence") if k in obj}
            if keep:
                return keep
    return {"reasoning": content.strip()[:1000]}
