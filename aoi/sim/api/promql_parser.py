"""Lexer and recursive-descent parser for the simulator's PromQL subset.

The grammar follows Prometheus (operator precedence, ``by``/``without`` before or after the
arguments, durations such as ``1h30m``). Everything outside the subset fails at parse time with a
``PromQLError`` that names the construct and the character position, so a client sees a clear
``bad_data`` error instead of a silently wrong answer. The evaluator lives in ``aoi.sim.promql``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from aoi.sim.api.promql_ast import (
    AGGREGATIONS,
    COMPARISONS,
    PRECEDENCE,
    SET_OPERATORS,
    SUBSET_HELP,
    UNSUPPORTED_AGGREGATIONS,
    Aggregate,
    Binary,
    Call,
    Expr,
    Matcher,
    MatrixSelector,
    NumberLiteral,
    PromQLError,
    StringLiteral,
    Unary,
    VectorSelector,
)

__all__ = ["PromQLError", "parse", "parse_selector", "tokenize"]

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+)(?![\w.])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^=<>(){}\[\],:@])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def parse_duration(text: str) -> float:
    """``1h30m`` → 5400.0 seconds; raises PromQLError on anything else."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise PromQLError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    return float(sum(int(n) * _DURATION_UNITS[u] for n, u in parts))


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise PromQLError(f"parse error at char {pos + 1}: unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(Token("eof", "", len(text) + 1))
    return tokens


def _unquote(token: Token) -> str:
    raw = token.text
    if raw[0] == "`":
        return raw[1:-1]
    body = raw[1:-1]
    try:
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise PromQLError(f"parse error at char {token.pos}: invalid escape in string {raw}") from exc


def _compile_matcher(name: str, op: str, value: str, pos: int) -> Matcher:
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise PromQLError(f"parse error at char {pos}: invalid regex {value!r}: {exc}") from exc
    return Matcher(name, op, value, regex)


class Parser:
    """Parses one expression; use ``parse(text)``."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _error(self, message: str, token: Token | None = None) -> PromQLError:
        token = token or self.tok
        found = token.text or "end of input"
        return PromQLError(f"parse error at char {token.pos}: {message}, found {found!r}")

    def _expect(self, text: str) -> Token:
        if self.tok.text != text:
            raise self._error(f"expected {text!r}")
        return self._next()

    def parse(self) -> Expr:
        if self.tok.kind == "eof":
            raise PromQLError("parse error: empty query; expected a PromQL expression")
        expr = self._binary(0)
        if self.tok.kind != "eof":
            raise self._error("unexpected trailing input")
        return expr

    def _binary(self, level: int) -> Expr:
        if level == len(PRECEDENCE):
            return self._unary()
        lhs = self._binary(level + 1)
        while True:
            if self.tok.kind == "ident" and self.tok.text in SET_OPERATORS:
                raise PromQLError(
                    f"unsupported in this simulator's PromQL subset: set operator {self.tok.text!r} "
                    f"at char {self.tok.pos}; {SUBSET_HELP}"
                )
            if self.tok.kind != "op" or self.tok.text not in PRECEDENCE[level]:
                return lhs
            op = self._next().text
            return_bool = False
            if self.tok.text == "bool":
                if op not in COMPARISONS:
                    raise self._error("'bool' is only allowed after a comparison operator")
                self._next()
                return_bool = True
            on, labels = self._vector_matching()
            # ``^`` is right-associative: parse its right side at the same level.
            rhs = self._binary(level if op == "^" else level + 1)
            lhs = Binary(op, lhs, rhs, return_bool, on, labels)
            if op == "^":
                return lhs

    def _vector_matching(self) -> tuple[bool, tuple[str, ...]]:
        if self.tok.text not in ("on", "ignoring"):
            return False, ()
        on = self._next().text == "on"
        labels = self._label_list()
        if self.tok.text in ("group_left", "group_right"):
            raise PromQLError(
                f"unsupported in this simulator's PromQL subset: {self.tok.text} (many-to-one matching) "
                f"at char {self.tok.pos}; only one-to-one matching is available"
            )
        return on, labels

    def _label_list(self) -> tuple[str, ...]:
        self._expect("(")
        labels: list[str] = []
        while self.tok.text != ")":
            if self.tok.kind != "ident":
                raise self._error("expected a label name")
            labels.append(self._next().text)
            if self.tok.text == ",":
                self._next()
            elif self.tok.text != ")":
                raise self._error("expected ',' or ')' in label list")
        self._next()
        return tuple(labels)

    def _unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text in ("-", "+"):
            op = self._next().text
            # Unary minus binds looser than ``^`` (``-2 ^ 2`` is -4), as in Prometheus.
            inner = self._binary(len(PRECEDENCE) - 1)
            if isinstance(inner, NumberLiteral):
                return NumberLiteral(-inner.value if op == "-" else inner.value)
            return Unary(op, inner) if op == "-" else inner
        return self._postfix(self._primary())

    def _postfix(self, expr: Expr) -> Expr:
        while True:
            if self.tok.text == "[":
                start = self._next()
                if not isinstance(expr, VectorSelector):
                    raise PromQLError(
                        f"unsupported in this simulator's PromQL subset: subquery or range of a non-selector "
                        f"at char {start.pos}; a range [..] may only follow a metric selector"
                    )
                if self.tok.kind != "duration":
                    raise self._error("expected a duration such as 5m inside [...]")
                range_s = parse_duration(self._next().text)
                if self.tok.text.startswith(":"):
                    raise PromQLError(
                        f"unsupported in this simulator's PromQL subset: subquery [..:..] at char {start.pos}"
                    )
                self._expect("]")
                expr = MatrixSelector(expr, range_s)
            elif self.tok.text == "offset":
                self._next()
                negative = self.tok.text == "-"
                if negative:
                    self._next()
                if self.tok.kind != "duration":
                    raise self._error("expected a duration after 'offset'")
                offset = parse_duration(self._next().text) * (-1 if negative else 1)
                expr = _with_offset(expr, offset, self.tok)
            elif self.tok.text == "@":
                raise PromQLError(
                    f"unsupported in this simulator's PromQL subset: '@' modifier at char {self.tok.pos}"
                )
            else:
                return expr

    def _primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self._next()
            return NumberLiteral(
                float(int(tok.text, 16)) if tok.text[:2].lower() == "0x" else float(tok.text)
            )
        if tok.kind == "string":
            self._next()
            return StringLiteral(_unquote(tok))
        if tok.text == "(":
            self._next()
            inner = self._binary(0)
            self._expect(")")
            return inner
        if tok.text == "{":
            return self._selector(None)
        if tok.kind == "ident":
            lowered = tok.text.lower()
            if lowered in ("inf", "nan"):
                self._next()
                return NumberLiteral(math.inf if lowered == "inf" else math.nan)
            if tok.text in AGGREGATIONS:
                return self._aggregate()
            if tok.text in UNSUPPORTED_AGGREGATIONS:
                raise PromQLError(
                    f"unsupported in this simulator's PromQL subset: aggregation {tok.text!r} at char "
                    f"{tok.pos}; {SUBSET_HELP}"
                )
            if self.tokens[self.i + 1].text == "(":
                return self._call()
            self._next()
            return self._selector(tok)
        raise self._error("expected an expression")

    def _selector(self, name_tok: Token | None) -> VectorSelector:
        matchers: list[Matcher] = []
        if name_tok is not None:
            matchers.append(Matcher("__name__", "=", name_tok.text))
        if self.tok.text == "{":
            self._next()
            while self.tok.text != "}":
                if self.tok.kind != "ident":
                    raise self._error("expected a label name in selector")
                label = self._next()
                op = self._next()
                if op.text not in ("=", "!=", "=~", "!~"):
                    raise self._error("expected one of = != =~ !~ after label name", op)
                if self.tok.kind != "string":
                    raise self._error("expected a quoted label value")
                matchers.append(_compile_matcher(label.text, op.text, _unquote(self._next()), op.pos))
                if self.tok.text == ",":
                    self._next()
                elif self.tok.text != "}":
                    raise self._error("expected ',' or '}' in selector")
            self._next()
        if not any(not m.matches({}) for m in matchers):
            raise PromQLError(
                "vector selector must contain at least one non-empty matcher (e.g. a metric name)"
            )
        return VectorSelector(tuple(matchers))

    def _aggregate(self) -> Aggregate:
        op = self._next().text
        grouping: tuple[str, ...] = ()
        without = False
        modifier_seen = False
        if self.tok.text in ("by", "without"):
            without = self._next().text == "without"
            grouping = self._label_list()
            modifier_seen = True
        self._expect("(")
        param: Expr | None = None
        if op in ("topk", "bottomk"):
            param = self._binary(0)
            self._expect(",")
        expr = self._binary(0)
        self._expect(")")
        if self.tok.text in ("by", "without"):
            if modifier_seen:
                raise self._error("grouping given twice")
            without = self._next().text == "without"
            grouping = self._label_list()
        return Aggregate(op, expr, param, grouping, without)

    def _call(self) -> Call:
        name = self._next()
        self._expect("(")
        args: list[Expr] = []
        while self.tok.text != ")":
            args.append(self._binary(0))
            if self.tok.text == ",":
                self._next()
            elif self.tok.text != ")":
                raise self._error("expected ',' or ')' in function arguments")
        self._next()
        return Call(name.text, tuple(args))


def _with_offset(expr: Expr, offset: float, tok: Token) -> Expr:
    if isinstance(expr, VectorSelector):
        return VectorSelector(expr.matchers, offset)
    if isinstance(expr, MatrixSelector):
        return MatrixSelector(VectorSelector(expr.vector.matchers, offset), expr.range_s)
    raise PromQLError(f"parse error at char {tok.pos}: 'offset' must follow a selector")


def parse(text: str) -> Expr:
    """Parse a PromQL expression of the supported subset into an AST."""
    return Parser(text).parse()


def parse_selector(text: str) -> VectorSelector:
    """Parse a ``match[]`` series selector (``/api/v1/series``, ``/api/v1/labels``)."""
    expr = parse(text)
    if not isinstance(expr, VectorSelector):
        raise PromQLError(f"invalid series selector {text!r}: expected an instant vector selector")
    return expr
