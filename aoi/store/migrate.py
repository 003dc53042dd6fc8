"""Run the store's Alembic migrations programmatically (``aoi db upgrade|downgrade|current``).

The Alembic ``Config`` is built here, pointing at the migrations packaged inside ``aoi.store``, so
upgrading works from an installed wheel with no alembic.ini in the working directory.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.exc import DatabaseError

from aoi.store.db import Store, make_engine, parse_database_url, queued_writer, sqlite_lock_path
from aoi.store.errors import DatabaseUnavailableError, SchemaOutOfDateError, StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Alembic keeps its running environment in module globals (``alembic.context``): one command at a
# time per process, whatever the database.
_ALEMBIC = threading.Lock()


def alembic_config(url: str) -> Config:
    """An Alembic Config for ``url`` (kept out of the ini parser so ``%`` in passwords is safe)."""
    parse_database_url(url)
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


@functools.lru_cache(maxsize=1)
def _shipped() -> ScriptDirectory:
    """The migrations this code ships (read once per process: they do not change under it)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _down(revision: str) -> str | None:
    """The revision before ``revision`` (``None``: it is the first)."""
    down = _shipped().get_revision(revision).down_revision
    return down if isinstance(down, str) else None


def head_revision() -> str:
    """The newest revision this code ships."""
    head = _shipped().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise SchemaOutOfDateError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


@contextmanager
def _reachable(url: str) -> Iterator[None]:
    """Turn "cannot connect" into an error that names the database and what to check."""
    try:
        yield
    except DatabaseError as exc:  # OperationalError, or a file that is not a database at all
        where = parse_database_url(url).render_as_string(hide_password=True)
        raise DatabaseUnavailableError(
            f"cannot open the database {where}: {str(exc.orig or exc).strip()} — check AOI_DATABASE_URL, "
            "that the server is running and reachable, and that the SQLite folder is writable"
        ) from None


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (``None``: never migrated)."""
    engine = make_engine(url, pool_size=1)
    try:
        with _reachable(url), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


class UnknownRevisionError(StoreError, ValueError):
    """A revision alembic cannot resolve (a typo, or one from a newer AOI)."""


@contextmanager
def _known_revisions() -> Iterator[None]:
    try:
        yield
    except CommandError as exc:
        raise UnknownRevisionError(f"{exc}; `aoi db current` shows where the database is") from None


def known_revision(revision: str | None) -> bool:
    """Whether this AOI's migrations include ``revision`` (None, an empty database, counts)."""
    if revision is None:
        return True
    return any(rev.revision == revision for rev in _shipped().walk_revisions())


def check_known(revision: str | None) -> None:
    """Raise ``UnknownRevisionError`` for a database migrated by a newer AOI than this one."""
    if not known_revision(revision):
        raise UnknownRevisionError(newer_than_code(revision))


def below(revision: str, current: str | None) -> bool:
    """Whether ``revision`` is an earlier migration than ``current`` (upgrading to it does nothing)."""
    if current is None or revision in ("head", "heads", current):
        return False
    at: str | None = current
    while at is not None:
        at = _down(at)
        if at == revision or (revision == "base" and at is None):
            return True
    return False


def newer_than_code(revision: str | None) -> str:
    """What to say about a database at a revision this AOI does not know (a rollback of the code)."""
    return (
        f"the database is at migration {revision}, newer than this AOI knows (its newest is "
        f"{head_revision()}): deploy the AOI that migrated it, or downgrade with that version"
    )


def downgrade_reaches_base(url: str, revision: str) -> bool:
    """Whether downgrading the database at ``url`` to ``revision`` drops every table: ``base``, or a
    relative step (``-1``, ``-3``) that walks past the first revision."""
    if revision == "base":
        return True
    if not revision.startswith("-") or not revision[1:].isdigit():
        return False  # an explicit revision id leaves that revision's tables
    at = current_revision(url)
    check_known(at)
    for _ in range(int(revision[1:])):
        if at is None:
            return True
        at = _down(at)
    return at is None


def upgrade(url: str, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; idempotent. Returns the revision reached.

    Safe to call from several processes at start-up: SQLite runs queue on the writers' file lock,
    PostgreSQL runs on an advisory lock taken in ``env.py``; the later ones find the schema current.
    """
    with (
        _ALEMBIC,
        _reachable(url),
        _known_revisions(),
        queued_writer(sqlite_lock_path(parse_database_url(url))),
    ):
        command.upgrade(alembic_config(url), revision)
    return current_revision(url)


def downgrade(url: str, revision: str) -> str | None:
    """Revert migrations down to ``revision`` (``"base"`` drops every store table)."""
    with (
        _ALEMBIC,
        _reachable(url),
        _known_revisions(),
        queued_writer(sqlite_lock_path(parse_database_url(url))),
    ):
        command.downgrade(alembic_config(url), revision)
    return current_revision(url)


def make_revision(url: str, message: str) -> str:
    """Developer tool: autogenerate a new revision from the models against the database at ``url``
    (which must be at head). Returns the new file's path; review it before committing."""
    config = alembic_config(url)
    existing = [rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()]
    numbers = [int(rev) for rev in existing if rev.isdigit()]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with _ALEMBIC:
        script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    if script is None or isinstance(script, list):
        raise SchemaOutOfDateError("alembic produced no single revision script")
    return str(script.path)


def ensure_current(store: Store) -> None:
    """Raise ``SchemaOutOfDateError`` unless the store's database is at this code's head."""
    with _reachable(store.engine.url.render_as_string(hide_password=False)), store.engine.connect() as conn:
        at = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if not known_revision(at):
        raise SchemaOutOfDateError(f"{store.url}: {newer_than_code(at)}")
    if at != head:
        raise SchemaOutOfDateError(
            f"database {store.url} is at migration {at or 'none (empty database)'}, this AOI expects "
            f"{head}: run `aoi db upgrade` (the Procfile's release step does this on deploy)"
        )
