"""A hand-built metric source for PromQL unit tests: series defined as functions of time.

It implements only ``aoi.sim.promql.MetricSource`` (metric names, series sampled on a grid, a clock),
so PromQL maths can be checked against values worked out by hand, independently of the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

NOW = 1_700_000_100.0  # a multiple of 15 s and of 300 s, so windows hold whole scrape intervals


class MetricTable:
    def __init__(self, now: float = NOW) -> None:
        self._now = now
        self._series: dict[str, list[tuple[dict[str, str], Callable[[float], float | None]]]] = {}

    def add(self, name: str, labels: dict[str, str], value: Callable[[float], float | None]) -> MetricTable:
        """Add one series; ``value(t)`` returning None means no sample at ``t``."""
        self._series.setdefault(name, []).append((labels, value))
        return self

    def now(self) -> float:
        return self._now

    def metric_names(self) -> list[str]:
        return sorted(self._series)

    def metric_series(
        self, name: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        out = []
        first = math.ceil(start / step) * step
        for labels, value in self._series.get(name, []):
            points = []
            t = first
            while t <= min(end, self._now):
                v = value(t)
                if v is not None:
                    points.append((t, v))
                t += step
            out.append((dict(labels), points))
        return out
