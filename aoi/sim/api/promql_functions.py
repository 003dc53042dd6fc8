"""The numeric heart of the PromQL subset: range functions and ``histogram_quantile``.

These follow Prometheus's own algorithms (``extrapolatedRate``, ``instantValue`` and
``bucketQuantile`` in ``promql/functions.go`` and ``quantile.go``), so that a rate or p99 read
through the simulator's API equals what Prometheus would compute from the same samples. All functions
are pure and work on sorted ``(unix_seconds, value)`` points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Points = Sequence[tuple[float, float]]


def extrapolated_rate(
    points: Points, range_start: float, range_end: float, is_counter: bool, is_rate: bool
) -> float | None:
    """``rate``/``increase`` (counters) and ``delta`` (gauges); ``None`` when fewer than two samples."""
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    if is_counter:
        previous = first_v
        for _, value in points[1:]:
            if value < previous:  # counter reset: the counter restarted from zero
                result += previous
            previous = value
    duration_to_start = first_t - range_start
    duration_to_end = range_end - last_t
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    average_gap = sampled / (len(points) - 1)
    if is_counter and result > 0 and first_v >= 0:
        # A counter cannot go below zero: do not extrapolate past the point where it would be zero.
        duration_to_zero = sampled * (first_v / result)
        duration_to_start = min(duration_to_start, duration_to_zero)
    threshold = average_gap * 1.1
    interval = sampled
    interval += duration_to_start if duration_to_start < threshold else average_gap / 2
    interval += duration_to_end if duration_to_end < threshold else average_gap / 2
    result *= interval / sampled
    if is_rate:
        result /= range_end - range_start
    return result


def instant_rate(points: Points, is_rate: bool) -> float | None:
    """``irate`` (``is_rate``) and ``idelta`` from the last two samples; a drop counts as a reset."""
    if len(points) < 2:
        return None
    (prev_t, prev_v), (last_t, last_v) = points[-2], points[-1]
    if last_t <= prev_t:
        return None
    result = last_v - prev_v
    if is_rate:
        if last_v < prev_v:
            result = last_v
        result /= last_t - prev_t
    return result


def _over_time(reduce: Callable[[list[float]], float]) -> Callable[[Points], float | None]:
    def apply(points: Points) -> float | None:
        if not points:
            return None
        return reduce([v for _, v in points])

    return apply


OVER_TIME: dict[str, Callable[[Points], float | None]] = {
    "avg_over_time": _over_time(lambda vs: math.fsum(vs) / len(vs)),
    "min_over_time": _over_time(min),
    "max_over_time": _over_time(max),
    "sum_over_time": _over_time(math.fsum),
    "count_over_time": _over_time(lambda vs: float(len(vs))),
    "last_over_time": _over_time(lambda vs: vs[-1]),
}


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The q-quantile from cumulative ``(upper_bound, count)`` buckets, as Prometheus computes it.

    Linear interpolation inside the bucket holding the rank; NaN without a ``+Inf`` bucket or
    observations; counts are made monotonic first (scrapes are not atomic in real Prometheus).
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return math.nan
    monotonic: list[tuple[float, float]] = []
    highest = -math.inf
    for bound, count in ordered:
        highest = max(highest, count)
        monotonic.append((bound, highest))
    observations = monotonic[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    index = next(i for i, (_, count) in enumerate(monotonic) if count >= rank)
    if index == len(monotonic) - 1:
        return monotonic[-2][0]
    if index == 0 and monotonic[0][0] <= 0:
        return monotonic[0][0]
    start, end, count = 0.0, monotonic[index][0], monotonic[index][1]
    if index > 0:
        start = monotonic[index - 1][0]
        count -= monotonic[index - 1][1]
        rank -= monotonic[index - 1][1]
    if count == 0:
        return start
    return start + (end - start) * (rank / count)


def parse_bucket_bound(value: str) -> float | None:
    """An ``le`` label as a float (``+Inf`` included); None when it is not a number."""
    try:
        return float(value)
    except ValueError:
        return None


SIMPLE_MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": lambda v: float(math.ceil(v)) if math.isfinite(v) else v,
    "floor": lambda v: float(math.floor(v)) if math.isfinite(v) else v,
    "sqrt": lambda v: math.sqrt(v) if v >= 0 else math.nan,
    "exp": lambda v: math.exp(v) if v < 709 else math.inf,
    "ln": lambda v: math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan),
}


def round_to(value: float, to_nearest: float) -> float:
    """PromQL ``round``: ties round up, to the nearest multiple of ``to_nearest``."""
    if not math.isfinite(value) or to_nearest == 0:
        return value
    return math.floor(value / to_nearest + 0.5) * to_nearest
