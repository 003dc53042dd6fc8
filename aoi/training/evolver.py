"""The Failure Trajectory Evolver: a failed investigation → failure patterns, a repaired plan, a note.

Input (:class:`FailureCase`): the failed trajectory, where the failure was seen (the grader, a
rejected proposal, a failed execution, a thumbs-down), the verdict's reason, the names of the grader
checks that failed (never the expected answer), and — when one exists — a *successful* trajectory of
the same incident (another of the k runs, or a later confirmed investigation) to learn the right path
from. Everything is read from AOI's own records; nothing here knows the injected fault.

Output (:class:`Evolution`): the failure patterns (AOI's six), a repaired plan in four phases
(Discovery → Diagnosis → Resolution → Verification), a short guidance note for the Observer's prompt,
and the symptoms it is filed under. Deterministic, no model needed.

Patterns, decided from the trajectory:

- ``premature_stop`` — ended with fewer than two informative probes, or the budget ran out first;
- ``incomplete_diagnosis`` — the answer lacks faulty components / a fault type, or the grader's
  localization/analysis checks failed;
- ``wrong_path`` — a third or more of the probes were failed, repeated or dead ends, or the targeted
  probes never looked at the components the answer (or the successful run) blamed;
- ``missing_resolution`` — a mitigation task ended without any proposed fix;
- ``wrong_fix`` — a fix was proposed but rejected, failed to execute, or left the fault in place;
- ``missing_verification`` — a fix was proposed without first reading the resource it changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aoi.agents.probe_form import format_call
from aoi.agents.records import Step, Trajectory, TrajectoryStep
from aoi.agents.symptoms import symptoms
from aoi.training.purify import purify
from aoi.training.similarity import normalise_name

FailureSource = Literal["grader", "rejected", "execution_failed", "thumbs_down"]
PATTERNS = (
    "premature_stop",
    "incomplete_diagnosis",
    "wrong_path",
    "missing_resolution",
    "wrong_fix",
    "missing_verification",
)
PATTERN_TEXT = {
    "premature_stop": "stopped before the evidence supported a conclusion",
    "incomplete_diagnosis": "the answer did not name the faulty component and fault type",
    "wrong_path": "probes went in circles or away from the failing component",
    "missing_resolution": "no fix was proposed for a mitigation task",
    "wrong_fix": "the proposed fix did not repair the fault",
    "missing_verification": "the fix was proposed without checking the resource it changes",
}
DISCOVERY_TOOLS = frozenset(
    {
        "get_namespaces",
        "get_pods",
        "get_events",
        "get_deployments",
        "get_services",
        "get_nodes",
        "list_metrics",
    }
)
NOTE_CHARS = 700


@dataclass(frozen=True)
class FailureCase:
    """A failed investigation and what is known about why it failed."""

    trajectory: Trajectory
    source: FailureSource
    reason: str = ""
    failed_checks: tuple[str, ...] = ()
    investigation_id: str | None = None
    reference: Trajectory | None = None


@dataclass(frozen=True)
class RepairedPlan:
    discovery: list[str] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    resolution: list[str] = field(default_factory=list)
    verification: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "discovery": self.discovery,
            "diagnosis": self.diagnosis,
            "resolution": self.resolution,
            "verification": self.verification,
        }


@dataclass(frozen=True)
class Evolution:
    """What the Evolver learned from one failure."""

    case: FailureCase
    patterns: list[str]
    symptoms: str
    plan: RepairedPlan
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "trajectory_id": self.case.trajectory.id,
            "investigation_id": self.case.investigation_id,
            "source": self.case.source,
            "reason": self.case.reason,
            "patterns": self.patterns,
            "symptoms": self.symptoms,
            "plan": self.plan.to_json(),
            "note": self.note,
        }


def _probes(trajectory: Trajectory) -> list[TrajectoryStep]:
    return [s for s in trajectory.steps if s.step.action_type == "probe"]


def _proposals(trajectory: Trajectory) -> list[Step]:
    steps = [s.step for s in trajectory.steps if s.step.action_type == "propose"]
    return steps


def _has_fix(trajectory: Trajectory) -> bool:
    diagnosis = trajectory.diagnosis
    return bool(_proposals(trajectory)) or bool(diagnosis and diagnosis.remediations)


def _fix_targets(trajectory: Trajectory) -> set[str]:
    names = {normalise_name(str(s.args.get("target", ""))) for s in _proposals(trajectory)}
    if trajectory.diagnosis is not None:
        names |= {normalise_name(r.target) for r in trajectory.diagnosis.remediations}
    return names - {""}


def _blamed(trajectory: Trajectory | None) -> set[str]:
    if trajectory is None or trajectory.diagnosis is None:
        return set()
    return {normalise_name(c) for c in trajectory.diagnosis.faulty_components} - {""}


def _looked_at(probes: Sequence[TrajectoryStep], names: set[str]) -> bool:
    for item in probes:
        text = " ".join([*item.step.targets, json.dumps(item.step.args)]).lower()
        if any(name in text for name in names):
            return True
    return False


def classify(case: FailureCase) -> list[str]:
    """The failure patterns of ``case`` (in the canonical order of :data:`PATTERNS`)."""
    trajectory = case.trajectory
    diagnosis = trajectory.diagnosis
    probes = _probes(trajectory)
    purified = purify(trajectory)
    informative = [s for s in purified.kept if s.step.action_type == "probe"]
    out_of_budget = bool(diagnosis and any("exhausted" in n or "deadline" in n for n in diagnosis.notes))
    found: set[str] = set()
    if len(informative) < 2 or out_of_budget:
        found.add("premature_stop")
    checks = {c.lower() for c in case.failed_checks}
    answer_gap = diagnosis is None or (
        trajectory.task in ("localization", "analysis", "mitigation") and not diagnosis.faulty_components
    )
    if trajectory.task == "analysis" and diagnosis is not None and not diagnosis.root_cause.fault_type:
        answer_gap = True
    if answer_gap or checks & {"localization", "faulty_components", "system_level", "fault_type", "analysis"}:
        found.add("incomplete_diagnosis")
    wasted = len(purified.removed) >= max(1, len(probes)) / 3 if probes else False
    should_see = _blamed(case.reference) or _blamed(trajectory)
    targeted = [p for p in probes if p.step.tool not in DISCOVERY_TOOLS]
    if wasted or (should_see and targeted and not _looked_at(targeted, should_see)):
        found.add("wrong_path")
    if trajectory.task == "mitigation" and not _has_fix(trajectory):
        found.add("missing_resolution")
    mitigation_failed = checks & {"mitigation", "end_state", "fault_left_in_place"}
    if _has_fix(trajectory) and (case.source in ("rejected", "execution_failed") or mitigation_failed):
        found.add("wrong_fix")
    targets = _fix_targets(trajectory)
    if targets and not _looked_at(probes, targets):
        found.add("missing_verification")
    if not found:  # the grader said no, but the record shows no specific gap
        found.add("incomplete_diagnosis" if case.source == "grader" else "wrong_fix")
    return [p for p in PATTERNS if p in found]


def symptoms_of(trajectory: Trajectory, max_lines: int = 6) -> str:
    """The incident text plus the first distinct error-like lines the probes saw: what the note is
    filed under, the same text the Observer asks with (``aoi.agents.symptoms``)."""
    return symptoms(trajectory.incident, (item.result for item in _probes(trajectory)), max_lines)


def _call(step: Step) -> str:
    if step.action_type == "propose":
        a = step.args
        params = json.dumps(a.get("params") or {}, sort_keys=True)
        return f"propose {a.get('verb')} {a.get('namespace')}/{a.get('target')} {params}"
    return format_call(str(step.tool), step.args)


def _cited_steps(steps: Sequence[TrajectoryStep]) -> set[int]:
    """Indexes of the probes the submit cited as evidence (the decisive ones)."""
    cited: set[int] = set()
    for item in steps:
        evidence = item.step.args.get("evidence") if item.step.action_type == "submit" else None
        for entry in evidence if isinstance(evidence, list) else []:
            index = entry.get("step") if isinstance(entry, dict) else entry
            if isinstance(index, int):
                cited.add(index)
    return cited


def repaired_plan(case: FailureCase, patterns: Sequence[str]) -> RepairedPlan:
    """Four phases: from the successful reference when there is one, else from the failed run itself.

    Probes the reference's answer cited as evidence lead the Diagnosis phase (they decided the case);
    the remaining listings form Discovery.
    """
    source = case.reference if case.reference is not None else case.trajectory
    kept = purify(source).kept
    decisive = _cited_steps(kept)
    probes = [s for s in kept if s.step.action_type == "probe"]
    discovery = [_call(s.step) for s in probes if s.step.tool in DISCOVERY_TOOLS and s.index not in decisive]
    diagnosis = [_call(s.step) for s in probes if s.index in decisive] + [
        _call(s.step) for s in probes if s.step.tool not in DISCOVERY_TOOLS and s.index not in decisive
    ]
    resolution = (
        [_call(s) for s in _proposals(source)]
        if case.reference is not None or "wrong_fix" not in patterns
        else []
    )
    blamed = sorted(_blamed(source)) or sorted({t for s in kept for t in s.step.targets})[:3]
    if not discovery:
        discovery = [
            "get_pods and get_events in the affected namespace: find pods not Ready and warning events"
        ]
    if "wrong_path" in patterns or "incomplete_diagnosis" in patterns:
        focus = ", ".join(blamed) or "the components whose logs or events show errors"
        diagnosis.append(
            f"follow the errors to their source: describe and read logs of {focus} before answering"
        )
    if "premature_stop" in patterns:
        diagnosis.append(
            "gather at least two independent pieces of evidence (events, logs, metrics) before submitting"
        )
    if ("missing_resolution" in patterns or "wrong_fix" in patterns) and not resolution:
        subject = ", ".join(blamed) or "the faulty component"
        resolution.append(
            f"propose a whitelisted fix that changes the faulty setting of {subject}"
            " (compare its spec with a healthy sibling first)"
        )
        if case.reason:
            resolution.append(f"avoid what failed before: {case.reason[:160]}")
    verify_targets = ", ".join(sorted(_fix_targets(source)) or blamed) or "the affected workload"
    verification = [
        f"after the fix, check {verify_targets}: pods Ready, no restarts or CrashLoopBackOff,"
        " endpoints populated, error rate back to normal"
    ]
    return RepairedPlan(discovery[:4], diagnosis[:5], resolution[:3], verification)


def guidance_note(patterns: Sequence[str], plan: RepairedPlan, reason: str = "") -> str:
    """A short note for the Observer prompt: what went wrong last time and the path that works.

    At most :data:`NOTE_CHARS`. A long note sheds whole parts, least useful first, instead of being
    cut at the limit: a cut used to fall inside the Diagnosis phase's decisive ``tool {json}`` probes
    (the ones a planner acts on) while the generic Verification sentence and the Discovery listings,
    which every survey makes anyway, were kept. What goes first: the Verification sentence, then
    Discovery listings from the last, then Resolution and Diagnosis items beyond the first, the
    reported reason; only a note still too long after that is cut, with an ellipsis."""
    what = "; ".join(PATTERN_TEXT[p] for p in patterns)
    reported = f"; reported: {' '.join(reason.split())[:120]}" if reason.strip() else ""
    discovery, diagnosis = plan.discovery[:2], plan.diagnosis[:3]
    resolution = plan.resolution[:2]
    verification = plan.verification[:1]

    def render() -> str:
        parts = [f"A similar incident failed before ({what}{reported})."]
        for label, items in (
            ("Discovery", discovery),
            ("Diagnosis", diagnosis),
            ("Resolution", resolution),
            ("Verification", verification),
        ):
            if items:
                parts.append(f"{label}: " + "; ".join(items) + ".")
        return " ".join(parts)

    note = render()
    while len(note) > NOTE_CHARS:
        if verification:
            verification = []
        elif discovery:
            discovery = discovery[:-1]
        elif len(resolution) > 1:
            resolution = resolution[:1]
        elif len(diagnosis) > 1:
            diagnosis = diagnosis[:-1]
        elif reported:
            reported = ""
        else:
            break
        note = render()
    return note if len(note) <= NOTE_CHARS else note[: NOTE_CHARS - 1] + "…"


def evolve(case: FailureCase) -> Evolution:
    """Analyse one failure end to end (pure)."""
    patterns = classify(case)
    plan = repaired_plan(case, patterns)
    note = guidance_note(patterns, plan, case.reason)
    return Evolution(case, patterns, symptoms_of(case.trajectory), plan, note)
