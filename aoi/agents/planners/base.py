"""The Planner protocol: whatever decides the Observer's next step (rules, an LLM endpoint, a local model).

A planner is a pure decision function over a ``PlannerContext``: it never calls tools itself and never
holds a backend. The Observer runs the tool a probe step names, compresses and redacts its output, and
hands the result back in the next context. That is what lets the heuristic planner take over in the
middle of an LLM's investigation (fallback) and what GRPO trains on (context → next step JSON).

Step schema (DESIGN.md §5), by ``action_type``:

- ``probe``: ``tool`` names a read tool from ``context.tools``; ``args`` are its arguments.
- ``propose``: ``args`` is an ActionRequest ``{"verb", "target", "namespace", "params", "rationale"}``;
  the Observer records it as a remediation (a proposal is data, never a call).
- ``submit``: ends the investigation. ``args`` holds the diagnosis:
  ``{"detected": bool, "faulty_components": [str], "system_level": str, "fault_type": str,
  "summary": str, "remediations": [ActionRequest...] (optional), "evidence": [int step indexes]
  (optional)}``; ``root_cause: {"system_level", "fault_type", "summary"}`` is accepted as well.

Planner failures — an exception, a ``PlannerError``, a step the Observer cannot validate — are retried by
the Observer within budget, then it falls back to the heuristic planner and marks the diagnosis degraded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from aoi.agents.records import Step, ToolResult
from aoi.agents.tools.base import ToolSpec

TaskType = Literal["detection", "localization", "analysis", "mitigation"]
TASK_TYPES: tuple[TaskType, ...] = ("detection", "localization", "analysis", "mitigation")


class PlannerError(Exception):
    """The planner could not produce a valid step (bad JSON, endpoint error, timeout, ...)."""


@dataclass(frozen=True)
class HistoryItem:
    """One earlier step and what its tool returned (compressed and redacted), oldest first."""

    index: int
    step: Step
    result: ToolResult | None = None


@dataclass(frozen=True)
class BudgetLeft:
    """What remains of the Observer's budget when the planner is asked for a step."""

    steps: int
    tokens: int
    seconds: float


@dataclass(frozen=True)
class PlannerContext:
    """Everything a planner may base its next step on — and nothing else (no ground truth).

    ``memory`` is the text form of the history an LLM prompt should carry: one-line summaries of the
    steps before the previous one plus the previous step in full (AOI's historical-summary memory).
    ``guidance`` are notes retrieved from the Evolver for similar symptoms.
    """

    incident: str
    task: TaskType | None
    tools: list[ToolSpec]
    history: list[HistoryItem] = field(default_factory=list)
    memory: str = ""
    guidance: list[str] = field(default_factory=list)
    budget_left: BudgetLeft = field(
        default_factory=lambda: BudgetLeft(steps=20, tokens=100_000, seconds=300.0)
    )
    # why the Observer did not carry out the planner's previous step (a loop, an unknown tool, bad
    # arguments), so that a model asked again does not answer the identical prompt identically
    rejected: str | None = None

    def tool_names(self) -> list[str]:
        return [spec.name for spec in self.tools]


@dataclass(frozen=True)
class PlannerOutput:
    """A planner's answer: the step, the tokens it cost, and the raw model text (for training/debug)."""

    step: Step
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw_text: str = ""


@runtime_checkable
class Planner(Protocol):
    """Decides the next step. ``name`` appears in diagnoses (``planner``) and in the store."""

    name: str

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        """Return the next step; raise ``PlannerError`` (or anything) when no valid step can be given."""
        ...


@runtime_checkable
class FallbackPlanner(Planner, Protocol):
    """A planner that never needs a model and can always answer from the history so far.

    The Observer hands it the investigation when the primary planner keeps failing, and asks it to
    ``conclude`` (a submit step from the evidence already gathered) when the budget runs out.
    """

    def conclude(self, context: PlannerContext) -> Step:
        """A ``submit`` step built only from ``context.history``; never probes, never raises."""
        ...
