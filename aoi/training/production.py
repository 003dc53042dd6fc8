"""Training signal from production: a store export (``aoi data export``) → rows and failure cases.

What counts (the feedback vocabulary of ``aoi.store.enums.FeedbackKind``):

- **confirmed** investigations — at least one positive signal (thumbs-up, Helpful, an approved fix,
  a fix whose execution verified) and no negative one: their purified trajectories become expert step
  rows (``source="production"``), exactly like the simulator expert's;
- **KTO rows** — every judged decision: feedback on a proposal labels the step that proposed it (or
  the submit that carried it), feedback on the investigation labels its final diagnosis step; when one
  item was judged several times, the latest judgement wins;
- **failure cases** for the Evolver — thumbs-down/Not-helpful, rejected proposals (with the reviewer's
  reason) and failed executions, each with a confirmed investigation of the same incident as the
  successful reference when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from aoi.agents.records import Trajectory
from aoi.agents.tools.base import ToolSpec
from aoi.store.enums import FeedbackKind
from aoi.store.export import ExportBundle, ExportedFeedback, ExportedInvestigation
from aoi.training.datasets import PromptRenderer, Row, kto_row, step_rows
from aoi.training.evolver import FailureCase, FailureSource

NEGATIVE_SOURCE: dict[str, FailureSource] = {
    FeedbackKind.THUMBS_DOWN.value: "thumbs_down",
    FeedbackKind.NOT_HELPFUL.value: "thumbs_down",
    FeedbackKind.REJECTED.value: "rejected",
    FeedbackKind.EXECUTION_FAILED.value: "execution_failed",
}


def trajectory_of(investigation: ExportedInvestigation) -> Trajectory | None:
    """The stored trajectory as a record (None when absent or not a trajectory)."""
    if not investigation.trajectory:
        return None
    try:
        trajectory = Trajectory.model_validate(investigation.trajectory)
    except ValidationError:
        return None
    if not trajectory.incident:
        trajectory.incident = investigation.incident_text
    return trajectory


def _feedback_by_investigation(bundle: ExportBundle) -> dict[str, list[ExportedFeedback]]:
    grouped: dict[str, list[ExportedFeedback]] = {}
    for row in sorted(bundle.feedback, key=lambda f: (f.created_at, f.id)):
        grouped.setdefault(row.investigation_id, []).append(row)
    return grouped


def confirmed(bundle: ExportBundle) -> list[tuple[ExportedInvestigation, Trajectory]]:
    """Diagnosed investigations with a positive signal and no negative one."""
    feedback = _feedback_by_investigation(bundle)
    out = []
    for investigation in bundle.investigations:
        rows = feedback.get(investigation.id, [])
        trajectory = trajectory_of(investigation)
        if trajectory is None or investigation.status != "diagnosed" or not rows:
            continue
        if all(row.positive for row in rows):
            out.append((investigation, trajectory))
    return out


def production_step_rows(
    bundle: ExportBundle, *, tools: Sequence[ToolSpec], render: PromptRenderer
) -> list[Row]:
    """Expert-style step rows from the confirmed investigations."""
    rows: list[Row] = []
    for _investigation, trajectory in confirmed(bundle):
        rows.extend(step_rows(trajectory, tools=tools, render=render, source="production"))
    return rows


def _matches(step_args: dict[str, Any], action: dict[str, Any]) -> bool:
    return all(str(step_args.get(k, "")) == str(action.get(k, "")) for k in ("verb", "target", "namespace"))


def _judged_position(trajectory: Trajectory, action: dict[str, Any] | None) -> int | None:
    """Index (in ``trajectory.steps``) of the step a judgement is about."""
    if action is not None:
        for position, item in enumerate(trajectory.steps):
            if item.step.action_type == "propose" and _matches(item.step.args, action):
                return position
    for position in range(len(trajectory.steps) - 1, -1, -1):
        if trajectory.steps[position].step.action_type == "submit":
            return position
    return None


def kto_rows(bundle: ExportBundle, *, tools: Sequence[ToolSpec], render: PromptRenderer) -> list[Row]:
    """Unpaired desirable/undesirable rows from every judged decision (latest judgement per item)."""
    feedback = _feedback_by_investigation(bundle)
    rows: list[Row] = []
    for investigation in bundle.investigations:
        trajectory = trajectory_of(investigation)
        if trajectory is None or investigation.id not in feedback:
            continue
        actions = {p.id: p.action for p in investigation.proposals}
        latest: dict[int, bool] = {}
        for judgement in feedback[investigation.id]:  # oldest first: later ones overwrite
            action = actions.get(judgement.proposal_id) if judgement.proposal_id else None
            position = _judged_position(trajectory, action)
            if position is not None:
                latest[position] = judgement.positive
        for position, label in sorted(latest.items()):
            rows.append(kto_row(trajectory, position, label, tools=tools, render=render, source="feedback"))
    return rows


def _reason(judgement: ExportedFeedback, investigation: ExportedInvestigation) -> str:
    """Why it was judged bad: the reviewer's words, the rejection reason, or the execution error."""
    if judgement.reason:
        return judgement.reason
    proposal = next((p for p in investigation.proposals if p.id == judgement.proposal_id), None)
    if proposal is None:
        return ""
    if proposal.reason:
        return proposal.reason
    result = proposal.result or {}
    return str(result.get("error") or result.get("detail") or "")


def failure_cases(bundle: ExportBundle) -> list[FailureCase]:
    """One case per investigation that drew a negative signal (source: its most recent one; reason:
    the most recent one that gave a reason)."""
    feedback = _feedback_by_investigation(bundle)
    references: dict[str, Trajectory] = {}
    for good, good_trajectory in confirmed(bundle):
        if good.incident_id:
            references[good.incident_id] = good_trajectory
    cases: list[FailureCase] = []
    for investigation in bundle.investigations:
        negatives = [f for f in feedback.get(investigation.id, []) if f.kind in NEGATIVE_SOURCE]
        failed = trajectory_of(investigation)
        if not negatives or failed is None:
            continue
        last = negatives[-1]
        reasons = [_reason(f, investigation) for f in reversed(negatives)]
        reason = next((r for r in reasons if r), "")
        cases.append(
            FailureCase(
                trajectory=failed,
                source=NEGATIVE_SOURCE[last.kind],
                reason=reason,
                investigation_id=investigation.id,
                reference=references.get(investigation.incident_id or ""),
            )
        )
    return cases
