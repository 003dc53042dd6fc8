"""``aoi problems``: list the problem catalogue and generate new problem files.

``list`` reads a suite (``aiopslab``, ``train``, ``test`` or a JSON/YAML file); ``generate`` draws
problems over valid (fault, target, task) combinations and writes them as JSON or YAML (by suffix).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from aoi.sim import ProblemError, load_suite
from aoi.sim.generate import generate_problems

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The simulator's problem catalogue.")


@app.command("list")
def list_problems(
    split: str | None = typer.Option(None, help="Only this split: train or test"),
    suite: str = typer.Option("aiopslab", help="aiopslab, train, test or a problem file"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """List problems (id, app, task, fault, target, split)."""
    if split not in (None, "train", "test"):
        typer.echo(f"error: --split must be train or test, got {split!r}", err=True)
        raise typer.Exit(2)
    try:
        problems = [p for p in load_suite(suite).values() if split is None or p.split == split]
    except ProblemError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps([p.model_dump(exclude_none=True) for p in problems], indent=2))
        return
    table = Table(title=f"{len(problems)} problems ({suite}{', ' + split if split else ''})")
    table.add_column("id", no_wrap=True)  # whole: it is what `aoi diagnose --problem` takes
    for column in ("app", "task", "fault", "target", "split"):
        table.add_column(column)
    for p in problems:
        fault = (
            p.fault.type + (f" ({p.fault.params['flag']})" if p.fault and "flag" in p.fault.params else "")
            if p.fault
            else "-"
        )
        table.add_row(p.id, p.app, p.task, fault, (p.fault.target if p.fault else None) or "-", p.split)
    Console().print(table)


@app.command("generate")
def generate(
    n: int = typer.Option(..., "--n", help="How many problems"),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same problems)"),
    split: str | None = typer.Option(None, help="Only fault types of this split: train or test"),
    output: Path = typer.Option(..., "-o", "--output", help="Problem file to write (.json, .yaml or .yml)"),
) -> None:
    """Draw N problems over valid (fault, target, task) combinations and write them to a file."""
    if output.suffix not in (".json", ".yaml", ".yml"):
        typer.echo(f"error: -o must end in .json, .yaml or .yml, got {output}", err=True)
        raise typer.Exit(2)
    try:
        problems = generate_problems(n, seed, split)
    except ProblemError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    data = {"problems": [p.model_dump(exclude_none=True) for p in problems]}
    text = (
        json.dumps(data, indent=1) + "\n"
        if output.suffix == ".json"
        else yaml.safe_dump(data, sort_keys=False)
    )
    partial = output.with_name(output.name + ".partial")
    try:  # whole or not at all: a reader never sees half a suite
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text)
        partial.replace(output)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        typer.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {len(problems)} problems to {output}")
