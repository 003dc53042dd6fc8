"""Policy patterns are RE2 expressions, matched in time linear in the value: no ReDoS, by construction.

Why: a rule's ``pattern``/``key_pattern`` (and the catalogue's name patterns) are matched against
values that come from the model's proposals — text an attacker can steer through pod logs and
annotations. Python's ``re`` backtracks and has no time limit: ``(a+)+b`` on a 253-character value
would hold a worker forever, and no static check of Python patterns catches every such shape (a
review found one in every few hundred random patterns that a careful checker passed). RE2 has no
backtracking at all, which is why Prometheus, Go and Kubernetes' CEL use its semantics.

The cost is RE2's syntax: no backreferences, lookarounds, possessive repeats or atomic groups (none
of which a name or parameter check needs), and ``\\d``/``\\w``/``\\s`` mean ASCII only — so their
negations (``\\S``, ``\\W``, ``\\D``) are *wider*; control and separator characters are refused in
``str`` parameters before any pattern sees them (``params.check_value``). A pattern RE2 cannot
compile is refused when the policy loads, saying so.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is raised (and reported in the policy's error), not logged


def check_pattern(pattern: str, what: str = "pattern") -> None:
    """Raise ``ValueError`` naming ``what`` when RE2 cannot compile ``pattern``."""
    compiled(pattern, what)


@functools.lru_cache(maxsize=2048)
def compiled(pattern: str, what: str = "pattern") -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "repetition size" in reason:  # e.g. {0,1024}, from a copy of an older packaged policy
            reason += ": RE2 counts up to 1000; write * or + and bound the length with max_length"
        raise ValueError(
            f"{what} {pattern!r} is not an RE2 expression ({reason}); policy patterns are matched by "
            "RE2 in linear time, as Prometheus does: no backreferences, lookarounds, possessive "
            "repeats or atomic groups"
        ) from None


def fullmatch(pattern: str, value: str) -> bool:
    """Whether all of ``value`` matches ``pattern`` (RE2: time linear in ``len(value)``). Text that is
    not valid Unicode (a lone surrogate) matches nothing."""
    try:
        return compiled(pattern).fullmatch(value) is not None
    except UnicodeEncodeError:
        return False
