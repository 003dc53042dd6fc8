"""Step-level training rows from trajectories, versioned by a content hash.

A row is one decision: the prompt the model planner would have been shown at that point (rendered by
the planners' own prompt code from a ``PlannerContext`` rebuilt out of the trajectory) and the step
the expert took next. Rows are plain JSON::

    {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
     "completion": [{"role": "assistant", "content": "<step JSON>"}],
     "expert_step": "<step JSON>", "step_index": 0, "n_steps": 5, "tool_names": [...],
     "problem_id": "...", "task": "...", "trajectory_id": "...", "source": "expert"}

``prompt``/``completion`` feed SFT, ``prompt`` + the other columns feed GRPO's rewards, and KTO rows
add ``label``. A dataset is saved as ``<kind>-<hash>.jsonl`` plus a manifest; the hash (SHA-256 of
the canonical rows) is what the registry records, so a model can be traced to its exact data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aoi.agents.memory import build_memory
from aoi.agents.planners.base import BudgetLeft, HistoryItem, PlannerContext
from aoi.agents.records import Step, Trajectory, TrajectoryStep
from aoi.agents.tools.base import ToolSpec
from aoi.training.purify import purify

Message = dict[str, str]
PromptRenderer = Callable[[PlannerContext], list[Message]]
Row = dict[str, Any]

DEFAULT_STEP_BUDGET = 25
TEXT_CHARS = 120  # summary/reasoning are clipped: a small model's completions must stay short


def planner_renderer(planner: Any) -> PromptRenderer:
    """The exact prompt a model planner renders (its template, verbs and tool format)."""
    from aoi.agents.planners.prompt import render_messages

    def render(context: PlannerContext) -> list[Message]:
        return render_messages(planner.template, context, planner.verbs, planner.tool_format)

    return render


def default_renderer(model_dir: Path | None = None) -> PromptRenderer:
    """The ``local`` planner's prompt (the model we train is served by it): compact tools and verbs.

    Building a ``LocalPlanner`` only resolves where its model is (nothing is loaded); ``model_dir``
    defaults to the packaged SmolLM2.
    """
    from aoi.agents.planners.local_planner import LocalPlanner

    return planner_renderer(LocalPlanner(model_path=model_dir))


def default_tool_specs() -> list[ToolSpec]:
    """The Observer's standard read tools (what a production investigation was given)."""
    from aoi.agents.tools import READ_TOOLS

    return [definition.bind(None).spec for definition in READ_TOOLS]


def _shorten(value: Any, summary: str) -> Any:
    """Clip long free text; blank nested copies of the step's summary (experts often repeat it as the
    reasoning, the diagnosis summary and every rationale)."""
    if isinstance(value, str):
        if summary and value == summary:
            return ""
        return value if len(value) <= TEXT_CHARS else value[: TEXT_CHARS - 1] + "…"
    if isinstance(value, dict):
        return {k: _shorten(v, summary) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, summary) for v in value]
    return value


def step_json(step: Step) -> str:
    """The completion text: compact JSON of the step — long free text clipped, repeats of the summary
    blanked, a ``null`` tool and an empty reasoning dropped, a submission's ``evidence`` citations left
    out — so a small model's answer stays short. Still a valid step: the
    Observer falls back to the step summary wherever a nested summary or rationale is empty."""
    data = step.model_dump(mode="json")
    summary = data["summary"]
    data = {k: (_shorten(v, summary) if k != "summary" else _shorten(v, "")) for k, v in data.items()}
    if data.get("tool") is None:
        data.pop("tool", None)
    if not data.get("reasoning"):
        data.pop("reasoning", None)
    if data["action_type"] == "submit" and isinstance(data.get("args"), dict):
        # the expert's evidence citations and blanked repeats are not part of the step schema
        data["args"] = {k: v for k, v in data["args"].items() if k != "evidence" and v != ""}
    return json.dumps(data, ensure_ascii=False)


def context_at(
    trajectory: Trajectory,
    history: Sequence[TrajectoryStep],
    tools: Sequence[ToolSpec],
    guidance: Sequence[str] = (),
    step_budget: int = DEFAULT_STEP_BUDGET,
) -> PlannerContext:
    """The PlannerContext the Observer builds after ``history`` (same memory, same budget shape)."""
    items = [HistoryItem(index=s.index, step=s.step, result=s.result) for s in history]
    return PlannerContext(
        incident=trajectory.incident,
        task=trajectory.task,  # type: ignore[arg-type]
        tools=list(tools),
        history=items,
        memory=build_memory(items),
        guidance=list(guidance),
        budget_left=BudgetLeft(steps=max(1, step_budget - len(items)), tokens=200_000, seconds=120.0),
    )


