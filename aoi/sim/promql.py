"""A documented PromQL subset evaluated over a simulated cluster's ``metric_series``.

Why: agents and humans query metrics in PromQL; the simulator answers the same queries through
``/api/v1/query`` so the Kubernetes backend and the in-process backend see identical numbers.

Contract (DESIGN.md, CONTRACTS.md): ``query(source, expr, time)`` and
``query_range(source, expr, start, end, step)`` return the Prometheus HTTP API ``data`` object
(``{"resultType": ..., "result": ...}``) and raise ``PromQLError`` (errorType ``bad_data``) for
anything outside the subset. Samples are read at the 15 s scrape interval; an instant selector looks
back 5 minutes for its latest sample, as Prometheus does. Subset: see ``promql_parser.SUBSET_HELP``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from aoi.sim.api.promql_ast import SUBSET_HELP, PromQLError
from aoi.sim.api.promql_eval import (
    MAX_POINTS_PER_SERIES,
    Evaluator,
    Labels,
    Matrix,
    MetricSource,
    Vector,
    kind_of,
    label_key,
    select_series,
)
from aoi.sim.api.promql_parser import parse, parse_selector

__all__ = [
    "SUBSET_HELP",
    "MetricSource",
    "PromQLError",
    "format_value",
    "label_names",
    "label_values",
    "query",
    "query_range",
    "series",
]


def format_value(value: float) -> str:
    """Prometheus's sample formatting: shortest exact decimal, ``NaN``, ``+Inf``, ``-Inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _ts(t: float) -> float:
    return round(t, 3)


def query(source: MetricSource, expr: str, time: float | None = None) -> dict[str, Any]:
    """Evaluate ``expr`` at ``time`` (default: the cluster's simulated now); Prometheus ``data`` object."""
    t = source.now() if time is None else time
    tree = parse(expr)
    value = Evaluator(source, tree, t, t).eval(tree, t)
    if isinstance(value, float):
        return {"resultType": "scalar", "result": [_ts(t), format_value(value)]}
    if isinstance(value, str):
        return {"resultType": "string", "result": [_ts(t), value]}
    if isinstance(value, Matrix):
        matrix = [
            {"metric": labels, "values": [[_ts(pt), format_value(v)] for pt, v in points]}
            for labels, points in value
        ]
        return {"resultType": "matrix", "result": matrix}
    return {
        "resultType": "vector",
        "result": [{"metric": labels, "value": [_ts(t), format_value(v)]} for labels, v in value],
    }


def query_range(source: MetricSource, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
    """Evaluate ``expr`` at ``start, start+step, …, end``; a Prometheus ``matrix`` ``data`` object."""
    if step <= 0:
        raise PromQLError(
            "zero or negative query resolution step widths are not accepted; use a positive step"
        )
    if end < start:
        raise PromQLError("end timestamp must not be before start time")
    if (end - start) / step > MAX_POINTS_PER_SERIES:
        raise PromQLError(
            f"exceeded maximum resolution of {MAX_POINTS_PER_SERIES} points per timeseries; "
            "try decreasing the query resolution (?step=XX)"
        )
    tree = parse(expr)
    evaluator = Evaluator(source, tree, start, end)
    rows: dict[tuple[tuple[str, str], ...], tuple[Labels, list[list[Any]]]] = {}
    steps = math.floor((end - start) / step + 1e-9) + 1
    for i in range(steps):
        t = start + i * step
        value = evaluator.eval(tree, t)
        if isinstance(value, str | Matrix):
            raise PromQLError(
                f"invalid expression type {kind_of(value)!r} for range query, "
                "must be Scalar or instant Vector"
            )
        samples: Vector = [({}, value)] if isinstance(value, float) else value
        for labels, v in samples:
            rows.setdefault(label_key(labels), (labels, []))[1].append([_ts(t), format_value(v)])
    return {"resultType": "matrix", "result": [{"metric": m, "values": vs} for m, vs in rows.values()]}


def series(source: MetricSource, matches: list[str], start: float, end: float) -> list[Labels]:
    """``/api/v1/series``: label sets of every series matching any ``match[]`` selector in the window."""
    if not matches:
        raise PromQLError("no match[] parameter provided; give at least one series selector")
    seen: dict[tuple[tuple[str, str], ...], Labels] = {}
    for text in matches:
        for s in select_series(source, parse_selector(text), start, end):
            if s.times:
                seen.setdefault(label_key(s.labels), s.labels)
    return list(seen.values())


def label_names(
    source: MetricSource, start: float, end: float, matches: list[str] | None = None
) -> list[str]:
    """``/api/v1/labels``: sorted label names over all (or the matching) series."""
    found = {name for labels in _all_or_matching(source, start, end, matches) for name in labels}
    return sorted(found)


def label_values(
    source: MetricSource, label: str, start: float, end: float, matches: list[str] | None = None
) -> list[str]:
    """``/api/v1/label/<name>/values``; ``__name__`` without ``match[]`` needs no sample reads."""
    if label == "__name__" and not matches:
        return sorted(source.metric_names())
    found = {labels[label] for labels in _all_or_matching(source, start, end, matches) if label in labels}
    return sorted(found)


def _all_or_matching(
    source: MetricSource, start: float, end: float, matches: list[str] | None
) -> list[Labels]:
    if matches:
        return series(source, matches, start, end)
    return series(source, ['{__name__=~".+"}'], start, end)
