"""The evaluator of the simulator's PromQL subset: selectors, operators, aggregations, functions.

``aoi.sim.promql`` is the public entry point; this module evaluates a parsed AST at one or many
timestamps. Each selector's samples are fetched once per query (``[first - range, last]`` at the
15 s scrape interval) and sliced per evaluation time, so a ``query_range`` costs one
``metric_series`` call per selector and metric, not one per step.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from aoi.sim.api import promql_functions as fn
from aoi.sim.api.promql_ast import (
    COMPARISONS,
    SUBSET_HELP,
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    PromQLError,
    StringLiteral,
    Unary,
    VectorSelector,
)

SCRAPE_INTERVAL_S = 15.0
LOOKBACK_S = 300.0
MAX_POINTS_PER_SERIES = 11_000

Labels = dict[str, str]
Vector = list[tuple[Labels, float]]


class Matrix(list[tuple[Labels, list[tuple[float, float]]]]):
    """A range vector; its own type so that an empty one is still told apart from an instant vector."""


Value = float | str | Vector | Matrix


class MetricSource(Protocol):
    """What the evaluator needs from a ``SimCluster`` (see CONTRACTS.md, ``aoi.sim``)."""

    def metric_names(self) -> list[str]: ...

    def metric_series(
        self, name: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]: ...

    def now(self) -> float: ...


@dataclass
class _Series:
    labels: Labels
    times: list[float]
    values: list[float]

    def window(self, start: float, end: float) -> list[tuple[float, float]]:
        """Samples with ``start < t <= end``."""
        lo = bisect.bisect_right(self.times, start)
        hi = bisect.bisect_right(self.times, end)
        return list(zip(self.times[lo:hi], self.values[lo:hi], strict=True))


def _align(t: float) -> float:
    return math.floor(t / SCRAPE_INTERVAL_S) * SCRAPE_INTERVAL_S


def select_series(source: MetricSource, selector: VectorSelector, start: float, end: float) -> list[_Series]:
    """Fetch the series a selector matches with samples in ``[start, end]``, at the scrape interval."""
    name = selector.metric_name
    if name is not None:
        names = [name]
    else:
        name_matchers = [m for m in selector.matchers if m.name == "__name__"]
        names = [n for n in source.metric_names() if all(m.matches({"__name__": n}) for m in name_matchers)]
    out: list[_Series] = []
    for metric in names:
        for labels, points in source.metric_series(metric, _align(start), end, SCRAPE_INTERVAL_S):
            full = {**labels, "__name__": metric}
            if all(m.matches(full) for m in selector.matchers):
                ordered = sorted(points)
                out.append(_Series(full, [t for t, _ in ordered], [v for _, v in ordered]))
    return out


def _without_name(labels: Labels) -> Labels:
    return {k: v for k, v in labels.items() if k != "__name__"}


def label_key(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def kind_of(value: Value) -> str:
    if isinstance(value, float):
        return "scalar"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Matrix):
        return "range vector"
    return "instant vector"


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": lambda a, b: (
        a / b
        if b != 0
        else (math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b))
    ),
    "%": lambda a, b: math.fmod(a, b) if b != 0 else math.nan,
    "^": lambda a, b: _power(a, b),
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def _power(a: float, b: float) -> float:
    try:
        return float(a**b)
    except (OverflowError, ZeroDivisionError):
        return math.inf
    except TypeError:
        return math.nan


class Evaluator:
    """Evaluates one parsed expression at one or many timestamps over pre-fetched series."""

    def __init__(self, source: MetricSource, expr: Expr, first: float, last: float) -> None:
        self.source = source
        self.expr = expr
        self.cache: dict[VectorSelector, list[_Series]] = {}
        self._prefetch(expr, first, last)

    def _prefetch(self, expr: Expr, first: float, last: float) -> None:
        for node, reach in _selectors(expr):
            offset = node.offset_s
            if node not in self.cache:
                self.cache[node] = select_series(self.source, node, first - offset - reach, last - offset)

    def eval(self, expr: Expr, t: float) -> Value:
        if isinstance(expr, NumberLiteral):
            return expr.value
        if isinstance(expr, StringLiteral):
            return expr.value
        if isinstance(expr, VectorSelector):
            end = t - expr.offset_s
            vector: Vector = []
            for s in self.cache[expr]:
                points = s.window(end - LOOKBACK_S, end)
                if points:
                    vector.append((s.labels, points[-1][1]))
            return vector
        if isinstance(expr, MatrixSelector):
            end = t - expr.vector.offset_s
            matrix = Matrix()
            for s in self.cache[expr.vector]:
                points = s.window(end - expr.range_s, end)
                if points:
                    matrix.append((s.labels, points))
            return matrix
        if isinstance(expr, Unary):
            inner = self.eval(expr.expr, t)
            if isinstance(inner, float):
                return -inner
            return [(_without_name(labels), -value) for labels, value in self._vector(inner, "unary '-'")]
        if isinstance(expr, Binary):
            return self._binary(expr, t)
        if isinstance(expr, Aggregate):
            return self._aggregate(expr, t)
        if isinstance(expr, Call):
            return self._call(expr, t)
        raise PromQLError(f"cannot evaluate {type(expr).__name__}")

    @staticmethod
    def _vector(value: Value, where: str) -> Vector:
        if isinstance(value, list) and not isinstance(value, Matrix):
            return value
        raise PromQLError(f"{where} expects an instant vector, got {kind_of(value)}")

    @staticmethod
    def _scalar(value: Value, where: str) -> float:
        if isinstance(value, float):
            return value
        raise PromQLError(f"{where} expects a scalar, got {kind_of(value)}")

    @staticmethod
    def _matrix(value: Value, where: str) -> Matrix:
        if isinstance(value, Matrix):
            return value
        raise PromQLError(f"{where} expects a range vector such as metric[5m], got {kind_of(value)}")

    def _binary(self, expr: Binary, t: float) -> Value:
        lhs, rhs = self.eval(expr.lhs, t), self.eval(expr.rhs, t)
        op, compare = _ARITH[expr.op], expr.op in COMPARISONS
        if isinstance(lhs, float) and isinstance(rhs, float):
            if compare and not expr.return_bool:
                raise PromQLError("comparisons between scalars must use the bool modifier, e.g. 1 > bool 0")
            return float(op(lhs, rhs))
        if isinstance(lhs, float) or isinstance(rhs, float):
            vector = self._vector(rhs if isinstance(lhs, float) else lhs, f"operator {expr.op!r}")
            out: Vector = []
            for labels, value in vector:
                a, b = (lhs, value) if isinstance(lhs, float) else (value, rhs)
                result = op(a, b)  # type: ignore[arg-type]
                if compare and not expr.return_bool:
                    if result:
                        out.append((labels, value))
                else:
                    out.append((_without_name(labels), float(result)))
            return out
        left = self._vector(lhs, f"operator {expr.op!r}")
        right = self._vector(rhs, f"operator {expr.op!r}")
        return self._vector_binary(expr, left, right)

    def _vector_binary(self, expr: Binary, left: Vector, right: Vector) -> Vector:
        def signature(labels: Labels) -> tuple[tuple[str, str], ...]:
            if expr.on:
                return label_key({k: v for k, v in labels.items() if k in expr.labels})
            return label_key({k: v for k, v in labels.items() if k != "__name__" and k not in expr.labels})

        by_signature: dict[tuple[tuple[str, str], ...], float] = {}
        for labels, value in right:
            sig = signature(labels)
            if sig in by_signature:
                raise PromQLError(
                    f"many-to-many matching not allowed: several series on the right side of {expr.op!r} "
                    f"match {dict(sig)}; aggregate first or use on(...)/ignoring(...)"
                )
            by_signature[sig] = value
        op, compare = _ARITH[expr.op], expr.op in COMPARISONS
        out: Vector = []
        for labels, value in left:
            other = by_signature.get(signature(labels))
            if other is None:
                continue
            result = op(value, other)
            if expr.on:
                result_labels = {k: v for k, v in labels.items() if k in expr.labels}
            else:
                result_labels = {k: v for k, v in labels.items() if k not in expr.labels}
            if compare and not expr.return_bool:
                if result:
                    out.append((result_labels, value))
            else:
                out.append((_without_name(result_labels), float(result)))
        return out

    def _aggregate(self, expr: Aggregate, t: float) -> Vector:
        vector = self._vector(self.eval(expr.expr, t), f"{expr.op}()")
        groups: dict[tuple[tuple[str, str], ...], tuple[Labels, list[tuple[Labels, float]]]] = {}
        for labels, value in vector:
            if expr.without:
                group = {k: v for k, v in labels.items() if k != "__name__" and k not in expr.grouping}
            else:
                group = {k: labels[k] for k in expr.grouping if k in labels}
            groups.setdefault(label_key(group), (group, []))[1].append((labels, value))
        out: Vector = []
        if expr.op in ("topk", "bottomk"):
            assert expr.param is not None
            k = int(self._scalar(self.eval(expr.param, t), f"{expr.op}() parameter"))
            for _, members in groups.values():
                ranked = sorted(members, key=lambda m: m[1], reverse=expr.op == "topk")
                out.extend(ranked[: max(k, 0)])
            return out
        for group, members in groups.values():
            values = [v for _, v in members]
            if expr.op == "sum":
                result = math.fsum(values)
            elif expr.op == "avg":
                result = math.fsum(values) / len(values)
            elif expr.op == "count":
                result = float(len(values))
            else:
                result = (min if expr.op == "min" else max)(values)
            out.append((group, result))
        return out

    def _call(self, expr: Call, t: float) -> Value:
        name, args = expr.func, expr.args

        def need(count: int) -> None:
            if len(args) != count:
                raise PromQLError(f"{name}() takes {count} argument(s), got {len(args)}")

        if name in ("rate", "increase", "delta", "irate", "idelta") or name in fn.OVER_TIME:
            need(1)
            matrix = self._matrix(self.eval(args[0], t), f"{name}()")
            assert isinstance(args[0], MatrixSelector)
            end = t - args[0].vector.offset_s
            start = end - args[0].range_s
            out: Vector = []
            for labels, points in matrix:
                if name in fn.OVER_TIME:
                    value = fn.OVER_TIME[name](points)
                elif name in ("irate", "idelta"):
                    value = fn.instant_rate(points, is_rate=name == "irate")
                else:
                    value = fn.extrapolated_rate(points, start, end, name != "delta", name == "rate")
                if value is not None:
                    out.append((_without_name(labels), value))
            return out
        if name == "histogram_quantile":
            need(2)
            q = self._scalar(self.eval(args[0], t), "histogram_quantile() first argument")
            return _histogram_quantile(q, self._vector(self.eval(args[1], t), "histogram_quantile()"))
        if name in fn.SIMPLE_MATH:
            need(1)
            vector = self._vector(self.eval(args[0], t), f"{name}()")
            return [(_without_name(labels), fn.SIMPLE_MATH[name](v)) for labels, v in vector]
        if name in ("clamp_min", "clamp_max", "round"):
            if name == "round" and len(args) == 1:
                bound = 1.0
            else:
                need(2)
                bound = self._scalar(self.eval(args[1], t), f"{name}() second argument")
            vector = self._vector(self.eval(args[0], t), f"{name}()")
            apply: Callable[[float], float] = {
                "clamp_min": lambda v: max(v, bound),
                "clamp_max": lambda v: min(v, bound),
                "round": lambda v: fn.round_to(v, bound),
            }[name]
            return [(_without_name(labels), apply(v)) for labels, v in vector]
        if name == "scalar":
            need(1)
            vector = self._vector(self.eval(args[0], t), "scalar()")
            return vector[0][1] if len(vector) == 1 else math.nan
        if name == "vector":
            need(1)
            return [({}, self._scalar(self.eval(args[0], t), "vector()"))]
        if name == "time":
            need(0)
            return t
        raise PromQLError(f"unsupported in this simulator's PromQL subset: function {name}(); {SUBSET_HELP}")


def _histogram_quantile(q: float, vector: Vector) -> Vector:
    groups: dict[tuple[tuple[str, str], ...], tuple[Labels, list[tuple[float, float]]]] = {}
    for labels, value in vector:
        bound = fn.parse_bucket_bound(labels.get("le", ""))
        if bound is None:
            continue  # a series without a numeric `le` is not a bucket (Prometheus ignores it too)
        group = {k: v for k, v in labels.items() if k not in ("le", "__name__")}
        groups.setdefault(label_key(group), (group, []))[1].append((bound, value))
    return [(group, fn.bucket_quantile(q, buckets)) for group, buckets in groups.values()]


def _selectors(expr: Expr, reach: float = 0.0) -> Iterable[tuple[VectorSelector, float]]:
    """Every selector in the tree with how far back of the evaluation time it must read."""
    if isinstance(expr, VectorSelector):
        yield expr, LOOKBACK_S
    elif isinstance(expr, MatrixSelector):
        yield expr.vector, expr.range_s
    elif isinstance(expr, Unary):
        yield from _selectors(expr.expr)
    elif isinstance(expr, Binary):
        yield from _selectors(expr.lhs)
        yield from _selectors(expr.rhs)
    elif isinstance(expr, Aggregate):
        yield from _selectors(expr.expr)
        if expr.param is not None:
            yield from _selectors(expr.param)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from _selectors(arg)
