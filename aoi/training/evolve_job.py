"""Running the Evolver over many failures: analyse, file guidance, emit corrective training rows.

Corrective rows (two datasets, both content-hashed like every other):

- ``corrective-sft`` — when a failure has a successful reference, the reference's purified steps
  rendered *with the new note in the context*: the model learns to follow the guidance it is given;
- ``corrective-kto`` — the failing decision itself, labelled undesirable: the submit of a premature
  or incomplete answer, the first proposal of a wrong or unverified fix, or the first wasted probe of
  a wrong path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aoi.agents.observer import Budget
from aoi.agents.planners.base import FallbackPlanner, Planner
from aoi.agents.tools.base import ToolSpec
from aoi.sim import Problem
from aoi.store.errors import InvalidValueError
from aoi.training.datasets import PromptRenderer, Row, SavedDataset, kto_row, save_dataset, step_rows
from aoi.training.evolver import Evolution, FailureCase, evolve
from aoi.training.guidance import GuidanceLibrary
from aoi.training.purify import purify
from aoi.training.rollout import Episode, run_episode, run_episodes


@dataclass
class EvolveReport:
    """What one Evolver pass did (``aoi evolve --json`` prints this)."""

    cases: int = 0
    filed: int = 0
    duplicates: int = 0
    removed: int = 0  # of the duplicates, those of notes a reviewer removed (no corrective SFT rows)
    skipped: list[dict[str, str]] = field(default_factory=list)  # cases that could not be evolved
    patterns: Counter[str] = field(default_factory=Counter)
    datasets: list[SavedDataset] = field(default_factory=list)
    evolutions: list[dict[str, Any]] = field(default_factory=list)
    sft_rows: list[Row] = field(default_factory=list, repr=False)
    kto_rows: list[Row] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "filed": self.filed,
            "duplicates": self.duplicates,
            "removed": self.removed,
            "skipped": self.skipped,
            "patterns": dict(self.patterns),
            "datasets": [
                {"kind": d.kind, "hash": d.hash, "path": str(d.path), "rows": d.rows} for d in self.datasets
            ],
            "evolutions": self.evolutions,
        }


def failing_position(evolution: Evolution) -> int | None:
    """Where in the trajectory the failure was decided (see the module docstring)."""
    steps = evolution.case.trajectory.steps
    patterns = set(evolution.patterns)
    if patterns & {"wrong_fix", "missing_verification"}:
        for position, item in enumerate(steps):
            if item.step.action_type == "propose":
                return position
    if "wrong_path" in patterns and not patterns & {"premature_stop", "incomplete_diagnosis"}:
        removed = {r.index for r in purify(evolution.case.trajectory).removed}
        for position, item in enumerate(steps):
            if item.index in removed:
                return position
    for position in range(len(steps) - 1, -1, -1):
        if steps[position].step.action_type == "submit":
            return position
    return None


def corrective_rows(
    evolution: Evolution, *, tools: Sequence[ToolSpec], render: PromptRenderer
) -> tuple[list[Row], list[Row]]:
    """(SFT rows from the reference with the note in context, KTO rows for the failing decision)."""
    sft: list[Row] = []
    if evolution.case.reference is not None:
        sft = step_rows(
            evolution.case.reference, tools=tools, render=render, source="evolver", guidance=[evolution.note]
        )
    kto: list[Row] = []
    position = failing_position(evolution)
    if position is not None:
        kto.append(
            kto_row(evolution.case.trajectory, position, False, tools=tools, render=render, source="evolver")
        )
    return sft, kto


def simulated_failure_cases(
    problems: Sequence[Problem],
    planner: Planner,
    expert: Planner,
    *,
    k: int = 1,
    budget: Budget | None = None,
    fallback: FallbackPlanner | None = None,
) -> tuple[list[FailureCase], list[Episode]]:
    """Grader failures of ``planner`` on the simulator, each with the ``expert``'s (full-budget)
    successful run of the same problem as its reference when it has one. Returns (cases, episodes).
    ``fallback`` as in :func:`run_episodes` (an abstaining one keeps a model's failures its own)."""
    episodes = run_episodes(problems, planner, k=k, budget=budget, fallback=fallback)
    by_id = {p.id: p for p in problems}
    references: dict[str, Episode] = {}
    cases: list[FailureCase] = []
    for episode in episodes:
        if episode.success or episode.error:
            continue
        if episode.problem_id not in references:
            references[episode.problem_id] = run_episode(by_id[episode.problem_id], expert)
        reference = references[episode.problem_id]
        cases.append(
            FailureCase(
                episode.trajectory,
                "grader",
                failed_checks=episode.failed_checks,
                reference=reference.trajectory if reference.success else None,
            )
        )
    return cases, episodes


def run_evolver(
    cases: Sequence[FailureCase],
    *,
    library: GuidanceLibrary | None,
    tools: Sequence[ToolSpec],
    render: PromptRenderer,
    datasets_dir: Path | None,
) -> EvolveReport:
    """Evolve every case; file notes unless ``library`` is None (dry run); save corrective datasets.

    A case the store refuses (``InvalidValueError``: a value outside the schema) is skipped and
    reported, not fatal: one odd record must not cost a week's notes and rows. A note that duplicates
    one a reviewer removed gets no corrective SFT rows (they would teach the removed advice); its KTO
    row, about the failing decision itself, is kept."""
    report = EvolveReport(cases=len(cases))
    sft_rows, kto_rows = report.sft_rows, report.kto_rows
    for case in cases:
        evolution = evolve(case)
        entry = evolution.to_json()
        removed = False
        if library is not None:
            try:
                filed = library.file(evolution)
            except InvalidValueError as error:
                report.skipped.append({"trajectory_id": case.trajectory.id, "error": str(error)})
                continue
            entry["guidance_id"] = filed.guidance.id
            entry["duplicate"] = filed.duplicate
            removed = entry["removed"] = filed.removed
            report.duplicates += int(filed.duplicate)
            report.removed += int(removed)
            report.filed += int(not filed.duplicate)
        report.patterns.update(evolution.patterns)
        report.evolutions.append(entry)
        sft, kto = corrective_rows(evolution, tools=tools, render=render)
        sft_rows.extend([] if removed else sft)
        kto_rows.extend(kto)
    if datasets_dir is not None:
        if sft_rows:
            report.datasets.append(save_dataset(sft_rows, datasets_dir, "corrective-sft"))
        if kto_rows:
            report.datasets.append(save_dataset(kto_rows, datasets_dir, "corrective-kto"))
    return report
