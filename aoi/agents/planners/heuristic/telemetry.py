"""Quiet failures: nothing is crashing, so read traces, metrics, feature flags and recent restarts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aoi.agents.planners.heuristic.analysis import Finding
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.rules import Rules

if TYPE_CHECKING:
    from aoi.agents.planners.heuristic.agenda import Probe


def quiet_probes(facts: Facts, ns: str, rules: Rules) -> Iterator[Probe]:
    from aoi.agents.planners.heuristic.agenda import Probe

    yield Probe("get_trace_services", {}, "which services report traces")


def quiet_findings(facts: Facts, rules: Rules, suspects: list[str]) -> list[Finding]:
    return []
