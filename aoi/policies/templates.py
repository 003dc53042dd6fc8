"""The small template language of policy rules: command lines, patch bodies and database scripts.

Why a language of our own rather than ``str.format``: every value must be *quoted for its context*
(shell words for commands, JS literals for mongo scripts, typed JSON values for patches), attribute
or index access (``{target.__class__}``) must be impossible, and optional parameters must be able to
drop a whole flag. The syntax is ``str.format``'s field syntax restricted to plain names:

- command: ``kubectl -n {namespace} rollout undo deployment/{target}[ --to-revision={to_revision}]``.
  Each ``{name}`` becomes one shell-quoted word (``shlex.quote``); ``{name:json}`` a quoted compact
  JSON document; ``{name:csv}`` a quoted ``k=v,k=v`` (maps) or ``a,b`` (lists). A ``[...]`` segment is
  dropped when any parameter in it is absent. ``{patch}`` and ``{script}`` stand for the rule's
  rendered patch body (JSON) and database script (each one quoted word); ``{exec}`` for the rule's
  rendered ``exec`` line, inserted as it is (it is a command line whose values are already quoted).
- exec (exec verbs): the command line run in the pod, in command syntax; it must pass ``{script}``
  to the database shell, e.g. ``sh -c 'mongo --eval "$1"' repair {script}`` — the script travels
  as a positional argument, so no value is ever parsed as shell code.
- script: ``db.getSiblingDB({database:js}).grantRolesToUser({user:js}, {roles:js})`` — every field
  must use ``:js`` (a JSON literal, which is a valid JS literal); ``{{``/``}}`` are literal braces.
- patch body: any YAML structure; a string that is exactly ``"{name}"`` becomes the typed value, a
  string or key containing ``{name}`` gets it interpolated; an entry whose parameter is absent is
  dropped (and a mapping emptied by that is dropped too).
"""

from __future__ import annotations

import json
import re
import shlex
import string
from collections.abc import Mapping
from typing import Any

BUILTIN_FIELDS = frozenset({"namespace", "target"})
COMMAND_SPECS = frozenset({"", "json", "csv"})
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_WHOLE_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template is malformed (raised at policy load time, naming the problem)."""


def _parse(text: str) -> list[tuple[str, str | None, str]]:
    """``(literal, field, spec)`` triples; only plain lower-case names, no conversions or nesting."""
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise TemplateError(f"{text!r}: {exc}") from exc
    out: list[tuple[str, str | None, str]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (
            not _NAME.fullmatch(field) or conversion is not None or "{" in (spec or "")
        ):
            raise TemplateError(f"{text!r}: field {{{field}}} must be a plain parameter name")
        out.append((literal, field, spec or ""))
    return out


def _segments(template: str) -> list[tuple[bool, str]]:
    """Split a command template into ``(optional, text)`` segments at ``[`` / ``]``."""
    segments: list[tuple[bool, str]] = []
    for index, piece in enumerate(re.split(r"(\[[^\[\]]*\])", template)):
        if index % 2:
            segments.append((True, piece[1:-1]))
        elif "[" in piece or "]" in piece:
            raise TemplateError(f"{template!r}: unbalanced or nested [ ] optional segment")
        elif piece:
            segments.append((False, piece))
    return segments


def command_fields(template: str) -> list[tuple[str, str, bool]]:
    """``(name, spec, optional)`` for every field of a command template; raises TemplateError."""
    fields = []
    for optional, text in _segments(template):
        names = [(field, spec) for _, field, spec in _parse(text) if field is not None]
        if optional and not names:
            raise TemplateError(f"{template!r}: optional segment [{text}] has no parameter in it")
        for name, spec in names:
            if spec not in COMMAND_SPECS:
                raise TemplateError(
                    f"{template!r}: {{{name}:{spec}}} — spec must be one of json, csv or none"
                )
            fields.append((name, spec, optional))
    return fields


def script_fields(template: str) -> list[str]:
    """The parameter names of a script template; every field must use the ``:js`` spec."""
    names = []
    for _, field, spec in _parse(template):
        if field is not None:
            if spec != "js":
                raise TemplateError(f"{template!r}: script field {{{field}}} must be written {{{field}:js}}")
            names.append(field)
    return names


def structure_fields(node: Any) -> set[str]:
    """Every parameter name referenced anywhere in a patch body template."""
    if isinstance(node, str):
        return {field for _, field, _ in _parse(node) if field is not None}
    if isinstance(node, Mapping):
        return set().union(*(structure_fields(k) | structure_fields(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(structure_fields(item) for item in node))
    return set()


def _shell_word(value: Any, spec: str) -> str:
    if spec == "json":
        return shlex.quote(json.dumps(value, sort_keys=True, separators=(",", ":")))
    if spec == "csv":
        items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, Mapping) else map(str, value)
        return shlex.quote(",".join(items))
    return shlex.quote(str(value))


def render_command_template(
    template: str, values: Mapping[str, Any], verbatim: frozenset[str] = frozenset()
) -> str:
    """Render a command template; absent values drop their optional segment (KeyError if mandatory).

    Fields named in ``verbatim`` are inserted as they are: only for values that are themselves
    rendered command lines (``{exec}``), whose every parameter is already quoted.
    """
    out = []
    for optional, text in _segments(template):
        parsed = _parse(text)
        if optional and any(field is not None and field not in values for _, field, _ in parsed):
            continue
        for literal, field, spec in parsed:
            out.append(literal)
            if field is not None:
                out.append(str(values[field]) if field in verbatim else _shell_word(values[field], spec))
    return "".join(out)


def render_script_template(template: str, values: Mapping[str, Any]) -> str:
    """Render a script template: each field becomes a JSON (= JS) literal."""
    out = []
    for literal, field, _ in _parse(template):
        out.append(literal)
        if field is not None:
            out.append(json.dumps(values[field]))
    return "".join(out)


_DROP = object()


def _interpolate(text: str, values: Mapping[str, Any]) -> Any:
    whole = _WHOLE_FIELD.fullmatch(text)
    if whole:
        return values.get(whole.group(1), _DROP)
    out = []
    for literal, field, _ in _parse(text):
        out.append(literal)
        if field is not None:
            if field not in values:
                return _DROP
            out.append(str(values[field]))
    return "".join(out)


def _render_node(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, values)
    if isinstance(node, Mapping):
        rendered = {}
        for key, child in node.items():
            new_key, new_child = _interpolate(str(key), values), _render_node(child, values)
            if new_key is not _DROP and new_child is not _DROP:
                rendered[str(new_key)] = new_child
        return rendered if rendered or not node else _DROP
    if isinstance(node, list):
        items = [_render_node(item, values) for item in node]
        return [item for item in items if item is not _DROP]
    return node


def render_structure(node: Any, values: Mapping[str, Any]) -> Any:
    """Render a patch body template (see the module docstring); a fully dropped body becomes ``{}``."""
    rendered = _render_node(node, values)
    return {} if rendered is _DROP else rendered
