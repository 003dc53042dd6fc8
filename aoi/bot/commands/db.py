"""``aoi db upgrade|downgrade|current|revision``: the store's schema migrations.

``aoi db upgrade`` is the Procfile's ``release:`` step: it runs on every deploy before new web and
worker processes start, and is a no-op when the schema is already at head.
"""

from __future__ import annotations

import typer

from aoi.bot.settings import get_settings, normalise_database_url
from aoi.store import StoreError, migrate

app = typer.Typer(help="Database schema migrations (Alembic, packaged with AOI).", no_args_is_help=True)

UrlOption = typer.Option(None, "--url", help="Database URL (default: AOI_DATABASE_URL or the SQLite file).")


def _url(url: str | None) -> str:
    return normalise_database_url(url) if url else get_settings().effective_database_url


def _safe(url: str) -> str:
    from aoi.store.db import parse_database_url

    return parse_database_url(url).render_as_string(hide_password=True)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
    url: str | None = UrlOption,
) -> None:
    """Apply migrations up to REVISION (idempotent)."""
    target = _url(url)
    try:
        before = migrate.current_revision(target)
        migrate.check_known(before)
        if migrate.below(revision, before):
            raise migrate.UnknownRevisionError(
                f"the database is at {before}, past {revision}: `aoi db downgrade {revision}` goes back"
            )
        after = migrate.upgrade(target, revision)
    except StoreError as exc:
        raise _fail(exc) from None
    if before == after:
        typer.echo(f"{_safe(target)}: already at {after}")
    else:
        typer.echo(f"{_safe(target)}: upgraded {before or '(empty)'} -> {after}")


@app.command(context_settings={"ignore_unknown_options": True})  # so that `downgrade -1` is a revision
def downgrade(
    revision: str = typer.Argument(..., help="Target revision: an id, '-1', or 'base' (drops every table)."),
    url: str | None = UrlOption,
    yes: bool = typer.Option(
        False, "--yes", help="Confirm the downgrade (it drops what later migrations added)."
    ),
) -> None:
    """Revert migrations down to REVISION."""
    target = _url(url)
    try:
        if not yes and migrate.downgrade_reaches_base(target, revision):
            raise _fail(
                ValueError(
                    f"downgrading to {revision!r} reaches 'base': it drops every AOI table and its data; "
                    "add --yes to confirm"
                )
            )
        if not yes:  # every step back drops what it added (0002: the approvers' recorded groups)
            raise _fail(
                ValueError(
                    f"downgrading to {revision!r} removes what the later migrations added, data included; "
                    "add --yes to confirm"
                )
            )
        after = migrate.downgrade(target, revision)
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"{_safe(target)}: now at {after or 'base (no AOI tables)'}")


@app.command()
def current(url: str | None = UrlOption) -> None:
    """Print the database's revision and whether it is at this AOI's head (exit 1 if not)."""
    from aoi.store.db import require_existing

    target = _url(url)
    try:
        require_existing(target)  # a status command must not create the database it reports on
        at = migrate.current_revision(target)
    except StoreError as exc:
        raise _fail(exc) from None
    head = migrate.head_revision()
    if not migrate.known_revision(at):
        state = f"(ahead: {migrate.newer_than_code(at)})"
    else:
        state = "(head)" if at == head else f"(behind: head is {head}; run `aoi db upgrade`)"
    typer.echo(f"{_safe(target)}: {at or 'empty'} {state}")
    if at != head:
        raise typer.Exit(code=1)


@app.command(hidden=True)
def revision(
    message: str = typer.Option(..., "--message", "-m", help="What the schema change is for."),
    url: str | None = UrlOption,
) -> None:
    """Developer tool: autogenerate a migration from the models (database must be at head)."""
    try:
        path = migrate.make_revision(_url(url), message)
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {path}; review it, then run `aoi db upgrade`")
