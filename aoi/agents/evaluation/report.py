"""The ``--report DIR`` of ``aoi eval``: a Markdown summary and PNG charts (matplotlib, Agg backend).

Charts: success by task type, success by fault type, and the distribution of steps and seconds per
investigation. The JSON of the run is written next to them so the report is reproducible.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from aoi.agents.evaluation.suite import EvalResult


def _bar_chart(path: Path, title: str, groups: dict[str, dict[str, Any]], k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(groups)
    best = [groups[n]["best_at_k"] for n in names]
    avg = [groups[n]["avg_at_k"] for n in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(names) + 2), 4.5))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], best, width=0.4, label=f"best@{k}")
    ax.bar([x + 0.2 for x in xs], avg, width=0.4, label=f"avg@{k}")
    ax.set_xticks(list(xs))
    crowded = len(names) > 5
    ax.set_xticklabels(names, rotation=45 if crowded else 0, ha="right" if crowded else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _steps_time_chart(path: Path, steps: list[int], seconds: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.hist(steps, bins=range(0, max(steps, default=1) + 2), color="tab:blue")
    left.set_xlabel("steps per investigation")
    left.set_ylabel("runs")
    right.hist(seconds, bins=20, color="tab:orange")
    right.set_xlabel("seconds per run")
    fig.suptitle("Steps and time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(groups: dict[str, dict[str, Any]], k: int, label: str) -> list[str]:
    lines = [f"| {label} | n | best@{k} | avg@{k} |", "|---|---:|---:|---:|"]
    for name, g in groups.items():
        lines.append(f"| {name} | {g['n']} | {g['best_at_k']:.3f} | {g['avg_at_k']:.3f} |")
    return lines


def write_report(result: EvalResult, directory: Path) -> list[Path]:
    """Write ``summary.md``, ``results.json`` and three PNG charts into ``directory``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    data = result.to_json()
    by_fault = result.by_fault()
    records = [r for rs in result.records.values() for r in rs]
    steps = [r.steps for r in records]
    seconds = [r.seconds for r in records]
    failures = [r for r in records if not r.success]
    names = ("summary.md", "results.json", "by_task.png", "by_fault.png", "steps_time.png")
    paths = [directory / name for name in names]
    paths[1].write_text(json.dumps(data, indent=2), encoding="utf-8")
    _bar_chart(paths[2], f"{result.planner} on {result.suite}: by task type", data["by_task"], result.k)
    _bar_chart(paths[3], f"{result.planner} on {result.suite}: by fault type", by_fault, result.k)
    _steps_time_chart(paths[4], steps, seconds)
    k = result.k
    lines = [
        f"# Evaluation: planner `{result.planner}` on suite `{result.suite}`",
        "",
        f"{data['n']} problems × k={k} runs on the AOI simulator.",
        "",
        f"- **best@{k}: {data['best_at_k']:.3f}**, avg@{k}: {data['avg_at_k']:.3f}, "
        f"std over runs: {data['std']:.3f}",
        f"- steps per investigation: median {statistics.median(steps) if steps else 0}, "
        f"max {max(steps, default=0)}",
        f"- seconds per run: median {statistics.median(seconds) if seconds else 0:.3f}, "
        f"total {sum(seconds):.1f}",
        f"- degraded (planner fell back): {sum(r.degraded for r in records)} runs",
        "",
        "## By task type",
        *_table(data["by_task"], k, "task"),
        "",
        "## By split",
        *_table(data["by_split"], k, "split"),
        "",
        "## By fault type",
        *_table(by_fault, k, "fault"),
        "",
        "![by task](by_task.png)",
        "![by fault](by_fault.png)",
        "![steps and time](steps_time.png)",
        "",
        "## Failed runs",
    ]
    if not failures:
        lines.append("None.")
    for r in sorted(failures, key=lambda r: (r.problem_id, r.run))[:200]:
        answer = r.diagnosis.get("faulty_components"), (r.diagnosis.get("root_cause") or {}).get("fault_type")
        why = r.error or json.dumps(r.grade_details, sort_keys=True)[:200]
        lines.append(f"- `{r.problem_id}` run {r.run}: answered {answer}; {why}")
    paths[0].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths
