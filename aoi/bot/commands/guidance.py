"""``aoi guidance list|show|rm``: review the Evolver's notes before (or after) the Observer uses them."""

from __future__ import annotations

import json
from typing import Any

import typer

from aoi.bot.commands.models import UrlOption, fail, open_store
from aoi.store import StoreError, repo
from aoi.store.models import Guidance

app = typer.Typer(help="Review and remove Evolver guidance notes.", no_args_is_help=True)


def guidance_json(row: Guidance, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "note": row.note,
        "symptoms": row.symptoms,
        "repaired_plan": row.repaired_plan,
        "embedding_model": row.embedding_model,
        "source_trajectory_id": row.source_trajectory_id,
        "source_investigation_id": row.source_investigation_id,
        "created_at": row.created_at.isoformat(),
        "removed_at": row.removed_at.isoformat() if row.removed_at else None,
        "removed_by": row.removed_by,
    }
    if full:
        data["embedding_dims"] = len(row.embedding)
    return data


@app.command("list")
def list_notes(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    include_removed: bool = typer.Option(False, "--all", help="Include removed notes."),
    url: str | None = UrlOption,
) -> None:
    """List guidance notes, newest first."""
    try:
        rows = repo.list_guidance(open_store(url), include_removed=include_removed)
    except StoreError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps([guidance_json(r) for r in rows], indent=2))
        return
    if not rows:
        typer.echo("no guidance yet (run `aoi evolve` after some failed investigations)")
        return
    for row in rows:
        patterns = row.repaired_plan.get("patterns", []) if isinstance(row.repaired_plan, dict) else []
        state = " [removed]" if row.removed_at else ""
        typer.echo(f"{row.id}{state}  {','.join(patterns)}  {row.note[:100]}")


@app.command()
def show(
    guidance_id: str = typer.Argument(..., help="Note id (gd_…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    url: str | None = UrlOption,
) -> None:
    """Show one note: symptoms, the repaired plan and the note text."""
    try:
        row = repo.get_guidance(open_store(url), guidance_id)
    except StoreError as exc:
        raise fail(exc) from None
    data = guidance_json(row, full=True)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"{row.id} ({row.embedding_model}, created {data['created_at']})")
    if row.removed_at:
        typer.echo(f"removed {data['removed_at']} by {row.removed_by}")
    plan = row.repaired_plan if isinstance(row.repaired_plan, dict) else {}
    typer.echo(f"failure: {plan.get('source', '?')} — {', '.join(map(str, plan.get('patterns') or []))}")
    if plan.get("reason"):
        typer.echo(f"reason: {plan['reason']}")
    typer.echo(f"\nSymptoms:\n{row.symptoms}\n\nNote:\n{row.note}\n\nRepaired plan:")
    if not isinstance(row.repaired_plan, dict):  # not the Evolver's shape (a hand-made row): as stored
        typer.echo(f"  {json.dumps(row.repaired_plan)}")
    for phase in ("discovery", "diagnosis", "resolution", "verification"):
        lines = plan.get(phase) or []
        for line in lines if isinstance(lines, list) else [lines]:
            typer.echo(f"  {phase:<12} {line}")


@app.command("rm")
def remove(
    guidance_id: str = typer.Argument(..., help="Note id (gd_…)."),
    actor: str = typer.Option("cli", "--actor", help="Who removes it (kept on record)."),
    url: str | None = UrlOption,
) -> None:
    """Take a note out of retrieval (kept on record as removed)."""
    try:
        store = open_store(url)
        before = repo.get_guidance(store, guidance_id).removed_at
        row = repo.remove_guidance(store, guidance_id, actor=actor)
    except StoreError as exc:
        raise fail(exc) from None
    if before is not None:  # idempotent, but the second actor must not read it as their removal
        typer.echo(
            f"{row.id} was already removed (by {row.removed_by} at {row.removed_at:%Y-%m-%d %H:%M} UTC)"
        )
        return
    typer.echo(f"removed {row.id} (by {row.removed_by})")
