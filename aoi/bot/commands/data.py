"""``aoi data export|prune``: training exports and retention of the store's data."""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy.exc import DatabaseError, IntegrityError

from aoi.bot.settings import get_settings, normalise_database_url
from aoi.store import Store, StoreError
from aoi.store.db import make_engine, require_existing, sqlite_file
from aoi.store.export import export_training_data
from aoi.store.migrate import ensure_current
from aoi.store.retention import prune as prune_store

app = typer.Typer(help="Export training data and prune old records.", no_args_is_help=True)

UrlOption = typer.Option(None, "--url", help="Database URL (default: AOI_DATABASE_URL or the SQLite file).")


def parse_when(value: str, option: str) -> datetime:
    """ISO date (``2025-01-31``) or datetime; a value without a zone is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise typer.BadParameter(f"{value!r} is out of range once taken to UTC", param_hint=option) from None
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; expected YYYY-MM-DD or an ISO 8601 datetime "
            "such as 2025-01-31T08:00:00Z",
            param_hint=option,
        ) from None


def _target(url: str | None) -> str:
    return normalise_database_url(url) if url else get_settings().effective_database_url


def _open(url: str | None) -> Store:
    target = _target(url)
    require_existing(target)  # a mistyped path must not become an empty store
    store = Store(make_engine(target))
    ensure_current(store)
    return store


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@app.command()
def export(
    since: str = typer.Option(..., "--since", help="Export records created on/after this date (UTC)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="JSON Lines file to write ('-': standard output)."
    ),
    until: str | None = typer.Option(None, "--until", help="…and before this date (default: now)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    url: str | None = UrlOption,
) -> None:
    """Export finished investigations (trajectories, diagnoses, proposals) and feedback as JSONL."""
    start = parse_when(since, "--since")
    end = parse_when(until, "--until") if until else None
    to_stdout = str(output) == "-"
    try:
        if not to_stdout:
            _check_output(output, _target(url), force)
        store = _open(url)
        if to_stdout:  # the header carries the counts, so the file is written first, then streamed
            with tempfile.TemporaryDirectory(prefix="aoi-export-") as folder:
                staged = Path(folder) / "export.jsonl"
                counts = export_training_data(store, staged, since=start, until=end)
                with staged.open(encoding="utf-8") as rows:
                    shutil.copyfileobj(rows, sys.stdout)
                sys.stdout.flush()
        else:
            counts = export_training_data(store, output, since=start, until=end)
    except StoreError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise _fail(OSError(f"cannot write {output}: {exc.strerror or exc}")) from None
    typer.echo(
        f"wrote {output if not to_stdout else 'standard output'}: {counts['investigations']} "
        f"investigations, {counts['feedback']} feedback rows",
        err=to_stdout,  # standard output holds only the export
    )


def _check_output(output: Path, target: str, force: bool) -> None:
    """Never write over the store itself (its SQLite file or that file's journal, WAL or lock), and
    over any other existing file only when asked to."""
    database = sqlite_file(target)
    if database is not None:
        store_files = {database.resolve()} | {
            Path(f"{database}{suffix}").resolve()
            for suffix in ("-wal", "-shm", "-journal", "-aoi-write.lock")
        }
        if output.resolve() in store_files:
            raise StoreError(f"{output} is the store's own database file; export to another path")
    if output.exists() and not output.is_dir() and not force:  # a folder: the export says so
        raise StoreError(f"{output} already exists; pass --force to replace it, or choose another path")


@app.command()
def prune(
    days: int | None = typer.Option(
        None, "--days", min=1, max=36500, help="Keep this many days (default: AOI_RETENTION_DAYS)."
    ),
    include_audit: bool = typer.Option(
        False, "--include-audit", help="Also delete audit-log entries older than the cutoff (off by default)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be deleted; delete nothing."),
    url: str | None = UrlOption,
) -> None:
    """Delete investigations, proposals, feedback and Slack records older than the retention period."""
    retention_days = days if days is not None else get_settings().retention_days
    try:
        store = _open(url)
        report = prune_store(
            store, retention_days=retention_days, include_audit=include_audit, dry_run=dry_run
        )
    except StoreError as exc:
        raise _fail(exc) from None
    except IntegrityError as exc:  # a row referring to a pruned one was written meanwhile
        raise _fail(
            StoreError(
                f"the store changed while pruning ({type(exc.orig).__name__}); nothing was deleted: "
                "run it again"
            )
        ) from None
    except DatabaseError as exc:  # read-only file, disk full: one line, not the driver's traceback
        raise _fail(StoreError(f"cannot prune the store: {type(exc.orig).__name__}: {exc.orig}")) from None
    verb = "would delete" if dry_run else "deleted"
    detail = ", ".join(f"{count} {table}" for table, count in report.counts().items())
    typer.echo(f"cutoff {report.cutoff.isoformat()}: {verb} {detail}")
    if not include_audit:
        typer.echo("audit log kept (pass --include-audit to prune it too)")
