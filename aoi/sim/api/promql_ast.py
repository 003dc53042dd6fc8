"""The AST and error type of the simulator's PromQL subset (parsed by ``promql_parser``).

Nodes are frozen dataclasses so the evaluator can key its per-selector sample cache on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SUBSET_HELP = (
    "supported: selectors with =, !=, =~, !~, range selectors [5m], offset, + - * / % ^, comparisons "
    "(with bool), on()/ignoring(), sum/avg/min/max/count/topk/bottomk by|without, rate, irate, increase, "
    "delta, *_over_time, histogram_quantile, abs, ceil, floor, round, clamp_min, clamp_max, scalar, "
    "vector, time"
)


class PromQLError(ValueError):
    """A query the subset cannot parse or evaluate; ``error_type`` is Prometheus's errorType."""

    def __init__(self, message: str, error_type: str = "bad_data") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True)
class StringLiteral:
    value: str


@dataclass(frozen=True)
class Matcher:
    """One label matcher; regex matchers are fully anchored, as in Prometheus."""

    name: str
    op: str  # one of = != =~ !~
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class VectorSelector:
    matchers: tuple[Matcher, ...]
    offset_s: float = 0.0

    @property
    def metric_name(self) -> str | None:
        for m in self.matchers:
            if m.name == "__name__" and m.op == "=":
                return m.value
        return None


@dataclass(frozen=True)
class MatrixSelector:
    vector: VectorSelector
    range_s: float


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Expr
    param: Expr | None
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    on: bool = False  # True: match on `labels`; False with labels: ignoring(labels)
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unary:
    op: str
    expr: Expr


Expr = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | Call | Aggregate | Binary | Unary

AGGREGATIONS = {"sum", "avg", "min", "max", "count", "topk", "bottomk"}
UNSUPPORTED_AGGREGATIONS = {"stddev", "stdvar", "quantile", "count_values", "group", "limitk", "limit_ratio"}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
# Binary precedence, lowest first (``^`` is right-associative and binds tightest).
PRECEDENCE: list[set[str]] = [COMPARISONS, {"+", "-"}, {"*", "/", "%"}, {"^"}]
SET_OPERATORS = {"and", "or", "unless"}
