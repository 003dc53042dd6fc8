"""The tool abstraction: a named function with a JSON-schema of arguments and a declared effect.

Why this shape: the Observer must be *unable* to write (DESIGN.md §3), so every tool declares
``effect = "read" | "write"`` and the Observer's constructor refuses writes; planners (heuristic or LLM)
see the same ``ToolSpec`` (name, description, JSON schema derived from the function's type hints); and
every call returns a ``ToolResult`` whose output has been compressed, **redacted** and truncated before
anyone — model, store or Slack — sees it.

A tool function has the signature ``fn(backend, call, **args) -> str``: it first records the exact
equivalent command in ``call.invocation`` (so even a failure says what was tried), may attach
structured rows in ``call.data`` for rule-based planners, and returns the rendered text. Returning
an empty string means "no data". A ``BackendError`` becomes ``status="error"`` with the full upstream
message; any other exception is a bug and propagates.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field

from aoi.agents.backends.base import BackendError, ReadBackend
from aoi.agents.compress import dedupe_lines, truncate
from aoi.agents.records import ToolResult
from aoi.agents.redaction import redact, redact_data

Effect = Literal["read", "write"]
DEFAULT_MAX_CHARS = 6000
ERROR_CHARS = 1000  # a failed read says why in a line or two; the rest of a huge error body is noise


class ToolSpec(BaseModel):
    """What a planner is told about a tool (also the OpenAI ``tools`` function schema)."""

    name: str
    description: str
    effect: Effect = "read"
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolArgumentError(ValueError):
    """A planner called a tool with arguments that do not match its schema."""


@dataclass
class ToolCall:
    """Filled in by a tool function while it runs: the exact invocation and optional structured data."""

    invocation: str = ""
    data: Any = None


ToolFn = Callable[..., str]

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_type(annotation: Any) -> tuple[dict[str, Any], bool]:
    """JSON schema for a type hint, and whether the hint admits None (then the arg is optional)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(members) < len(get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"unsupported union type hint {annotation!r}")
        schema, _ = _json_type(members[0])
        return schema, optional
    if origin is Literal:
        values = list(get_args(annotation))
        return {"type": _JSON_TYPES[type(values[0])], "enum": values}, False
    if origin is list:
        (item,) = get_args(annotation)
        item_schema, _ = _json_type(item)
        return {"type": "array", "items": item_schema}, False
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}, False
    raise TypeError(f"unsupported type hint {annotation!r} for a tool argument")


def _param_docs(doc: str) -> dict[str, str]:
    """``name: text`` lines of an ``Args:`` section in a docstring."""
    docs: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped == "Args:":
            in_args = True
            continue
        if in_args:
            match = re.match(r"(\w+):\s*(.+)", stripped)
            if match:
                docs[match.group(1)] = match.group(2)
            elif not stripped:
                in_args = False
    return docs


