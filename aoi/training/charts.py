"""PNG charts for training: learning curves from trl's log history and a before/after comparison.

matplotlib with the Agg backend (no display); every function writes one file and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(
    path: Path, histories: Mapping[str, Sequence[Mapping[str, Any]]], keys: Sequence[str], title: str
) -> Path:
    """One panel per metric key; one line per run (``histories``: run label → trl log history)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
    for axis, key in zip(axes[0], keys, strict=True):
        for label, history in histories.items():
            points = [(e["step"], e[key]) for e in history if key in e and "step" in e]
            if points:
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, marker=".", label=label)
        axis.set_title(key, fontsize=9)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if len(histories) > 1:
            axis.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def comparison(
    path: Path, scores: Mapping[str, Mapping[str, float]], metrics: Sequence[str], title: str
) -> Path:
    """Grouped bars: one group per metric, one bar per model (``scores``: label → metric → value)."""
    plt = _pyplot()
    labels = list(scores)
    width = 0.8 / max(1, len(labels))
    fig, axis = plt.subplots(figsize=(1.8 + 1.6 * len(metrics), 3.4))
    for i, label in enumerate(labels):
        xs = [m + i * width for m in range(len(metrics))]
        values = [float(scores[label].get(metric, 0.0)) for metric in metrics]
        bars = axis.bar(xs, values, width, label=label)
        axis.bar_label(bars, fmt="%.2f", fontsize=7)
    axis.set_xticks([m + width * (len(labels) - 1) / 2 for m in range(len(metrics))], list(metrics))
    axis.set_ylim(0, 1.05)
    axis.set_title(title)
    axis.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
