"""Compression of tool output: collapse repeated log lines and cut long text with a visible marker.

Why: a crashing service logs the same error thousands of times; a model's context (and a Slack
message) needs each distinct line once with how often it occurred, not the flood. Lines count as
"the same" when they differ only in timestamps, numbers, hex ids or UUIDs.

Contracts: ``dedupe_lines`` keeps the first occurrence's text and order and appends ``  [×N]`` when a
line repeated; ``truncate`` never returns more than ``max_chars`` characters of the original and always
ends a cut text with the ``TRUNCATION_MARK`` line saying how much was left out.
"""

from __future__ import annotations

import re

TRUNCATION_MARK = "… [truncated: {lines} more lines, {chars} more characters]"

_VOLATILE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO timestamps
    r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"  # clock times
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # UUIDs
    r"|\b[0-9a-f]{12,}\b"  # hex ids (trace/span ids)
    r"|\d+(?:\.\d+)?",  # numbers (also inside units such as 23.9ms)
    re.IGNORECASE,
)


def line_signature(line: str) -> str:
    """The line with volatile parts (timestamps, ids, numbers) masked: equal signatures are repeats."""
    return _VOLATILE.sub("#", line.strip())


def dedupe_lines(text: str) -> str:
    """Collapse lines that repeat (up to volatile parts) into one line with a ``[×N]`` count."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    order: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key = line_signature(line)
        if key not in counts:
            counts[key] = 0
            first[key] = line.rstrip()
            order.append(key)
        counts[key] += 1
    out = []
    for key in order:
        n = counts[key]
        out.append(first[key] if n == 1 else f"{first[key]}  [×{n}]")
    return "\n".join(out)


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut ``text`` at a line boundary to at most ``max_chars`` characters; returns (text, was_cut)."""
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if len(text) <= max_chars:
        return text, False
    cut = text.rfind("\n", 0, max_chars)
    if cut <= 0:
        cut = max_chars
    kept = text[:cut]
    rest = text[cut:]
    mark = TRUNCATION_MARK.format(lines=len(rest.strip("\n").splitlines()), chars=len(rest))
    return f"{kept}\n{mark}", True
