"""What an investigation could not read, and how much that should cost the diagnosis' confidence.

When the cluster API is slow, failing or partly forbidden (a 403 on logs, a 500 on metrics, a
timeout), the read tools return ``status="error"`` instead of data. The Observer carries on with what
it could read and ends with a *partial* diagnosis: ``unread_sources`` names each read that failed
(tool, arguments, the error) so a human knows where the blind spots are, and ``discounted`` lowers
the confidence by ``PER_UNREAD`` for each of them (never below ``FLOOR`` of the original).
"""

from __future__ import annotations

from collections.abc import Sequence

from aoi.agents.planners.base import HistoryItem

PER_UNREAD = 0.1
FLOOR = 0.25
ERROR_CHARS = 160


def unread_sources(history: Sequence[HistoryItem]) -> list[str]:
    """One line per failed read, ``tool(args): error``, in the order they were attempted (no repeats)."""
    out: list[str] = []
    for item in history:
        result = item.result
        if result is None or result.status != "error":
            continue
        args = ", ".join(f"{k}={v}" for k, v in sorted(item.step.args.items()))
        error = " ".join((result.error or "error").split())[:ERROR_CHARS]
        line = f"{result.tool}({args}): {error}"
        if line not in out:
            out.append(line)
    return out


def discounted(confidence: float, unread: int) -> float:
    """``confidence`` lowered for ``unread`` failed reads (see module doc)."""
    if unread <= 0:
        return confidence
    return round(confidence * max(FLOOR, 1.0 - PER_UNREAD * unread), 4)
