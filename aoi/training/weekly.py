"""The weekly retrain: export → evolve → train → evaluate on held-out faults → gate → hot-load → announce.

One pass (:func:`run_weekly`):

1. export the window's investigations and feedback from the store (``aoi.store.export``);
2. run the Evolver on its failures (guidance notes + corrective rows), when a guidance library is given;
3. build the GRPO rows (simulator expert rows + confirmed production rows + corrective rows; saved and
   hashed) and train: GRPO continues the promoted adapter, or starts from an SFT warm start when none
   is promoted yet; then KTO on the thumbs rows when both labels are present;
4. evaluate the candidate and the current model (the promoted adapter, or the base model) on the
   held-out problems with the same k;
5. promote only if the candidate's avg@k beats the current one's by ``margin``, else keep the current
   model and say why; a promoted adapter is hot-loaded into vLLM (``/v1/load_lora_adapter``);
6. announce the result with a chart through the ``announce(text, png_path)`` callable the composition
   root provides (training never talks to Slack itself).

Scheduling: :func:`add_weekly_job` puts the pass on an APScheduler 3 scheduler with a crontab
(``AOI_RETRAIN_CRON``), a fixed job id and ``replace_existing``; run it in one process only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aoi.agents.observer import Budget
from aoi.agents.tools.base import ToolSpec
from aoi.sim import Problem
from aoi.store.db import Store
from aoi.store.export import export_training_data, read_export
from aoi.training.charts import comparison, learning_curves
from aoi.training.config import GrpoSettings, KtoSettings, SftSettings
from aoi.training.datasets import PromptRenderer, Row, save_dataset
from aoi.training.evolve_job import run_evolver
from aoi.training.guidance import GuidanceLibrary
from aoi.training.pipeline import EvalScore, Trained, evaluate_local, run_grpo, run_kto, run_sft
from aoi.training.production import failure_cases, kto_rows, production_step_rows
from aoi.training.registry import ModelRegistry
from aoi.training.vllm_client import VLLM_LORA_NAME, VllmAdapterClient, VllmAdapterError

log = logging.getLogger(__name__)

WEEKLY_JOB_ID = "aoi-weekly-retrain"
Announce = Callable[[str, Path | None], None]
Evaluate = Callable[[str, Path | None], EvalScore]


@dataclass
class WeeklyConfig:
    """What one pass trains and how it decides. Settings are templates: output dirs are set per run."""

    data_dir: Path
    base_model: Path
    grpo: GrpoSettings
    sft: SftSettings | None = None
    kto: KtoSettings | None = None
    window_days: int = 7
    margin: float = 0.02
    eval_k: int = 1
    eval_budget: Budget = field(default_factory=lambda: Budget(max_steps=12, deadline_s=1800.0))
    eval_max_new_tokens: int = 192
    vllm_lora_name: str = VLLM_LORA_NAME


@dataclass
class WeeklyReport:
    started_at: str
    window: list[str]
    run_dir: str
    counts: dict[str, int] = field(default_factory=dict)
    trained: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] | None = None
    candidate: dict[str, Any] | None = None
    promoted: bool = False
    decision: str = ""
    hot_load: str | None = None
    chart: str | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _settings(template: Any, output_dir: Path, base: Path, init: Path | None) -> Any:
    return dataclasses.replace(template, output_dir=output_dir, base_model=base, init_adapter=init)


def decide(candidate: EvalScore, current: EvalScore, margin: float) -> tuple[bool, str]:
    """The promotion gate: avg@k must improve by ``margin`` (absolute); the reason is always given."""
    gain = candidate.avg_at_k - current.avg_at_k
    if gain >= margin:
        return True, (
            f"promoted: avg@{candidate.k} {candidate.avg_at_k:.3f} vs {current.avg_at_k:.3f} "
            f"({gain:+.3f} ≥ margin {margin:.3f})"
        )
    return False, (
        f"kept the current model: the candidate's avg@{candidate.k} {candidate.avg_at_k:.3f} vs "
        f"{current.avg_at_k:.3f} ({gain:+.3f}) is not better by the margin {margin:.3f}"
    )


def run_weekly(
    store: Store,
    registry: ModelRegistry,
    config: WeeklyConfig,
    *,
    expert_rows: Callable[[], list[Row]],
    tools: Sequence[ToolSpec],
    render: PromptRenderer,
    heldout: Sequence[Problem],
    train_problems: Mapping[str, Problem] | None = None,
    evaluate: Evaluate | None = None,
    library: GuidanceLibrary | None = None,
    announce: Announce | None = None,
    vllm: VllmAdapterClient | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WeeklyReport:
    """One weekly pass (see the module docstring). Raises only if training itself fails."""
    now = clock()
    since = now - timedelta(days=config.window_days)
    run_dir = config.data_dir / "runs" / f"weekly-{now:%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    report = WeeklyReport(now.isoformat(), [since.isoformat(), now.isoformat()], str(run_dir))

    export = run_dir / "export.jsonl"
    export_training_data(store, export, since=since, until=now)
    bundle = read_export(export)
    datasets = config.data_dir / "datasets"
    corrective_sft: list[Row] = []
    corrective_kto: list[Row] = []
    if library is not None:
        evolved = run_evolver(
            failure_cases(bundle), library=library, tools=tools, render=render, datasets_dir=None
        )
        report.counts["guidance_filed"] = evolved.filed
        corrective_sft, corrective_kto = evolved.sft_rows, evolved.kto_rows
    grpo_rows = expert_rows() + production_step_rows(bundle, tools=tools, render=render) + corrective_sft
    thumbs = kto_rows(bundle, tools=tools, render=render) + corrective_kto
    report.counts.update(
        investigations=len(bundle.investigations),
        feedback=len(bundle.feedback),
        grpo_rows=len(grpo_rows),
        kto_rows=len(thumbs),
    )
    grpo_data = save_dataset(grpo_rows, datasets, "grpo")

    current_model = registry.current()
    current_adapter = (
        Path(current_model.adapter_path) if current_model and current_model.adapter_path else None
    )
    if current_model is not None and not current_model.trained_on(config.base_model):
        report.counts["base_changed"] = 1  # the promoted adapter belongs to another base: start afresh
        current_adapter = None
    elif current_adapter is not None and not current_adapter.is_dir():
        report.counts["promoted_adapter_missing"] = 1  # deleted on disk: nothing to continue from
        current_adapter = None
    init = current_adapter
    trained: list[Trained] = []
    if init is None and config.sft is not None:
        warm = run_sft(
            _settings(config.sft, run_dir / "sft", config.base_model, None),
            grpo_rows,
            grpo_data.hash,
            registry,
        )
        trained.append(warm)
        init = warm.result.adapter_dir
    grpo_settings = _settings(config.grpo, run_dir / "grpo", config.base_model, init)
    grpo = run_grpo(grpo_settings, grpo_rows, grpo_data.hash, registry, problems=train_problems)
    trained.append(grpo)
    if config.kto is not None and {bool(r["label"]) for r in thumbs} == {True, False}:
        kto_data = save_dataset(thumbs, datasets, "kto")
        kto_settings = _settings(config.kto, run_dir / "kto", config.base_model, grpo.result.adapter_dir)
        trained.append(run_kto(kto_settings, thumbs, kto_data.hash, registry))
    report.trained = [t.to_json() for t in trained]
    candidate_model = trained[-1].model
    assert candidate_model is not None  # a registry was given

    evaluate = evaluate or _default_evaluate(config, heldout)
    # the bar to beat is what can be served on this base: the promoted adapter when it fits it, else
    # the base model alone (an adapter of another base would not load, or would score nonsense)
    current = evaluate(
        current_model.version if current_model and current_adapter else "base", current_adapter
    )
    candidate = evaluate(candidate_model.version, Path(candidate_model.adapter_path or ""))
    report.current, report.candidate = current.to_json(), candidate.to_json()
    report.promoted, report.decision = decide(candidate, current, config.margin)
    if report.promoted:
        registry.promote(candidate_model.id, actor="retrain-job")
        if vllm is not None:
            try:
                vllm.load_adapter(config.vllm_lora_name, str(candidate_model.adapter_path))
                report.hot_load = f"loaded into vLLM as {config.vllm_lora_name!r}"
            except VllmAdapterError as exc:
                report.hot_load = f"hot-load failed (promoted in the registry anyway): {exc}"

    chart = comparison(
        run_dir / "weekly.png",
        {
            f"current ({current.label})": current.to_json(),
            f"candidate ({candidate.label})": candidate.to_json(),
        },
        ("avg_at_k", "best_at_k", "valid_step_rate"),
        "weekly retrain: held-out problems",
    )
    learning_curves(run_dir / "grpo-curve.png", {"grpo": grpo.result.log_history}, ("reward", "loss"), "GRPO")
    report.chart = str(chart)
    report.message = _message(report, candidate_model.version)
    (run_dir / "weekly.json").write_text(json.dumps(report.to_json(), indent=2, default=str))
    if announce is not None:
        announce(report.message, chart)
    return report


def _message(report: WeeklyReport, version: str) -> str:
    counts = report.counts
    lines = [
        f":robot_face: Weekly retrain {'→ promoted ' + version if report.promoted else '— no change'}",
        report.decision,
        f"data: {counts.get('investigations', 0)} investigations, {counts.get('feedback', 0)} feedback, "
        f"{counts.get('grpo_rows', 0)} GRPO rows, {counts.get('kto_rows', 0)} KTO rows",
    ]
    if report.candidate and report.current:
        before, after = report.current["valid_step_rate"], report.candidate["valid_step_rate"]
        lines.append(f"valid steps: {before:.0%} → {after:.0%}")
    if report.hot_load:
        lines.append(report.hot_load)
    return "\n".join(lines)


def _default_evaluate(config: WeeklyConfig, heldout: Sequence[Problem]) -> Evaluate:
    def evaluate(label: str, adapter: Path | None) -> EvalScore:
        return evaluate_local(
            label,
            heldout,
            base_model=config.base_model,
            adapter=adapter,
            k=config.eval_k,
            budget=config.eval_budget,
            max_new_tokens=config.eval_max_new_tokens,
        )

    return evaluate


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _day(text: str) -> int:
    """A day of the week: 0-7, a three-letter name or a full name (``monkey`` is not Monday)."""
    if text in _DAYS:
        return _DAYS.index(text)
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"day-of-week {text!r} is not a day (0-7, sun-sat or sunday-saturday)") from None


def _crontab_days(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, names allowed) as APScheduler day names.

    Needed because APScheduler 3's ``CronTrigger.from_crontab`` keeps the numbers but counts from
    Monday, so ``0 3 * * 1`` would fire on Tuesdays.
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part == "*":
            low, high = 0, 6
        else:
            low_text, _, high_text = part.partition("-")
            low = _day(low_text)
            high = _day(high_text) if high_text else low
            if step_text and not high_text:
                high = 7 if low_text else 6
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high and step >= 1):
            raise ValueError(f"day-of-week {item!r} is out of range (0-7, 0 and 7 are Sunday)")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def crontab_trigger(cron: str) -> Any:
    """An APScheduler trigger (UTC) with standard crontab semantics for ``m h dom mon dow``.

    Two differences from APScheduler's own cron are bridged: day-of-week numbers count from Sunday
    (``_crontab_days``), and when both day-of-month and day-of-week are restricted a day matching
    *either* fires, as cron(8) says (``0 3 1 * 1``: every Monday and every 1st), where APScheduler
    would need both. A schedule that can never fire (``0 3 31 2 *``) is refused rather than
    waited on forever."""
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"AOI_RETRAIN_CRON {cron!r} is not a crontab: expected 5 fields, e.g. '0 3 * * 1'")
    minute, hour, day, month, dow = fields
    try:
        days = _crontab_days(dow)
        common = {"minute": minute, "hour": hour, "month": month, "timezone": "UTC"}
        trigger: Any = CronTrigger(day=day, day_of_week=days, **common)
        if day != "*" and dow != "*":
            trigger = OrTrigger([CronTrigger(day=day, **common), CronTrigger(day_of_week=days, **common)])
    except ValueError as exc:
        raise ValueError(f"AOI_RETRAIN_CRON {cron!r} is not a crontab (e.g. '0 3 * * 1'): {exc}") from exc
    if next_run(trigger) is None:
        raise ValueError(f"AOI_RETRAIN_CRON {cron!r} never fires (no such date): e.g. '0 3 * * 1'")
    return trigger


def next_run(trigger: Any, after: datetime | None = None) -> datetime | None:
    """When ``trigger`` fires next after ``after`` (default: now), or None if it never does."""
    fire: datetime | None = trigger.get_next_fire_time(None, after or datetime.now(UTC))
    return fire


def latest_fire(cron: str, now: datetime | None = None) -> datetime:
    """The newest time ``cron`` fired at or before ``now``: the fire a (possibly late) run belongs to,
    so that schedulers in several processes can agree on which one it is."""
    trigger = crontab_trigger(cron)
    now = now or datetime.now(UTC)
    for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=400)):
        fire = next_run(trigger, now - window)  # the smallest window with a fire keeps the walk short
        latest = None
        while fire is not None and fire <= now:
            latest, fire = fire, next_run(trigger, fire + timedelta(seconds=1))
        if latest is not None:
            return latest
    raise ValueError(f"AOI_RETRAIN_CRON {cron!r} has not fired in the last 400 days")


def add_weekly_job(scheduler: Any, cron: str, func: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """Schedule ``func`` (a ``"module:function"`` reference) on ``cron`` (crontab, UTC) with a fixed id."""
    trigger = crontab_trigger(cron)
    if ":" not in func:
        raise ValueError(f"job reference {func!r} must be 'module:function'")
    return scheduler.add_job(
        func,
        trigger,
        id=WEEKLY_JOB_ID,
        name="AOI weekly retrain",
        kwargs=dict(kwargs or {}),
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,
    )
