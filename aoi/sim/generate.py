"""Draw new problems over valid (fault, target, task) combinations.

Splits follow AOI's split by fault type: a (fault type, flag) pair is in the split the AIOpsLab suite
puts it in; fault types AIOpsLab does not have (ours) and unseen flags are held out (``test``).
Faults only a caller could notice (``observed_by: callers``, e.g. network delay or loss) are never
drawn on an entry service nothing inside the app calls: no signal would reach the Observer.
Generated problems carry ``expected`` (derived by the grader) and validate like any problem file.
"""

from __future__ import annotations

import random
from typing import Any

from aoi.sim.apps import APP_NAMES, load_app
from aoi.sim.errors import ProblemError
from aoi.sim.faults.catalogue import catalogue, observable_targets
from aoi.sim.grader import expected_answer
from aoi.sim.problems import TASKS, Problem, load_suite


def _key(fault_type: str, params: dict[str, Any]) -> str:
    return f"{fault_type}:{params.get('flag', '')}"


def split_of_fault_types() -> dict[str, str]:
    """(fault type, flag) key → split, from the AIOpsLab suite (``noop`` counts as both)."""
    out: dict[str, str] = {}
    for p in load_suite("aiopslab").values():
        if p.fault is not None:
            out[_key(p.fault.type, p.fault.params)] = p.split
    return out


def combinations(split: str | None = None) -> list[dict[str, Any]]:
    """Every valid {app, task, fault} combination (fault None = a healthy detection problem)."""
    splits = split_of_fault_types()
    combos: list[dict[str, Any]] = []
    for app_name in APP_NAMES:
        app = load_app(app_name)
        if split in (None, "train", "test"):
            combos.append({"app": app_name, "task": "detection", "fault": None, "split": split or "train"})
        for ftype, spec in catalogue().faults.items():
            if app_name not in spec.apps:
                continue
            targets: list[str | None] = (
                [None] if spec.targets == "none" else list(observable_targets(ftype, app_name))
            )
            for target in targets:
                param_sets: list[dict[str, Any]] = [{}]
                if "flag" in spec.params:
                    param_sets = [{"flag": f.flag} for f in app.feature_flags if f.service == target]
                for params in param_sets:
                    fault_split = splits.get(_key(ftype, params), "test")
                    if split is not None and fault_split != split:
                        continue
                    tasks = [
                        t
                        for t in TASKS
                        if not (t == "localization" and target is None)
                        and not (t == "mitigation" and spec.transient)
                    ]
                    for task in tasks:
                        combos.append(
                            {
                                "app": app_name,
                                "task": task,
                                "split": fault_split,
                                "fault": {"type": ftype, "target": target, "params": params},
                            }
                        )
    return combos


def generate_problems(n: int, seed: int, split: str | None = None) -> list[Problem]:
    """``n`` distinct problems drawn uniformly from ``combinations(split)`` with fresh seeds."""
    if n <= 0:
        raise ProblemError(f"--n must be a positive number of problems, got {n}")
    if split not in (None, "train", "test"):
        raise ProblemError(f"--split must be 'train' or 'test', got {split!r}")
    combos = combinations(split)
    rng = random.Random(seed)
    picks = rng.sample(combos, n) if n <= len(combos) else [rng.choice(combos) for _ in range(n)]
    problems = []
    for i, combo in enumerate(picks):
        fault = combo["fault"]
        name = (
            "noop"
            if fault is None
            else "-".join(x for x in (fault["type"], fault["target"], fault["params"].get("flag")) if x)
        )
        draft = Problem.model_validate(
            {**combo, "id": f"gen-{seed}-{i:04d}-{name}-{combo['task']}", "seed": rng.randrange(1_000_000)}
        )
        problems.append(draft.model_copy(update={"expected": expected_answer(draft)}))
    return problems
