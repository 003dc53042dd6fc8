"""``aoi evolve``: turn recent failed investigations into guidance notes and corrective training rows."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from aoi.bot.commands.data import parse_when
from aoi.bot.commands.models import UrlOption, fail, open_store
from aoi.bot.settings import get_settings
from aoi.store import StoreError
from aoi.store.export import export_training_data, read_export

app = typer.Typer()


@app.command()
def evolve(
    since: str | None = typer.Option(
        None, "--since", help="Failures created on/after this date (default: 7 days)."
    ),
    embedder: str | None = typer.Option(
        None, "--embedder", help="minilm or hashing (default: AOI_GUIDANCE_EMBEDDER)."
    ),
    suite: str | None = typer.Option(
        None, "--suite", help="Also learn from the simulator: train|test|aiopslab|FILE (grader failures)."
    ),
    k: int = typer.Option(1, "--k", help="Runs per problem on the simulator."),
    max_steps: int = typer.Option(
        5, "--max-steps", help="Step budget of the simulated runs (tight = more failures)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Analyse and print; store no notes, save no rows."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    url: str | None = UrlOption,
) -> None:
    """Failure Trajectory Evolver: thumbs-down, rejected and failed fixes (and, with --suite, the
    heuristic planner's grader failures on the simulator) → guidance notes + corrective rows."""
    from aoi.training.datasets import default_renderer, default_tool_specs
    from aoi.training.embeddings import EmbedderError, make_embedder
    from aoi.training.evolve_job import run_evolver
    from aoi.training.guidance import GuidanceLibrary
    from aoi.training.production import failure_cases

    start = parse_when(since, "--since") if since else datetime.now(UTC) - timedelta(days=7)
    try:  # every check before the first note is filed: a bad setting must not leave half a pass
        settings = get_settings()
        kind = embedder or settings.guidance_embedder
        if kind == "off" and not dry_run:
            raise ValueError("AOI_GUIDANCE_EMBEDDER=off: pass --embedder minilm|hashing or --dry-run")
        chosen = None if kind == "off" else make_embedder(kind)  # an unknown name fails here
        datasets_dir = None if dry_run else settings.data_dir / "datasets"
        if datasets_dir is not None:
            datasets_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(url)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "export.jsonl"
            export_training_data(store, path, since=start)
            cases = failure_cases(read_export(path))
        if suite is not None:
            from aoi.agents.evaluation.suite import load_problems
            from aoi.agents.observer import Budget
            from aoi.agents.planners.heuristic import HeuristicPlanner
            from aoi.training.evolve_job import simulated_failure_cases

            simulated, _ = simulated_failure_cases(
                load_problems(suite),
                HeuristicPlanner(),
                HeuristicPlanner(),
                k=k,
                budget=Budget(max_steps=max_steps),
            )
            cases += simulated
        library = None if dry_run or chosen is None else GuidanceLibrary(store, chosen)
        report = run_evolver(
            cases,
            library=library,
            tools=default_tool_specs(),
            render=default_renderer(),
            datasets_dir=datasets_dir,
        )
    except (StoreError, EmbedderError, ValueError, OSError) as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
        return
    typer.echo(
        f"{report.cases} failure(s) (store since {start.date()}{', simulator ' + suite if suite else ''}): "
        f"{report.filed} note(s) filed, "
        f"{report.duplicates} duplicate(s) skipped"
        + (f" ({report.removed} of notes a reviewer removed: not filed again)" if report.removed else "")
    )
    for skipped in report.skipped:
        typer.echo(f"  skipped {skipped['trajectory_id']}: {skipped['error']}", err=True)
    for pattern, count in report.patterns.most_common():
        typer.echo(f"  {pattern}: {count}")
    for dataset in report.datasets:
        typer.echo(f"  wrote {dataset.path} ({dataset.rows} rows)")