def _row(
    trajectory: Trajectory,
    steps: Sequence[TrajectoryStep],
    position: int,
    tools: Sequence[ToolSpec],
    render: PromptRenderer,
    source: str,
    guidance: Sequence[str],
    step_budget: int = DEFAULT_STEP_BUDGET,
) -> Row:
    target = steps[position].step
    text = step_json(target)
    return {
        "prompt": render(context_at(trajectory, steps[:position], tools, guidance, step_budget)),
        "completion": [{"role": "assistant", "content": text}],
        "expert_step": text,
        "step_index": position,
        "n_steps": len(steps),
        "tool_names": [t.name for t in tools],
        "problem_id": trajectory.problem_id or "",
        "task": trajectory.task or "",
        "trajectory_id": trajectory.id,
        "source": source,
    }


def step_rows(
    trajectory: Trajectory,
    *,
    tools: Sequence[ToolSpec],
    render: PromptRenderer,
    source: str = "expert",
    guidance: Sequence[str] = (),
    purified: bool = True,
    step_budget: int = DEFAULT_STEP_BUDGET,
) -> list[Row]:
    """One row per step of the (purified) trajectory: context so far → the next step.

    ``step_budget`` is the budget the trajectory ran under: each prompt shows the steps left, as
    the Observer showed them, so a student learns to conclude when its own budget runs low."""
    steps = purify(trajectory).kept if purified else list(trajectory.steps)
    return [
        _row(trajectory, steps, i, tools, render, source, guidance, step_budget) for i in range(len(steps))
    ]


def kto_row(
    trajectory: Trajectory,
    position: int,
    label: bool,
    *,
    tools: Sequence[ToolSpec],
    render: PromptRenderer,
    source: str,
) -> Row:
    """A KTO row for the step at ``position`` of the trajectory *as it ran* (the context it really saw)."""
    row = _row(trajectory, trajectory.steps, position, tools, render, source, ())
    row["label"] = bool(label)
    return row


# Provenance, not content: a trajectory's id is a fresh UUID per run, so hashing it would give the
# same rows rebuilt from the same expert runs a new "version" every time.
PROVENANCE_KEYS = frozenset({"trajectory_id"})


def _canonical(rows: Iterable[Mapping[str, Any]], skip: frozenset[str] = frozenset()) -> Iterable[bytes]:
    for row in rows:
        kept = {k: v for k, v in row.items() if k not in skip} if skip else row
        yield json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _sha16(lines: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line)
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def dataset_hash(rows: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical JSON lines (order matters) without provenance keys, first 16 hex
    digits: equal training content gives an equal version, whichever runs it was cut from."""
    return _sha16(_canonical(rows, PROVENANCE_KEYS))


@dataclass(frozen=True)
class SavedDataset:
    kind: str
    hash: str
    path: Path
    rows: int


def save_dataset(
    rows: Sequence[Mapping[str, Any]], folder: Path, kind: str, meta: Mapping[str, Any] | None = None
) -> SavedDataset:
    """Write ``<folder>/<kind>-<hash>.jsonl`` and its ``.json`` manifest (idempotent for equal rows)."""
    if not rows:
        raise ValueError(f"refusing to save an empty {kind!r} dataset: there is nothing to train on")
    digest = dataset_hash(rows)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{digest}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".jsonl.partial")
        partial.write_bytes(b"".join(line + b"\n" for line in _canonical(rows)))
        partial.rename(path)
    manifest = {
        "kind": kind,
        "hash": digest,
        "rows": len(rows),
        "created_at": datetime.now(UTC).isoformat(),
        "sources": sorted({str(r.get("source", "")) for r in rows}),
        **(meta or {}),
    }
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2, default=str))
    return SavedDataset(kind, digest, path, len(rows))


def load_dataset(path: Path) -> tuple[list[Row], str]:
    """Read a saved dataset back; the hash is recomputed so a tampered file is noticed."""
    rows: list[Row] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON row ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: a row must be a JSON object, got {type(row).__name__}")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: the dataset is empty (no rows)")
    digest = dataset_hash(rows)
    stem_hash = Path(path).stem.rsplit("-", 1)[-1]
    if stem_hash != digest and stem_hash == _sha16(_canonical(rows)):
        return rows, stem_hash  # saved before provenance left the hash: the registry knows it by this name
    if stem_hash != digest:
        raise ValueError(
            f"{path}: content hash {digest} does not match the file name's {stem_hash!r} (a saved dataset is "
            f"named <kind>-<content hash>.jsonl: edited since it was saved? a hand-made file can be named "
            f"{Path(path).stem.rsplit('-', 1)[0] if '-' in Path(path).stem else 'grpo'}-{digest}.jsonl)"
        )
    return rows, digest