def schema_from_function(fn: ToolFn) -> dict[str, Any]:
    """A JSON schema (``type: object``) of ``fn``'s arguments after ``(backend, call)``."""
    hints = typing.get_type_hints(fn)
    doc = inspect.getdoc(fn) or ""
    param_docs = _param_docs(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for index, (name, param) in enumerate(inspect.signature(fn).parameters.items()):
        if index < 2:
            continue  # backend, call
        schema, optional = _json_type(hints[name])
        if name in param_docs:
            schema["description"] = param_docs[name]
        if param.default is not inspect.Parameter.empty and param.default is not None:
            schema["default"] = param.default
        properties[name] = schema
        if param.default is inspect.Parameter.empty and not optional:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _coerce(name: str, value: Any, schema: dict[str, Any], tool: str) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer" and not isinstance(value, bool):
            value = int(value)
        elif kind == "number" and not isinstance(value, bool):
            value = float(value)
        elif kind == "boolean" and isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            value = value.lower() == "true"
        elif kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
    except (TypeError, ValueError) as exc:
        raise ToolArgumentError(f"{tool}: argument {name!r} must be {kind}, got {value!r}") from exc
    expected = {"integer": int, "number": float, "boolean": bool, "string": str, "array": list}.get(str(kind))
    if expected is not None and not isinstance(value, expected):
        raise ToolArgumentError(f"{tool}: argument {name!r} must be {kind}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise ToolArgumentError(f"{tool}: argument {name!r} must be one of {schema['enum']}, got {value!r}")
    return value


@dataclass
class Tool:
    """A tool bound to a backend. Call it with keyword args; it always returns a ``ToolResult``."""

    name: str
    description: str
    effect: Effect
    fn: ToolFn
    backend: Any
    parameters: dict[str, Any] = field(default_factory=dict)
    max_chars: int = DEFAULT_MAX_CHARS
    dedupe: bool = False

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name, description=self.description, effect=self.effect, parameters=self.parameters
        )

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check ``args`` against the schema (unknown, missing, wrong type); returns coerced args."""
        if not isinstance(args, dict):
            raise ToolArgumentError(f"{self.name}: args must be an object, got {type(args).__name__}")
        props: dict[str, Any] = self.parameters.get("properties", {})
        unknown = sorted(set(args) - set(props))
        if unknown:
            raise ToolArgumentError(
                f"{self.name}: unknown argument(s) {unknown}; expected some of {sorted(props)}"
            )
        missing = [name for name in self.parameters.get("required", []) if args.get(name) is None]
        if missing:
            raise ToolArgumentError(f"{self.name}: missing required argument(s) {missing}")
        return {k: _coerce(k, v, props[k], self.name) for k, v in args.items() if v is not None}

    def __call__(self, **args: Any) -> ToolResult:
        clean = self.validate(args)
        call = ToolCall()
        try:
            text = self.fn(self.backend, call, **clean)
        except BackendError as exc:
            return ToolResult(
                tool=self.name,
                invocation=redact(call.invocation),
                status="error",
                # cut like output: a proxy's 2.6 MB HTML error page must not become the prompt
                error=truncate(redact(str(exc)), min(self.max_chars, ERROR_CHARS))[0] or type(exc).__name__,
            )
        if self.dedupe:
            text = dedupe_lines(text)
        text = redact(text)
        output, was_cut = truncate(text, self.max_chars) if text else ("", False)
        return ToolResult(
            tool=self.name,
            invocation=redact(call.invocation),
            status="ok" if text.strip() else "no_data",
            output=output,
            truncated=was_cut,
            data=redact_data(call.data),
        )


@dataclass(frozen=True)
class ToolDef:
    """An unbound tool: bind it to a backend with ``bind``."""

    name: str
    description: str
    fn: ToolFn
    effect: Effect = "read"
    max_chars: int = DEFAULT_MAX_CHARS
    dedupe: bool = False

    def bind(self, backend: ReadBackend | Any) -> Tool:
        return Tool(
            name=self.name,
            description=self.description,
            effect=self.effect,
            fn=self.fn,
            backend=backend,
            parameters=schema_from_function(self.fn),
            max_chars=self.max_chars,
            dedupe=self.dedupe,
        )


def read_tool(
    name: str, *, max_chars: int = DEFAULT_MAX_CHARS, dedupe: bool = False
) -> Callable[[ToolFn], ToolDef]:
    """Declare a read tool; its description is the function's docstring summary."""

    def wrap(fn: ToolFn) -> ToolDef:
        doc = inspect.getdoc(fn) or ""
        summary = doc.split("\n\n")[0].replace("\n", " ").strip()
        if not summary:
            raise TypeError(f"tool {name!r} needs a docstring: planners read it as the tool's description")
        schema_from_function(fn)  # fail at import time on an unsupported hint
        return ToolDef(
            name=name, description=summary, fn=fn, effect="read", max_chars=max_chars, dedupe=dedupe
        )

    return wrap
