"""Refuse policy patterns that can backtrack exponentially (ReDoS) before they are ever used.

Why: a rule's ``pattern`` / ``key_pattern`` is matched against parameter values that come from the
model's proposals — text an attacker can steer through pod logs and annotations. Python's ``re``
has no time limit, so a pattern such as ``(a+)+b`` or ``(\\w+\\s?)+$`` on a 253-character value would
hold a worker for longer than the universe has existed. Policy authors are trusted, but they copy
patterns from the web; a mistake here must be a load error, not an outage during an incident.

The check reads Python's own parse of the pattern and looks, inside every repeat that can run more
than once (``*``, ``+``, ``{2,}``...), for the two shapes that make the number of ways to match
explode:

- a nested repeat that can consume what starts the next round of its enclosing repeat *and* what
  follows it — ``(a+)+``, ``(a*b*)*``, ``(.*a){12}`` — so the rounds can split a run of input
  in exponentially many ways (``(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*``, the DNS-name shape, is fine:
  each round starts with a dot the inner repeat cannot eat);
- alternatives that can start with the same character — ``(a|a)+``, ``(a|aa)+``.

It is conservative (character classes like ``\\w`` include all non-ASCII text) and may refuse a
pattern that is in fact safe; the fix the message suggests always works: a possessive quantifier
(``a++``, ``[a-z]*+``) or an atomic group (``(?>...)``), which never backtrack and are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

_MAX = 0x10FFFF
_NON_ASCII = (0x80, _MAX)
_CATEGORIES: dict[Any, tuple[tuple[int, int], ...]] = {
    c.CATEGORY_DIGIT: ((0x30, 0x39), _NON_ASCII),
    c.CATEGORY_WORD: ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A), _NON_ASCII),
    c.CATEGORY_SPACE: ((0x09, 0x0D), (0x20, 0x20), _NON_ASCII),
}
_REPEATS = {c.MAX_REPEAT, c.MIN_REPEAT}


class _Chars:
    """A set of characters as ranges (an over-approximation is always safe here)."""

    def __init__(self, ranges: Sequence[tuple[int, int]] = ()) -> None:
        self.ranges = tuple(ranges)

    @classmethod
    def every(cls) -> _Chars:
        return cls(((0, _MAX),))

    def __or__(self, other: _Chars) -> _Chars:
        return _Chars(self.ranges + other.ranges)

    def meets(self, other: _Chars) -> bool:
        return any(a <= d and c_ <= b for a, b in self.ranges for c_, d in other.ranges)


_EMPTY = _Chars()


def _set_chars(items: list[tuple[Any, Any]]) -> _Chars:
    ranges: list[tuple[int, int]] = []
    for op, av in items:
        if op == c.NEGATE:
            return _Chars.every()
        if op == c.LITERAL:
            ranges.append((av, av))
        elif op == c.RANGE:
            ranges.append(av)
        elif op == c.CATEGORY and av in _CATEGORIES:
            ranges.extend(_CATEGORIES[av])
        else:  # a negated or locale category, or anything new: assume it matches everything
            return _Chars.every()
    return _Chars(ranges)


def _first(seq: Sequence[tuple[Any, Any]]) -> tuple[_Chars, bool]:
    """Characters a match of ``seq`` can start with, and whether it can match the empty string."""
    chars = _EMPTY
    for op, av in seq:
        head, nullable = _first_of(op, av)
        chars = chars | head
        if not nullable:
            return chars, False
    return chars, True


def _first_of(op: Any, av: Any) -> tuple[_Chars, bool]:
    if op == c.LITERAL:
        return _Chars(((av, av),)), False
    if op == c.IN:
        return _set_chars(av), False
    if op in (c.ANY, c.NOT_LITERAL):
        return _Chars.every(), False
    if op == c.SUBPATTERN:
        return _first(av[3])
    if op == c.ATOMIC_GROUP:
        return _first(av)
    if op == c.BRANCH:
        chars, nullable = _EMPTY, False
        for alternative in av[1]:
            head, empty = _first(alternative)
            chars, nullable = chars | head, nullable or empty
        return chars, nullable
    if op in _REPEATS or op == c.POSSESSIVE_REPEAT:
        low, _, body = av
        head, empty = _first(body)
        return head, empty or low == 0
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return _EMPTY, True
    return _Chars.every(), True  # back-references and anything unforeseen: anything, maybe nothing


def _alphabet(seq: Sequence[tuple[Any, Any]]) -> _Chars:
    """Every character ``seq`` can consume anywhere."""
    chars = _EMPTY
    for op, av in seq:
        if op == c.LITERAL:
            chars = chars | _Chars(((av, av),))
        elif op == c.IN:
            chars = chars | _set_chars(av)
        elif op == c.SUBPATTERN:
            chars = chars | _alphabet(av[3])
        elif op == c.BRANCH:
            for alternative in av[1]:
                chars = chars | _alphabet(alternative)
        elif op in _REPEATS or op == c.POSSESSIVE_REPEAT:
            chars = chars | _alphabet(av[2])
        elif op == c.ATOMIC_GROUP:
            chars = chars | _alphabet(av)
        elif op not in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return _Chars.every()
    return chars


def _scan(seq: Sequence[tuple[Any, Any]], follow: _Chars, round_start: _Chars | None) -> str | None:
    """Why ``seq`` is dangerous, or None. ``follow``: what can come after it; ``round_start``: what
    starts a round of the innermost enclosing repeat that runs more than once (None outside one)."""
    for index, (op, av) in enumerate(seq):
        rest, rest_nullable = _first(seq[index + 1 :])
        after = rest | follow if rest_nullable else rest
        problem: str | None = None
        if op in _REPEATS:
            _, high, body = av
            if high > 1:
                consumed = _alphabet(body)
                if round_start is not None and consumed.meets(round_start) and consumed.meets(after):
                    return "a repeat inside a repeat can split the same text between rounds in many ways"
                start, _ = _first(body)
                problem = _scan(body, start | after, start)
            else:
                problem = _scan(body, after, round_start)
        elif op == c.SUBPATTERN:
            problem = _scan(av[3], after, round_start)
        elif op == c.BRANCH:
            if round_start is not None:
                heads = []
                for alternative in av[1]:
                    head, nullable = _first(alternative)
                    heads.append(head | after if nullable else head)
                for i, head in enumerate(heads):
                    if any(head.meets(other) for other in heads[i + 1 :]):
                        return "alternatives inside a repeat can start with the same character"
            for alternative in av[1]:
                problem = problem or _scan(alternative, after, round_start)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            problem = _scan(av[1], _Chars.every(), None)
        if problem:
            return problem
    return None


def backtracking_risk(pattern: str) -> str | None:
    """Why ``pattern`` may take exponential time on a long value (None when it cannot). Possessive
    repeats and atomic groups are not looked into: they never backtrack."""
    try:
        parsed = _parser.parse(pattern)
    except re.error:
        return None  # not a regex at all: the caller's compile reports that
    problem = _scan(list(parsed), _EMPTY, None)
    if problem is None:
        return None
    return (
        f"{problem}, which can take exponential time on a long value (ReDoS); make the inner repeat "
        "possessive (`a++`, `[a-z]*+`) or the group atomic (`(?>...)`), or remove the ambiguity"
    )
