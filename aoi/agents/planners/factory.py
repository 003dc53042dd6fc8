"""Build a planner by name (``heuristic`` | ``openai`` | ``local``) from plain, picklable options.

Evaluation workers are separate processes, so they receive a ``PlannerSpec`` and build their own
planner; the composition root (``aoi.bot``) fills the options from ``Settings``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from aoi.agents.planners.base import Planner
from aoi.agents.planners.heuristic import HeuristicPlanner

PLANNERS = ("heuristic", "openai", "local")

# name -> (module, class): the LLM planners are imported lazily (openai client, transformers).
_LAZY = {
    "openai": ("aoi.agents.planners.openai_planner", "OpenAIPlanner"),
    "local": ("aoi.agents.planners.local_planner", "LocalPlanner"),
}


@dataclass(frozen=True)
class PlannerSpec:
    """A planner name and the keyword options its constructor takes."""

    name: str = "heuristic"
    options: dict[str, Any] = field(default_factory=dict)


def make_planner(spec: PlannerSpec) -> Planner:
    """The planner ``spec`` names; raises ``ValueError`` naming the valid planners otherwise."""
    if spec.name == "heuristic":
        return HeuristicPlanner(**spec.options)
    if spec.name not in _LAZY:
        raise ValueError(f"unknown planner {spec.name!r}; expected one of {', '.join(PLANNERS)}")
    module_name, class_name = _LAZY[spec.name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"planner {spec.name!r} is not available: {exc}") from exc
    planner: Planner = getattr(module, class_name)(**spec.options)
    return planner
