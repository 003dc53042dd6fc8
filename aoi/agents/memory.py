"""The Observer's short memory: one line per earlier step, the previous step in full.

Why this shape (AOI's "historical summaries"): a model needs the whole path of the investigation to
avoid repeating itself, but only the latest tool output in detail; carrying every output verbatim
would blow the context after a handful of probes. Pure function of the history; deterministic.

An earlier step's line also carries the *notable* findings of its output (``| notable: …``, from
:func:`aoi.agents.highlights.notable_lines`): the step's summary is the planner's intention ("survey
pod health"), not what the tool found, so without them a small model that must conclude after a few
probes has forgotten the crash-looping pod that step 1 showed. Nothing is added when nothing stood out.
Below them, ``Cross-check:`` lines compare listings with each other (:mod:`aoi.agents.crosschecks`: a
Service targeting a port its deployment does not listen on looks healthy in every single output).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aoi.agents.crosschecks import port_mismatches
from aoi.agents.highlights import notable_lines
from aoi.agents.planners.base import HistoryItem
from aoi.agents.tools.base import ToolResult

SUMMARY_CHARS = 160
PREVIOUS_CHARS = 4000


def _call_text(item: HistoryItem) -> str:
    step = item.step
    if step.action_type == "probe":
        args = json.dumps(step.args, sort_keys=True, separators=(",", ":"))
        return f"{step.tool} {args}"
    return (
        f"propose {step.args.get('verb', '?')} {step.args.get('namespace', '')}/{step.args.get('target', '')}"
    )


def summary_line(item: HistoryItem) -> str:
    """``#3 get_pods {"namespace":"x"} → ok: survey pods | notable: geo-1 0/1 CrashLoopBackOff restarts=5``

    The step's summary (or the output's head), then what stood out in an ok output, if anything.
    """
    result = item.result
    if result is None:
        outcome = "recorded"
    elif result.status == "error":
        outcome = f"error: {(result.error or '')[:SUMMARY_CHARS]}"
    else:
        outcome = result.status
    gist = item.step.summary or (result.output.splitlines()[0] if result and result.output else "")
    line = f"#{item.index} {_call_text(item)} → {outcome}"
    if gist:
        line += f": {gist[:SUMMARY_CHARS]}"
    if result is not None and result.status == "ok" and result.output:
        notable = notable_lines(
            result.tool or item.step.tool or "", result.output, invocation=result.invocation
        )
        if notable:
            line += " | notable: " + "; ".join(notable)
    return line


def notable_line(result: ToolResult, tool: str = "") -> str | None:
    """``Notable: …`` for a full tool output shown to a planner, or None when nothing stood out.

    Shown above the output (the Observer's memory and the planners' prompt both do): the output may be
    cut, and a small model reads a finding more easily than it divides columns of numbers."""
    if result.status != "ok" or not result.output:
        return None
    found = notable_lines(result.tool or tool, result.output, invocation=result.invocation)
    return "Notable: " + "; ".join(found) if found else None


def crosscheck_lines(history: Sequence[HistoryItem]) -> list[str]:
    """``Cross-check: …`` lines over the whole history (:mod:`aoi.agents.crosschecks`), as both the
    Observer's memory and the planners' prompt show them."""
    return [f"Cross-check: {line}" for line in port_mismatches(history)]


def build_memory(history: Sequence[HistoryItem]) -> str:
    """Summaries of steps 1..N-1 and step N in full (its invocation and output)."""
    if not history:
        return ""
    lines = ["Earlier steps:"] if len(history) > 1 else []
    lines += [summary_line(item) for item in history[:-1]]
    lines += crosscheck_lines(history)
    last = history[-1]
    lines.append(f"Previous step #{last.index}: {_call_text(last)}")
    if last.step.reasoning:
        lines.append(f"Reasoning: {last.step.reasoning}")
    if last.result is not None:
        lines.append(f"$ {last.result.invocation}")
        if last.result.status == "error":
            lines.append(f"ERROR: {last.result.error}")
        elif last.result.status == "no_data":
            lines.append("(no data)")
        else:
            notable = notable_line(last.result, last.step.tool or "")
            lines += [notable] if notable else []
            lines.append(last.result.output[:PREVIOUS_CHARS])
    return "\n".join(lines)
