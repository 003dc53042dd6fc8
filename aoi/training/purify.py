"""Purify a successful expert trajectory before it becomes training rows: keep the causal path only.

A student should learn what the expert *needed* to do, not its detours. Removed, in this order:

1. **failed probes** — the tool errored or never ran (nothing was learned from them);
2. **repeated probes** — the same tool with the same arguments as an earlier kept probe (loops);
3. **dead ends** — probes that returned no data, and probes aimed only at resources that play no
   part in the outcome (not a faulty component, not a remediation target, not cited as evidence).

Kept always: probes with no specific target (discovery: list pods, events in the namespace — a
target that is just the probe's namespace is not specific), probes
whose output the diagnosis cites as evidence, every ``propose`` and the ``submit``. Only the
trajectory's own record is read (its steps, results and diagnosis) — never the simulator's truth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from aoi.agents.records import Trajectory, TrajectoryStep
from aoi.training.similarity import normalise_name


@dataclass(frozen=True)
class Removal:
    index: int
    reason: str


@dataclass(frozen=True)
class Purified:
    """The kept steps (renumbered from 1, as the Observer numbers them) and why the others were dropped."""

    trajectory: Trajectory
    removed: list[Removal] = field(default_factory=list)

    @property
    def kept(self) -> list[TrajectoryStep]:
        return self.trajectory.steps


def _probe_key(item: TrajectoryStep) -> str:
    return json.dumps([item.step.tool, item.step.args], sort_keys=True, default=str)


def relevant_names(trajectory: Trajectory) -> set[str]:
    """Names that matter to the outcome: faulty components and remediation targets (normalised)."""
    names: set[str] = set()
    diagnosis = trajectory.diagnosis
    if diagnosis is not None:
        names.update(normalise_name(c) for c in diagnosis.faulty_components)
        names.update(normalise_name(r.target) for r in diagnosis.remediations)
    for item in trajectory.steps:
        if item.step.action_type in ("propose", "submit"):
            names.update(normalise_name(t) for t in item.step.targets)
            target = item.step.args.get("target")
            if isinstance(target, str):
                names.add(normalise_name(target))
            components = item.step.args.get("faulty_components")
            if isinstance(components, list):
                names.update(normalise_name(str(c)) for c in components)
    names.discard("")
    return names


def _touches(targets: Iterable[str], relevant: set[str]) -> bool:
    """A target matches a relevant name if either contains the other (pod ``geo-7d9f`` ⊃ service ``geo``)."""
    for target in targets:
        name = normalise_name(target)
        if any(name == r or name.startswith(r + "-") or r.startswith(name + "-") for r in relevant):
            return True
    return False


def _specific_targets(item: TrajectoryStep) -> list[str]:
    """The probe's targets other than its namespace (a namespace-wide listing is discovery)."""
    namespace = normalise_name(str(item.step.args.get("namespace") or ""))
    return [t for t in item.step.targets if normalise_name(t) not in ("", namespace)]


def _cited(trajectory: Trajectory) -> set[str]:
    if trajectory.diagnosis is None:
        return set()
    return {e.invocation for e in trajectory.diagnosis.evidence}


def purify(trajectory: Trajectory) -> Purified:
    """Drop failed, repeated and dead-end probes; return the renumbered trajectory and the removals."""
    relevant = relevant_names(trajectory)
    cited = _cited(trajectory)
    seen: set[str] = set()
    kept: list[TrajectoryStep] = []
    removed: list[Removal] = []
    for item in trajectory.steps:
        step, result = item.step, item.result
        if step.action_type != "probe":
            kept.append(item)
            continue
        if result is None or result.status == "error":
            removed.append(Removal(item.index, "failed probe"))
            continue
        key = _probe_key(item)
        if key in seen:
            removed.append(Removal(item.index, "repeated probe"))
            continue
        seen.add(key)
        if result.invocation in cited:
            kept.append(item)
            continue
        if result.status == "no_data":
            removed.append(Removal(item.index, "dead end: no data"))
            continue
        specific = _specific_targets(item)
        if specific and relevant and not _touches(specific, relevant):
            removed.append(Removal(item.index, "dead end: off the causal path"))
            continue
        kept.append(item)
    mapping = {item.index: i for i, item in enumerate(kept, start=1)}
    renumbered = [_renumbered(item, i, mapping) for i, item in enumerate(kept, start=1)]
    return Purified(trajectory.model_copy(update={"steps": renumbered}), removed)


def _renumbered(item: TrajectoryStep, index: int, mapping: dict[int, int]) -> TrajectoryStep:
    """The step at its new index; a submit's cited evidence (step numbers) follows the renumbering,
    and citations of removed steps are dropped."""
    evidence = item.step.args.get("evidence") if item.step.action_type == "submit" else None
    if not isinstance(evidence, list):
        return item.model_copy(update={"index": index})
    cited: list[object] = []
    for entry in evidence:
        old = entry.get("step") if isinstance(entry, dict) else entry
        if isinstance(old, int) and old in mapping:
            cited.append({**entry, "step": mapping[old]} if isinstance(entry, dict) else mapping[old])
        elif not isinstance(old, int):
            cited.append(entry)
    step = item.step.model_copy(update={"args": {**item.step.args, "evidence": cited}})
    return item.model_copy(update={"index": index, "step": step})
