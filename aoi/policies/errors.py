"""Errors raised while loading policy data: always naming the file and the offending key.

A policy file is edited by hand by the people who run AOI; a typo must produce a message they can act
on ("default.yaml: rules[3].params.replicas.max: must be >= min (got 0 < 1)"), not a traceback.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class PolicyError(ValueError):
    """A policy or verb-catalogue file is missing, unreadable or invalid.

    ``str(exc)`` names the file and, for each problem, the dotted key path and what was expected.
    """

    def __init__(self, source: str | Path, problems: list[str]) -> None:
        self.source = str(source)
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid policy data in {self.source}:\n{lines}")


def key_path(loc: tuple[int | str, ...], data: object = None) -> str:
    """Render a pydantic error location as ``rules[2].params.replicas``.

    When the raw ``data`` is given, list indices are followed by the rule/entry ``id`` if it has one,
    so the message points at ``rules[2](id=k8s-scale)`` rather than a bare number.
    """
    out = ""
    node: object = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f"(id={node['id']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "<top level>"


def problems_from(exc: ValidationError, data: object = None) -> list[str]:
    """One readable line per pydantic error: ``key.path: message (got <value>)``."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        got = error.get("input")
        suffix = "" if error["type"] == "missing" or isinstance(got, dict | list) else f" (got {got!r})"
        problems.append(f"{key_path(loc, data)}: {message}{suffix}")
    return problems
