"""What an investigation has seen, as the text Evolver notes are filed under and looked up by.

One definition on both sides matters: the Evolver files a note under the failed run's symptoms (the
incident text plus the first distinct error-like lines its probes returned), and the Observer asks
for guidance with the same kind of text from its own probes. Incident texts are often one per
application and task (AIOpsLab's are), so before a probe has seen an error every note of every fault
of that app is equally close; the observed lines are what tells them apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aoi.agents.records import ToolResult

SIGNAL = re.compile(
    r"(error|fail|refused|timeout|timed out|crashloop|backoff|denied|unauthori[sz]ed|oomkilled|unavailable|"
    r"not ?ready|pending|evicted|unreachable|exceeded|invalid|mismatch|\b(?:http|status)[ =:]*5\d\d\b)",
    re.IGNORECASE,
)
MAX_LINES = 6
# The incident text kept in symptoms: an embedder reads a few hundred tokens at most, and a pasted
# 100 kB alert dump must neither be stored whole with every note nor make filing fail.
INCIDENT_CHARS = 2000
NO_INCIDENT = "(no incident text)"  # an empty incident still files and finds notes, by what it saw
# Probes an investigation makes before guidance is asked again with what they saw (the Observer) and
# a note's probes are made (the heuristic planner): one number, so the notes arrive when acted on.
SURVEY_PROBES = 3


def error_lines(results: Iterable[ToolResult | None], max_lines: int = MAX_LINES) -> list[str]:
    """The first ``max_lines`` distinct error-like lines of the successful results, in order."""
    lines: list[str] = []
    for result in results:
        if result is None or result.status != "ok":
            continue
        for line in result.output.splitlines():
            clean = " ".join(line.split())[:200]
            if clean and SIGNAL.search(clean) and clean not in lines:
                lines.append(clean)
                if len(lines) >= max_lines:
                    return lines
    return lines


def symptoms(incident: str, results: Iterable[ToolResult | None], max_lines: int = MAX_LINES) -> str:
    """The incident text (its first ``INCIDENT_CHARS``), plus ``Observed:`` and the error-like lines
    when the probes saw any. Never empty."""
    lines = error_lines(results, max_lines)
    text = " ".join(incident.split()) if len(incident) > INCIDENT_CHARS else incident.strip()
    text = text[:INCIDENT_CHARS] or NO_INCIDENT
    if lines:
        text += "\nObserved: " + " | ".join(lines)
    return text
