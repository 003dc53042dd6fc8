"""Label and field selectors with the Kubernetes API's syntax.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, joined by
commas. Field selectors: ``path=value`` / ``path!=value`` over dotted paths such as ``metadata.name``,
``status.phase``, ``spec.nodeName`` or ``involvedObject.name``. Bad syntax raises ``SimError`` naming
the offending term.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aoi.sim.errors import SimError

Matcher = Callable[[dict[str, str]], bool]
_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_./-]*)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def _label_check(key: str, op: str, values: frozenset[str]) -> Matcher:
    def check(labels: dict[str, str]) -> bool:
        if op == "=":
            return labels.get(key) in values
        if op == "!=":
            return labels.get(key) not in values
        if op == "exists":
            return key in labels
        return key not in labels

    return check


def parse_label_selector(selector: str | None) -> Matcher:
    """Compile a label selector string into a predicate over a labels dict."""
    if not selector or not selector.strip():
        return lambda labels: True
    checks: list[Matcher] = []
    for term in _split_terms(selector):
        eq = _EQ_RE.match(term)
        if eq:
            key, op, value = eq.groups()
            checks.append(_label_check(key, "!=" if op == "!=" else "=", frozenset({value})))
            continue
        st = _SET_RE.match(term)
        if not st:
            raise SimError(
                f"invalid label selector term {term.strip()!r} in {selector!r}; expected key=value, "
                "key!=value, key in (a,b), key notin (a), key or !key"
            )
        neg, key, op, values = st.groups()
        if op:
            allowed = frozenset(v.strip() for v in values.split(",") if v.strip())
            checks.append(_label_check(key, "=" if op == "in" else "!=", allowed))
        else:
            checks.append(_label_check(key, "absent" if neg else "exists", frozenset()))
    return lambda labels: all(check(labels) for check in checks)


def match_labels(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service/ReplicaSet ``matchLabels``-style selector; an empty selector matches nothing."""
    if not selector:
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def _field_check(path: str, negate: bool, value: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        return (_field(obj, path) == value) != negate

    return check


def parse_field_selector(selector: str | None) -> Callable[[dict[str, Any]], bool]:
    """Compile a field selector (``metadata.name=x,status.phase!=Running``) into an object predicate."""
    if not selector or not selector.strip():
        return lambda obj: True
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in _split_terms(selector):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise SimError(
                f"invalid field selector term {term.strip()!r}; expected path=value or path!=value, "
                "e.g. metadata.name=geo or status.phase!=Running"
            )
        path, op, value = m.groups()
        checks.append(_field_check(path, op == "!=", value))
    return lambda obj: all(check(obj) for check in checks)
