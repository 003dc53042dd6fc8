"""The incident thread's summary message (investigating → diagnosis) and its progress lines.

The summary message is posted once and then updated in place with ``chat.update``, so these builders
return complete replacements, never deltas. Everything that came from a tool (findings, summaries) is
escaped: a log line cannot mention ``@channel`` or forge a link.
"""

from __future__ import annotations

from aoi.agents.records import Diagnosis, TrajectoryStep
from aoi.handlers.blocks.common import (
    HELPFUL,
    NOT_HELPFUL,
    Block,
    actions,
    button,
    code,
    context,
    divider,
    escape,
    fields_section,
    header,
    limit_blocks,
    section,
    truncate,
)

MAX_EVIDENCE = 6
FINDING_LIMIT = 300


def build_investigating_blocks(
    incident_text: str, requested_by: str | None, investigation_id: str
) -> list[Block]:
    """The first version of the summary message: what AOI is looking at, and for whom."""
    who = f"Requested by <@{requested_by}>" if requested_by else "Opened automatically"
    return [
        header(":mag: Investigating…"),
        section(f"*Incident:* {escape(truncate(incident_text.strip() or '(no description)', 1500))}"),
        context(f"{who} · investigation `{investigation_id}` · read-only tools only; fixes need approval"),
    ]


def build_progress_text(step: TrajectoryStep) -> str:
    """One progress line for the thread: step number, what was done, and how the tool answered."""
    planned = step.step
    summary = escape(truncate(planned.summary or planned.reasoning or planned.action_type, 200))
    if planned.action_type == "probe" and planned.tool:
        status = step.result.status if step.result is not None else "pending"
        icon = {"ok": ":white_check_mark:", "error": ":warning:", "no_data": ":grey_question:"}.get(
            status, "…"
        )
        return f"{icon} step {step.index}: {code(planned.tool)} — {summary}"
    return f":thought_balloon: step {step.index}: {summary}"


def _evidence_line(invocation: str, finding: str) -> str:
    return f"• {code(truncate(invocation, 120))}: {escape(truncate(finding, FINDING_LIMIT))}"


def _confidence(value: float) -> str:
    pct = round(max(0.0, min(1.0, value)) * 100)
    level = "high" if pct >= 75 else "medium" if pct >= 45 else "low"
    return f"{pct}% ({level})"


def _model_label(diagnosis: Diagnosis) -> str:
    planner = diagnosis.planner or "unknown planner"
    return f"{planner} / {diagnosis.model_version}" if diagnosis.model_version else planner


def build_diagnosis_blocks(
    diagnosis: Diagnosis, investigation_id: str, requested_by: str | None
) -> list[Block]:
    """The summary message once the Observer submitted: root cause, components, evidence, confidence,
    planner/model, steps, time, tokens, and the Helpful / Not helpful buttons (value = investigation id)."""
    root = diagnosis.root_cause
    if diagnosis.detected:
        title = ":large_orange_circle: Diagnosis"
        cause = escape(root.summary) if root.summary else "(no summary given)"
    elif diagnosis.undetermined:
        title = ":white_circle: Undetermined: nothing could be read"
        cause = escape(root.summary) if root.summary else "No read of the cluster succeeded."
    else:
        title = ":large_green_circle: No fault found"
        cause = escape(root.summary) if root.summary else "The tools showed no anomaly."
    components = ", ".join(code(c) for c in diagnosis.faulty_components) or "none identified"
    blocks: list[Block] = [
        header(title),
        section(f"*Root cause:* {cause}"),
        fields_section(
            [
                ("Affected components", components),
                (
                    "Fault type",
                    f"{escape(root.fault_type or 'unknown')} ({escape(root.system_level or 'unknown')})",
                ),
                ("Confidence", _confidence(diagnosis.confidence)),
                ("Proposed fixes", str(len(diagnosis.remediations))),
            ]
        ),
    ]
    if diagnosis.evidence:
        lines = [
            _evidence_line(ev.invocation or ev.tool, ev.finding) for ev in diagnosis.evidence[:MAX_EVIDENCE]
        ]
        more = len(diagnosis.evidence) - MAX_EVIDENCE
        if more > 0:
            lines.append(f"_…and {more} more findings_")
        blocks.append(section("*Evidence*\n" + "\n".join(lines)))
    if diagnosis.degraded:
        notes = "; ".join(escape(n) for n in diagnosis.notes) or "the model failed"
        blocks.append(context(f":warning: Degraded: fell back to the heuristic planner ({notes})"))
    who = f" · requested by <@{requested_by}>" if requested_by else ""
    blocks.append(
        context(
            f"Planner {code(_model_label(diagnosis))} · {diagnosis.steps} steps · {diagnosis.seconds:.1f}s · "
            f"tokens {diagnosis.tokens.in_} in / {diagnosis.tokens.out} out · `{investigation_id}`{who}"
        )
    )
    blocks.append(divider())
    blocks.append(
        actions(
            f"feedback:{investigation_id}",
            button(":+1: Helpful", HELPFUL, investigation_id),
            button(":-1: Not helpful", NOT_HELPFUL, investigation_id),
        )
    )
    return limit_blocks(blocks)


def diagnosis_fallback_text(diagnosis: Diagnosis) -> str:
    """The notification text for the summary message (Slack shows it where blocks are not rendered)."""
    if diagnosis.undetermined:
        return "AOI diagnosis: undetermined, no read of the cluster succeeded"
    if not diagnosis.detected:
        return "AOI diagnosis: no fault found"
    components = ", ".join(diagnosis.faulty_components) or "unknown component"
    return truncate(
        f"AOI diagnosis: {diagnosis.root_cause.summary or diagnosis.root_cause.fault_type} ({components})",
        300,
    )


def build_investigation_failed_blocks(investigation_id: str, error: str) -> list[Block]:
    """The summary message when the investigation itself failed (the error is shown, never hidden)."""
    return [
        header(":red_circle: Investigation failed"),
        section(f"AOI could not finish this investigation:\n```{escape(truncate(error, 2500))}```"),
        context(f"`{investigation_id}` · nothing was changed in the cluster"),
    ]
