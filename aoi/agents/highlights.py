"""Notable lines of one tool output: what k9s would colour red, kept for the Observer's memory.

Why: the memory shows each earlier step as one line, and a step's own summary is the planner's
*intention* ("survey pod health"), not what the tool found. A small model that must conclude after a
handful of probes then sees only the latest output and forgets that step 1 showed a pod in
CrashLoopBackOff. ``notable_lines`` keeps a few short findings per output so they survive in memory.

Contracts: generic per-output rules only, a pure function of the tool name and the text the tool
printed (optionally its invocation, e.g. the PromQL query) — never a diagnosis across resources and
never anything but what the model itself was shown. Deterministic, most important first, at most
``max_lines`` lines of at most ``LINE_CHARS`` characters each and ``max_chars`` in all; never raises
(odd input gives ``[]`` or what could be read). Pure string work with precompiled regexes: it runs on
every step of every investigation.

Rules, by tool family:

- ``get_*`` tables (pods, deployments, endpoints, nodes, PVCs, PVs, namespaces…): rows with READY
  ``a/b`` where a<b, a STATUS outside the healthy set, RESTARTS > 0, ENDPOINTS ``<none>``, AVAILABLE 0,
  node PRESSURE, 0 desired replicas; crashing/failed before not ready before merely restarted.
- ``get_events``: Warning rows (reason, object, message head); the same reason and message for
  several objects is one line with a ``(+N similar)`` count.
- ``get_logs``: lines that say error/fatal/panic/exception/fail/refused/denied/unauthorized/timeout/
  unreachable…, deduplicated (``[×N]`` counts kept), fatal/panic first; JSON lines show their message.
- ``describe_*``: Waiting/Terminated reasons, non-zero exit codes, OOMKilled, scheduling failures,
  unavailable replicas, ``Endpoints: <none>``, bad conditions, Warning events.
- ``query_metrics``: for an error-like query (5xx, error, fail, restart, OOM, throttling — from the
  query or the series labels) every non-zero series, largest first; otherwise a series that
  stands out (at least 5× the next largest) and, for a range query (MIN and LAST columns), the series
  whose last value rose at least 2.5× above its own low in the window, steepest first: a service
  whose latency went from 3 ms to 18 ms is the change, even while another is slower all hour.
- ``get_traces``: failed calls and error origins (with their messages), operations with errors
  (most first), and a time-on-the-wire or self time that stands out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

LINE_CHARS = 90
MIN_LINE_CHARS = 24
MAX_INPUT_CHARS = 100_000
MAX_INPUT_LINES = 3000
STANDOUT_FACTOR = 5.0
RISE_FACTOR = 2.5

HEALTHY_STATUSES = frozenset(
    {"running", "completed", "succeeded", "ready", "bound", "active", "available", "-", ""}
)
# Statuses that mean "broken", ranked above "not (yet) ready" such as Pending.
_CRASH_STATUS = re.compile(
    r"crash|error|err[A-Z]|oom|backoff|fail|lost|notready|evicted|invalid|unknown|terminated",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_STATUS_WORDS = re.compile(r"[,\s]+")
_COLUMN_START = re.compile(r"(?:^|\s{2,})(\S)")
_LAST_REASON = re.compile(r"\(last: ([^)]+)\)")
_READY = re.compile(r"^(\d+)/(\d+)$")
_LEADING_INT = re.compile(r"^(\d+)")
_TRUNCATION = re.compile(r"^… \[truncated")
_COUNT_SUFFIX = re.compile(r"\s*\[×(\d+)\]\s*$")
_LOG_FATAL = re.compile(r"\bpanic\b|\bfatal\b|\bFTL\b|\bcrit(?:ical)?\b|oomkill|out of memory", re.IGNORECASE)
_LOG_ERROR = re.compile(
    r"error|\bERR\b|exception|traceback|fail|refused|denied|unauthori[sz]|forbidden|timeout|timed out"
    r"|deadline exceeded|unreachable|no reachable|no such host|connection reset|not authori[sz]ed"
    r"|\"level\":\s*50|\"s\":\s*\"[EF]\"|level=(?:error|fatal)",
    re.IGNORECASE,
)
_LOG_LEADING_STAMP = re.compile(
    r"^\[?\d{4}-\w{2,3}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*"
)
_JSON_FIELDS = ("msg", "message", "error", "err", "errmsg", "codeName", "exception")
_VOLATILE = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{12,}\b|\d+(?:\.\d+)?",
    re.IGNORECASE,
)
_ERRORISH_QUERY = re.compile(
    r"5\.\.|5xx|\b5\d\d\b|error|fail|restart|oom|throttl|unavailable|not_?ready|evict", re.IGNORECASE
)
_SERIES_LABEL = re.compile(r'(\w+)="([^"]*)"')
_OP_ERRORS_HEADER = re.compile(r"^SERVICE\s+OPERATION\s+SPANS\s+ERRORS")
_BREAKDOWN = re.compile(r"^(time on the wire|self time) p50 \(ms\) by \w+: (.*)$")
_BREAKDOWN_ITEM = re.compile(r"([\w.-]+)=([\d.]+)")
_DESCRIBE_STATE = re.compile(r"^State:\s+(Waiting|Terminated)\s*(.*)$")
_DESCRIBE_LAST = re.compile(r"^Last State:\s+Terminated\s+(\S*)\s*\(exit code (-?\d+|None)")
_DESCRIBE_EXIT = re.compile(r"^Exit Code:\s*(-?\d+)")
_DESCRIBE_REPLICAS = re.compile(
    r"^Replicas:\s+(\d+) desired \|.*\| (\d+) available \| (\d+) unavailable", re.IGNORECASE
)
_DESCRIBE_EVENT = re.compile(r"^Warning\s+(\S+)\s+(.*)$")
_DESCRIBE_CONDITION = re.compile(r"^(\w+):\s+(True|False|Unknown)\b\s*(.*)$")
_DESCRIBE_CONTAINER = re.compile(r"^  ([\w.-]+):\s*$")


def squeeze(text: str, limit: int = LINE_CHARS) -> str:
    """Collapse runs of whitespace and cut to ``limit`` characters (with an ellipsis when cut)."""
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _lines(output: str) -> list[str]:
    return [ln for ln in output[:MAX_INPUT_CHARS].splitlines()[:MAX_INPUT_LINES] if not _TRUNCATION.match(ln)]


def _finish(found: list[tuple[int, str]], max_lines: int, max_chars: int) -> list[str]:
    """Rank (stable, highest score first), drop repeats, then fit the line and character budgets."""
    if max_lines <= 0 or max_chars <= 0:
        return []
    ranked = [text for _, (_, text) in sorted(enumerate(found), key=lambda it: (-it[1][0], it[0]))]
    unique: list[str] = []
    seen: set[str] = set()
    for text in ranked:
        line = squeeze(text)
        if line and line not in seen:
            seen.add(line)
            unique.append(line)
    count = min(max_lines, len(unique))
    while count > 1 and _room(max_chars, count, len(unique)) // count < MIN_LINE_CHARS:
        count -= 1  # fewer, readable lines rather than many stubs
    left = len(unique) - count
    budget = _room(max_chars, count, len(unique))
    chosen = unique[:count]
    cap = _water_level(sorted(len(line) for line in chosen), budget)  # short lines leave room to long
    kept = [squeeze(line, cap) for line in chosen] if cap >= 2 else []
    if kept and left and len(kept) == count:
        kept[-1] += f" (+{left} more)"
    return kept


def _water_level(lengths: list[int], budget: int) -> int:
    """The largest per-line cap such that the capped ascending ``lengths`` fit in ``budget``."""
    remaining = budget
    for k, length in enumerate(lengths):
        if length * (len(lengths) - k) > remaining:
            return min(LINE_CHARS, remaining // (len(lengths) - k))
        remaining -= length
    return LINE_CHARS


def _room(max_chars: int, count: int, total: int) -> int:
    """Characters left for ``count`` lines once separators and the ``(+N more)`` suffix are paid."""
    left = total - count
    return max_chars - 2 * (count - 1) - (len(f" (+{left} more)") if left else 0)


# --- kubectl get tables --------------------------------------------------------------------------


def _table(lines: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Headers and rows of a left-aligned table, cells sliced at the header's column starts."""
    header_index = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_index is None:
        return [], []
    header = lines[header_index]
    starts = [m.start(1) for m in _COLUMN_START.finditer(header)]
    if len(starts) < 2:
        return [], []
    names = [header[a:b].strip().upper() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    rows = []
    for line in lines[header_index + 1 :]:
        if not line.strip():
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return names, rows


def table_rows(output: str) -> list[dict[str, str]]:
    """The rows of a ``get_*`` table as ``{HEADER: cell}`` (``[]`` for anything else)."""
    return _table(_lines(output))[1] if isinstance(output, str) else []


def _ready(value: str) -> tuple[int, int] | None:
    match = _READY.match(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _table_row(row: dict[str, str]) -> tuple[int, str] | None:
    score = 0
    parts: list[str] = []
    ready = _ready(row.get("READY", ""))
    status = row.get("STATUS", "")
    finished = status.lower() in ("completed", "succeeded")
    if ready is not None:
        if ready[0] < ready[1] and not finished:
            score = max(score, 3)
        elif ready[1] == 0 and "STATUS" not in row:
            score = max(score, 2)
            parts.append("(0 desired)")
        parts.insert(0, row["READY"])
    words = [w for w in _STATUS_WORDS.split(status) if w]
    if status and any(w.lower() not in HEALTHY_STATUSES for w in words):
        score = max(score, 4 if _CRASH_STATUS.search(status) else 3)
        parts.append(status)
    restarts = row.get("RESTARTS", "")
    count = _LEADING_INT.match(restarts)
    if count and int(count.group(1)) > 0:
        score = max(score, 1)
        last = _LAST_REASON.search(restarts)
        parts.append(f"restarts={count.group(1)}" + (f" last={last.group(1)}" if last else ""))
    if row.get("ENDPOINTS") == "<none>":
        score = max(score, 3)
        parts.append("endpoints=<none>")
        if row.get("NOT-READY", "-") not in ("-", ""):
            parts.append(f"not-ready={row['NOT-READY']}")
    if row.get("AVAILABLE") == "0" and ready is not None and ready[1] > 0 and score < 3:
        score = max(score, 3)
        parts.append("available=0")
    pressure = row.get("PRESSURE", "-")
    if pressure not in ("-", "", "<none>"):
        score = max(score, 3)
        parts.append(f"pressure={pressure}")
    if score == 0:
        return None
    name = row.get("NAME", "?")
    if row.get("NAMESPACE"):
        name = f"{row['NAMESPACE']}/{name}"
    return score, " ".join([name, *parts])


def _tables(output: str) -> list[tuple[int, str]]:
    _, rows = _table(_lines(output))
    return [found for row in rows if (found := _table_row(row)) is not None]


# --- events ---------------------------------------------------------------------------------------


def _events(output: str) -> list[tuple[int, str]]:
    names, rows = _table(_lines(output))
    if "REASON" not in names:
        return []
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if "TYPE" in row and row["TYPE"].lower() == "normal":
            continue
        obj = row.get("OBJECT", "")
        short = obj.split("/", 1)[-1]
        message = row.get("MESSAGE", "").replace(short, "…") if short else row.get("MESSAGE", "")
        key = (row.get("REASON", ""), _VOLATILE.sub("#", message))
        groups.setdefault(key, []).append(f"{row.get('REASON', '')} {obj}: {row.get('MESSAGE', '')}")
    found = []
    for texts in groups.values():
        more = len(texts) - 1
        head = texts[0]
        if more:
            reason, rest = head.split(" ", 1) if " " in head else (head, "")
            obj, _, message = rest.partition(": ")
            head = f"{reason} {obj} (+{more} similar): {message}"
        found.append((2, head))
    return found


# --- logs -----------------------------------------------------------------------------------------


def _json_message(line: str) -> str:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return line
    if not isinstance(obj, dict):
        return line
    picked: list[str] = []

    def walk(node: object, depth: int = 0) -> None:
        if depth > 3 or not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in _JSON_FIELDS and isinstance(value, str | int) and str(value) not in picked:
                picked.append(str(value))
            elif isinstance(value, dict):
                walk(value, depth + 1)

    walk(obj)
    return " | ".join(picked) if picked else line


def _logs(output: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for raw in _lines(output):
        line = raw.strip()
        if not line or line.startswith("# logs of pod"):
            continue
        if not (_LOG_FATAL.search(line) or _LOG_ERROR.search(line)):
            continue
        repeat = _COUNT_SUFFIX.search(line)
        body = line[: repeat.start()] if repeat else line
        if body.startswith("{"):
            body = _json_message(body)
        body = _LOG_LEADING_STAMP.sub("", body)
        signature = _VOLATILE.sub("#", body)
        if signature in seen:
            continue
        seen.add(signature)
        score = 3 if _LOG_FATAL.search(line) else 2
        count = f" [×{repeat.group(1)}]" if repeat else ""
        text = squeeze(body, LINE_CHARS - len(count)) + count
        found.append((score, text))
    return found


# --- describe -------------------------------------------------------------------------------------


def _describe(output: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    container = ""
    section = ""
    for raw in _lines(output):
        stripped = raw.strip()
        if not stripped:
            continue
        if not raw.startswith(" "):
            section = stripped.split(":", 1)[0]
        elif section == "Containers" and (m := _DESCRIBE_CONTAINER.match(raw)):
            container = m.group(1)
        where = f"{container}: " if container and section == "Containers" else ""
        if section == "Status" and not raw.startswith(" "):
            value = stripped.split(":", 1)[1].strip()
            if value.lower() not in HEALTHY_STATUSES:
                found.append((2, f"Status: {value}"))
        elif section == "Scheduling":
            found.append((4, f"Scheduling: {stripped.split(':', 1)[1].strip()}"))
        elif section == "Replicas" and (m := _DESCRIBE_REPLICAS.match(stripped)):
            desired, available, unavailable = (int(g) for g in m.groups())
            if unavailable > 0 or available < desired:
                found.append((3, f"replicas: {available}/{desired} available, {unavailable} unavailable"))
            elif desired == 0:
                found.append((2, "replicas: 0 desired"))
        elif section == "Endpoints" and stripped.split(":", 1)[1].strip() == "<none>":
            found.append((3, "Endpoints: <none>"))
        elif section == "Unschedulable" and stripped.split(":", 1)[1].strip().lower() == "true":
            found.append((3, "Unschedulable: true (cordoned)"))
        elif m := _DESCRIBE_STATE.match(stripped):
            reason = m.group(2).strip()
            if reason and reason.lower() != "completed":
                found.append((4, f"{where}{m.group(1)} {reason}"))
        elif m := _DESCRIBE_LAST.match(stripped):
            reason, code = m.group(1), m.group(2)
            if code != "0" or reason.lower() not in ("completed", ""):
                score = 4 if "oom" in reason.lower() else 3
                found.append(
                    (score, f"{where}last terminated {reason} (exit code {code})".replace("  ", " "))
                )
        elif m := _DESCRIBE_EXIT.match(stripped):
            if m.group(1) != "0":
                found.append((3, f"{where}exit code {m.group(1)}"))
        elif section == "Conditions" and (m := _DESCRIBE_CONDITION.match(stripped)):
            kind, value, rest = m.groups()
            bad = (value == "True" and ("Pressure" in kind or kind == "NetworkUnavailable")) or (
                value != "True"
                and kind in ("Available", "Ready", "PodScheduled", "Progressing")
                and "ContainersNotReady" not in rest
            )
            if bad:
                found.append((4 if kind == "Ready" else 2, f"{kind}: {value} {rest}"))
        elif section == "Events" and (m := _DESCRIBE_EVENT.match(stripped)):
            head = m.group(2)[:40]
            if not any(head in text for _, text in found):  # e.g. the Scheduling: line above
                found.append((3, f"event {m.group(1)}: {m.group(2)}"))
        elif "OOMKilled" in stripped:
            found.append((4, f"{where}OOMKilled"))
    return found


# --- metrics and traces ---------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN is not a number to rank


def _series_name(label: str) -> str:
    pairs = _SERIES_LABEL.findall(label)
    if not pairs:
        return label
    name = label.split("{", 1)[0]
    return (name + " " if name else "") + ",".join(f"{k}={v}" for k, v in pairs)


def _standout(values: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The largest entry when it is at least STANDOUT_FACTOR times the next largest (3+ entries)."""
    ranked = sorted(values, key=lambda v: -v[0])
    if len(ranked) >= 3 and ranked[0][0] > 0 and ranked[0][0] >= STANDOUT_FACTOR * max(ranked[1][0], 1e-12):
        return ranked[:1]
    return []


def _metrics(output: str, invocation: str) -> list[tuple[int, str]]:
    names, rows = _table(_lines(output))
    if "SERIES" not in names:
        return []
    value_column = "LAST" if "LAST" in names else "VALUE"
    values: list[tuple[float, str]] = []
    errorish = bool(_ERRORISH_QUERY.search(invocation))
    for row in rows:
        label = row.get("SERIES", "")
        value = _number(row.get(value_column, ""))
        peak = _number(row.get("MAX", "")) if "MAX" in row else value
        if value is None and peak is None:
            continue
        shown = f"{_series_name(label)} {row.get(value_column, '')}"
        if "MAX" in row and peak != value:
            shown += f" (max {row.get('MAX')})"
        values.append((max(value or 0.0, peak or 0.0), shown))
        errorish = errorish or bool(_ERRORISH_QUERY.search(label))
    if errorish:
        return [(3, text) for v, text in sorted(values, key=lambda v: -v[0]) if v > 0]
    return [(2, f"stands out: {text}") for _, text in _standout(values)] + _risen(rows)


def _risen(rows: list[dict[str, str]]) -> list[tuple[int, str]]:
    """Series of a range query whose LAST is at least RISE_FACTOR times their own MIN, steepest first."""
    rises: list[tuple[float, str]] = []
    for row in rows:
        low, last = _number(row.get("MIN", "")), _number(row.get("LAST", ""))
        if low is None or last is None or low <= 0 or last < RISE_FACTOR * low:
            continue
        name = _series_name(row.get("SERIES", ""))
        ratio = last / low
        rises.append((ratio, f"rose: {name} {row['MIN']} → {row['LAST']} ({ratio:.1f}x in the window)"))
    return [(2, text) for _, text in sorted(rises, key=lambda r: -r[0])]


def _traces(output: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    lines = _lines(output)
    section = ""
    op_rows: list[tuple[int, str]] = []
    header = next((i for i, ln in enumerate(lines) if _OP_ERRORS_HEADER.match(ln)), None)
    if header is not None:
        _, rows = _table(lines[header:])
        for row in rows:
            errors = _LEADING_INT.match(row.get("ERRORS", ""))
            if row.get("SERVICE") and errors and int(errors.group(1)) > 0:
                op_rows.append(
                    (
                        int(errors.group(1)),
                        f"{row['SERVICE']} {row.get('OPERATION', '')} errors={errors.group(1)}/"
                        f"{row.get('SPANS', '?')}",
                    )
                )
    for line in lines:
        if line.startswith("failed calls"):
            section = "failed call"
        elif line.startswith("error origins"):
            section = "error origin"
        elif line.startswith("  ") and section:
            found.append((4, f"{section} {line.strip()}"))
        elif m := _BREAKDOWN.match(line):
            section = ""
            items = [(float(v), k) for k, v in _BREAKDOWN_ITEM.findall(m.group(2))]
            for value, name in _standout([(v, k) for v, k in items]):
                if value >= 10.0:  # ms: below that, nothing a user would notice
                    found.append((3, f"{m.group(1)} p50 stands out: {name}={value:g}ms"))
        elif not line.startswith(" "):
            section = ""
    found += [(3, text) for _, text in sorted(op_rows, key=lambda r: -r[0])]
    return found


# --- entry point ----------------------------------------------------------------------------------

_RULES: dict[str, Callable[[str], list[tuple[int, str]]]] = {
    "get_events": _events,
    "get_logs": _logs,
    "get_traces": _traces,
}
_TABLE_TOOLS = frozenset(
    {
        "get_pods",
        "get_deployments",
        "get_statefulsets",
        "get_replicasets",
        "get_daemonsets",
        "get_endpoints",
        "get_nodes",
        "get_pvcs",
        "get_pvs",
        "get_namespaces",
    }
)


def notable_lines(
    tool: str, output: str, *, max_lines: int = 3, max_chars: int = 200, invocation: str = ""
) -> list[str]:
    """Up to ``max_lines`` short findings of one tool output, most important first (``[]`` if none).

    ``invocation`` (optional) is the call as shown to the model, e.g. the PromQL query: it tells an
    error-rate query from a latency one.
    """
    try:
        if not output or not isinstance(output, str):
            return []
        if tool in _RULES:
            found = _RULES[tool](output)
        elif tool in _TABLE_TOOLS or tool.startswith(
            ("get_statefulsets", "get_replicasets", "get_daemonsets")
        ):
            found = _tables(output)
        elif tool.startswith("describe_"):
            found = _describe(output)
        elif tool == "query_metrics":
            found = _metrics(output, invocation or "")
        else:
            return []
        return _finish(found, max_lines, max_chars)
    except Exception:  # memory must never fail an investigation over odd text
        return []
