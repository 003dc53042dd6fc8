"""``aoi train grpo|kto|weekly``: train LoRA adapters for the ``local`` planner and register them.

This module is the composition root of the learning loop: it reads settings, opens the store and the
registry, builds datasets (simulator expert rows on the train split, production rows, Evolver rows),
and hands plain objects to ``aoi.training``. The weekly job's scheduler entry point
(:func:`weekly_job`, job reference ``aoi.bot.commands.train:weekly_job``) lives here for the same
reason: only ``aoi.bot`` may talk to Slack (the announcement).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from aoi.bot.commands.data import parse_when
from aoi.bot.commands.models import fail, open_registry, open_store, registry_root
from aoi.bot.settings import Settings, get_settings
from aoi.store import StoreError

app = typer.Typer(help="Train LoRA adapters (GRPO, KTO) and run the weekly retrain.", no_args_is_help=True)
log = logging.getLogger(__name__)

WEEKLY_JOB_REF = "aoi.bot.commands.train:scheduled_weekly_job"

BaseOption = typer.Option(
    None, "--base", help="Base model: a Hugging Face folder (default: packaged SmolLM2)."
)
OutputOption = typer.Option(None, "--output", help="Run folder (default: <data dir>/runs/<time>-<method>).")
DatasetOption = typer.Option(None, "--dataset", help="A saved dataset (.jsonl) instead of building one.")
RegisterOption = typer.Option(
    True, "--register/--no-register", help="Record the run and adapter in the registry."
)
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")


def _run_dir(settings: Settings, output: Path | None, method: str) -> Path:
    if output is not None:
        return output
    return settings.data_dir / "runs" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{method}"


def _export_bundle(since: datetime) -> Any:
    from aoi.store.export import export_training_data, read_export

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.jsonl"
        export_training_data(open_store(), path, since=since)
        return read_export(path)


def expert_rows_for(settings: Settings, base: Path, k: int = 1) -> tuple[list[dict[str, Any]], str]:
    """Heuristic-expert rows on the simulator's train split, cached by content under the data dir."""
    from aoi.agents.evaluation.suite import load_problems
    from aoi.agents.planners.heuristic import HeuristicPlanner
    from aoi.training.datasets import default_renderer, default_tool_specs
    from aoi.training.expert import cached_expert_rows, collect_expert_rows

    problems = load_problems("train")
    render, tools = default_renderer(base), default_tool_specs()
    key = {
        "planner": "heuristic",
        "problems": [p.id for p in problems],
        "k": k,
        "prompt": render_fingerprint(render),
    }
    return cached_expert_rows(
        settings.data_dir / "datasets",
        key,
        lambda: collect_expert_rows(problems, HeuristicPlanner(), tools=tools, render=render, k=k),
    )


def render_fingerprint(render: Any) -> str:
    """A prompt rendered for a fixed context: changes whenever the template, verbs or tools change."""
    from aoi.agents.planners.base import PlannerContext
    from aoi.training.datasets import dataset_hash, default_tool_specs

    context = PlannerContext(incident="fingerprint", task="localization", tools=default_tool_specs())
    return dataset_hash([{"messages": render(context)}])


def _quiet(as_json: bool) -> contextlib.AbstractContextManager[Any]:
    """With --json, whatever the trainers print goes to stderr so stdout holds only the JSON."""
    return contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()


@contextlib.contextmanager
def _run(as_json: bool, run_dir: Path) -> Iterator[None]:
    """Train in ``run_dir``: say where first (an interrupted run resumes only from its folder), turn
    SIGTERM into an interruption like Ctrl-C (so the store's training run is closed as failed, not
    left "running"), and on either say how to resume."""
    typer.echo(f"training in {run_dir} (rerun with --output {run_dir} to resume)", err=True)
    previous = None
    if threading.current_thread() is threading.main_thread():

        def interrupted(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        with _quiet(as_json):
            yield
    except KeyboardInterrupt:
        typer.secho(
            f"interrupted: {run_dir} keeps its newest checkpoint; rerun with --output {run_dir} to resume",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(code=130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _echo(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str) if as_json else "\n".join(lines))


@app.command()
def grpo(
    max_steps: int = typer.Option(30, "--max-steps", help="GRPO optimiser steps."),
    output: Path | None = OutputOption,
    base: str | None = BaseOption,
    dataset: Path | None = DatasetOption,
    sft_steps: int = typer.Option(30, "--sft-steps", help="SFT warm-start steps before GRPO (0: none)."),
    learning_rate: float = typer.Option(5e-5, "--lr", help="GRPO learning rate."),
    generations: int = typer.Option(4, "--generations", help="Completions per prompt (group size)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Prompts × generations per step (÷ generations)."),
    completion_tokens: int = typer.Option(160, "--max-completion-length", help="Tokens per completion."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank (alpha = 2r)."),
    verified: bool = typer.Option(
        True, "--verified/--no-verified", help="Add the simulator-verified reward."
    ),
    gpu: bool = typer.Option(
        False, "--gpu", help="GPU preset: bf16, vLLM colocated rollouts, AOI's LoRA r=64."
    ),
    register: bool = RegisterOption,
    as_json: bool = JsonOption,
) -> None:
    """Observer GRPO (judge + verified rewards) on expert steps, after an optional SFT warm start."""
    from aoi.training.base_models import BaseModelError, resolve_base_model
    from aoi.training.config import GrpoSettings, LoraSettings, SftSettings, gpu_grpo_preset
    from aoi.training.datasets import load_dataset, save_dataset
    from aoi.training.pipeline import sft_then_grpo

    settings = get_settings()
    try:
        if sft_steps < 0:
            raise ValueError(f"--sft-steps must be >= 0 (0: no warm start), got {sft_steps}")
        base_dir = resolve_base_model(base or settings.local_model_path, settings.data_dir)
        if dataset is not None:
            rows, digest = load_dataset(dataset)
        else:
            rows, _ = expert_rows_for(settings, base_dir)
            digest = save_dataset(rows, settings.data_dir / "datasets", "grpo").hash
        run_dir = _run_dir(settings, output, "grpo")
        lora = LoraSettings(r=lora_r, alpha=2 * lora_r)
        if gpu:  # replace() re-runs the settings' checks on the caller's step cap
            grpo_settings = replace(gpu_grpo_preset(base_dir, run_dir / "grpo"), max_steps=max_steps)
        else:
            grpo_settings = GrpoSettings(
                base_model=base_dir,
                output_dir=run_dir / "grpo",
                max_steps=max_steps,
                learning_rate=learning_rate,
                batch_size=batch_size,
                num_generations=generations,
                max_completion_length=completion_tokens,
                lora=lora,
            )
        sft_settings = (
            SftSettings(base_model=base_dir, output_dir=run_dir / "sft", max_steps=sft_steps, lora=lora)
            if sft_steps > 0
            else None
        )
        problems = None
        if verified:
            from aoi.sim import load_suite

            problems = load_suite("aiopslab")
        registry = open_registry() if register else None
        with _run(as_json, run_dir):
            done = sft_then_grpo(sft_settings, grpo_settings, rows, digest, registry, problems=problems)
    except (BaseModelError, StoreError, ValueError, OSError, KeyError) as exc:
        raise fail(exc) from None
    except ImportError as exc:  # --gpu's vLLM rollouts
        raise fail(ImportError(f"{exc}: --gpu needs vLLM on a CUDA machine (the `serve` extra)")) from None
    payload = {"dataset_hash": digest, "rows": len(rows), "runs": [t.to_json() for t in done]}
    lines = [f"dataset {digest}: {len(rows)} rows"]
    for t in done:
        metrics = t.result.metrics
        key = "reward_last" if "reward_last" in metrics else "loss_last"
        value = metrics.get(key, float("nan"))
        lines.append(
            f"{t.result.method}: {metrics.get('steps', 0):.0f} steps, {key}={value:.3f}, "
            f"adapter {t.result.adapter_dir}" + (f", registered {t.model.version}" if t.model else "")
        )
    _echo(payload, as_json, lines)


@app.command()
def kto(
    max_steps: int = typer.Option(20, "--max-steps", help="KTO optimiser steps."),
    output: Path | None = OutputOption,
    base: str | None = BaseOption,
    dataset: Path | None = DatasetOption,
    since: str | None = typer.Option(None, "--since", help="Feedback on/after this date (default: 7 days)."),
    init_adapter: str | None = typer.Option(
        "promoted", "--init-adapter", help="Adapter to continue: a folder, 'promoted' (default) or 'none'."
    ),
    learning_rate: float = typer.Option(5e-5, "--lr", help="Learning rate."),
    batch_size: int = typer.Option(4, "--batch-size", help="Rows per step (≥ 2)."),
    register: bool = RegisterOption,
    as_json: bool = JsonOption,
) -> None:
    """KTO on thumbs-up/down rows (from the store's feedback, or a saved dataset)."""
    from aoi.training.base_models import BaseModelError, resolve_base_model
    from aoi.training.config import KtoSettings
    from aoi.training.datasets import default_renderer, default_tool_specs, load_dataset, save_dataset
    from aoi.training.pipeline import run_kto
    from aoi.training.production import kto_rows

    settings = get_settings()
    try:
        base_dir = resolve_base_model(base or settings.local_model_path, settings.data_dir)
        if dataset is not None:
            rows, digest = load_dataset(dataset)
        else:
            start = parse_when(since, "--since") if since else datetime.now(UTC) - timedelta(days=7)
            rows = kto_rows(
                _export_bundle(start), tools=default_tool_specs(), render=default_renderer(base_dir)
            )
            if not rows:
                raise ValueError(f"no judged decisions since {start.date()}: nothing for KTO to learn from")
            digest = save_dataset(rows, settings.data_dir / "datasets", "kto").hash
        registry = open_registry() if register else None
        init = _init_adapter(init_adapter, registry, base_dir)
        kto_settings = KtoSettings(
            base_model=base_dir,
            output_dir=_run_dir(settings, output, "kto"),
            max_steps=max_steps,
            learning_rate=learning_rate,
            batch_size=batch_size,
            init_adapter=init,
        )
        with _run(as_json, kto_settings.output_dir):
            done = run_kto(kto_settings, rows, digest, registry)
    except (BaseModelError, StoreError, ValueError, OSError) as exc:
        raise fail(exc) from None
    metrics = done.result.metrics
    lines = [
        f"dataset {digest}: {len(rows)} rows ({sum(bool(r['label']) for r in rows)} desirable)",
        f"kto: {metrics.get('steps', 0):.0f} steps, loss {metrics.get('loss_first', 0):.3f} → "
        f"{metrics.get('loss_last', 0):.3f}, adapter {done.result.adapter_dir}"
        + (f", registered {done.model.version}" if done.model else ""),
    ]
    _echo({"dataset_hash": digest, "rows": len(rows), "run": done.to_json()}, as_json, lines)


def _init_adapter(choice: str | None, registry: Any, base_dir: Path) -> Path | None:
    if choice in (None, "none"):
        return None
    if choice == "promoted":
        current = registry.current() if registry is not None else None
        if current is None or not current.adapter_path:
            return None
        if not current.trained_on(base_dir):
            raise ValueError(
                f"the promoted adapter {current.version} was trained on {current.base_model}, not "
                f"{base_dir}: pass --base {current.base_model}, or --init-adapter none to start afresh"
            )
        if not Path(current.adapter_path).is_dir():
            raise ValueError(
                f"the promoted adapter {current.version} is missing on disk ({current.adapter_path}): "
                "promote another version, or pass --init-adapter none"
            )
        return Path(current.adapter_path)
    path = Path(choice)
    if not (path / "adapter_config.json").is_file():
        raise ValueError(f"--init-adapter {choice}: not a LoRA adapter folder (adapter_config.json missing)")
    return path


@app.command()
def weekly(
    now: bool = typer.Option(False, "--now", help="Run one pass now instead of scheduling."),
    grpo_steps: int = typer.Option(30, "--grpo-steps", help="GRPO steps per pass."),
    sft_steps: int = typer.Option(
        30, "--sft-steps", help="SFT warm-start steps (only while none is promoted)."
    ),
    kto_steps: int = typer.Option(20, "--kto-steps", help="KTO steps (0: no KTO)."),
    eval_problems: int = typer.Option(
        0,
        "--eval-problems",
        help="Held-out problems evaluated, stratified over task types and fault families (0: all).",
    ),
    eval_steps: int = typer.Option(12, "--eval-steps", help="Observer step budget in evaluation."),
    margin: float = typer.Option(0.02, "--margin", help="avg@k gain needed to promote."),
    as_json: bool = JsonOption,
) -> None:
    """Run the weekly retrain once (--now) or on AOI_RETRAIN_CRON (one scheduler process).

    Trains on AOI_LOCAL_MODEL_PATH when set (the model the local planner serves), else the packaged
    SmolLM2.
    """
    options: dict[str, Any] = {
        "grpo_steps": grpo_steps,
        "sft_steps": sft_steps,
        "kto_steps": kto_steps,
        "eval_problems": eval_problems,
        "eval_steps": eval_steps,
        "margin": margin,
    }
    try:  # at startup: a scheduler must not wait a week to say an option was wrong
        check_weekly_options(options)
    except ValueError as exc:
        raise fail(exc) from None
    if now:
        try:
            with _quiet(as_json):
                report = weekly_job(**options)
        except (StoreError, ValueError, FileNotFoundError) as exc:
            raise fail(exc) from None
        _echo(report, as_json, [str(report.get("message", ""))])
        return
    from apscheduler.schedulers.blocking import BlockingScheduler

    from aoi.training.weekly import add_weekly_job, next_run

    settings = get_settings()
    scheduler = BlockingScheduler(timezone="UTC")
    try:
        job = add_weekly_job(scheduler, settings.retrain_cron, WEEKLY_JOB_REF, options)
    except ValueError as exc:
        raise fail(exc) from None
    when = next_run(job.trigger)  # never None: a crontab that cannot fire is refused above
    typer.echo(
        f"weekly retrain scheduled on '{settings.retrain_cron}' (UTC); next run {when:%a %Y-%m-%d %H:%M} UTC"
    )
    scheduler.start()


def check_weekly_options(options: dict[str, Any]) -> None:
    """The weekly job's options, checked the way its settings would check them at run time."""
    least = {"grpo_steps": 1, "sft_steps": 0, "kto_steps": 0, "eval_problems": 0, "eval_steps": 1}
    for name, low in least.items():
        if int(options[name]) < low:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be >= {low}, got {options[name]}")
    if not math.isfinite(float(options["margin"])) or float(options["margin"]) < 0:
        raise ValueError(
            "--margin must be a number >= 0 (a candidate must not be promoted when worse), "
            f"got {options['margin']}"
        )


def scheduled_weekly_job(**options: Any) -> dict[str, Any] | None:
    """The scheduler's entry: the first process to claim this fire of ``AOI_RETRAIN_CRON`` runs the
    pass, any other (a second ``aoi worker`` left with its scheduler on, ``aoi train weekly`` beside
    it) skips it — two passes would train twice and write into the same run folder."""
    from aoi.store import repo
    from aoi.training.weekly import latest_fire

    settings = get_settings()
    fire = latest_fire(settings.retrain_cron)
    claim = f"weekly-retrain:{fire:%Y-%m-%dT%H:%M}"
    store = open_store()
    try:
        claimed = repo.mark_event_processed(store, claim, source="scheduler")
    finally:
        store.dispose()
    if not claimed:
        log.info("the weekly retrain of %s is already claimed by another scheduler; skipping it here", fire)
        return None
    return weekly_job(**options)


def weekly_job(
    grpo_steps: int = 30,
    sft_steps: int = 30,
    kto_steps: int = 20,
    eval_problems: int = 0,
    eval_steps: int = 12,
    margin: float = 0.02,
) -> dict[str, Any]:
    """The scheduled job: compose everything from settings and run one weekly pass."""
    from aoi.agents.evaluation.suite import load_problems, stratified
    from aoi.agents.observer import Budget
    from aoi.sim import load_suite
    from aoi.training.base_models import resolve_base_model
    from aoi.training.config import GrpoSettings, KtoSettings, SftSettings
    from aoi.training.datasets import default_renderer, default_tool_specs
    from aoi.training.embeddings import make_embedder
    from aoi.training.guidance import GuidanceLibrary
    from aoi.training.registry import ModelRegistry
    from aoi.training.vllm_client import VllmAdapterClient
    from aoi.training.weekly import WeeklyConfig, run_weekly

    settings = get_settings()
    base = resolve_base_model(settings.local_model_path, settings.data_dir)
    store = open_store()
    placeholder = settings.data_dir / "runs"
    config = WeeklyConfig(
        data_dir=settings.data_dir,
        base_model=base,
        grpo=GrpoSettings(
            base_model=base, output_dir=placeholder, max_steps=grpo_steps, max_completion_length=160
        ),
        sft=SftSettings(base_model=base, output_dir=placeholder, max_steps=sft_steps)
        if sft_steps > 0
        else None,
        kto=KtoSettings(base_model=base, output_dir=placeholder, max_steps=kto_steps)
        if kto_steps > 0
        else None,
        margin=margin,
        eval_budget=Budget(max_steps=eval_steps, deadline_s=1800.0),
    )
    library = None
    if settings.guidance_embedder != "off":
        library = GuidanceLibrary(store, make_embedder(settings.guidance_embedder))
    vllm = None
    if settings.llm_base_url:
        vllm = VllmAdapterClient(
            settings.llm_base_url.removesuffix("/").removesuffix("/v1"), settings.llm_api_key
        )
    heldout = load_problems("test")
    report = run_weekly(
        store,
        ModelRegistry(store, registry_root(settings)),
        config,
        expert_rows=lambda: expert_rows_for(settings, base)[0],
        tools=default_tool_specs(),
        render=default_renderer(base),
        heldout=stratified(heldout, eval_problems),
        train_problems=load_suite("aiopslab"),
        library=library,
        announce=slack_announcer(settings),
        vllm=vllm,
    )
    return report.to_json()


def slack_announcer(settings: Settings) -> Any:
    """``announce(text, png)`` posting to AOI_ANNOUNCE_CHANNEL, or None when Slack is not configured."""
    if not (settings.slack_bot_token and settings.announce_channel):
        return None
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackClientError

    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    channel = settings.announce_channel

    def announce(text: str, png: Path | None) -> None:
        posted = client.chat_postMessage(channel=channel, text=text)
        if png is None:
            return
        try:
            client.files_upload_v2(
                channel=channel, file=str(png), title="weekly retrain", thread_ts=posted.get("ts")
            )
        except (SlackClientError, OSError, ValueError) as exc:  # the text went out; the chart is a bonus
            log.warning("could not upload the retrain chart %s to %s: %r", png, channel, exc)

    return announce
