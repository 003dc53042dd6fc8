"""Engines and the ``Store`` handle: how AOI connects to SQLite (default) or PostgreSQL (production).

SQLite is tuned for several processes sharing one file: WAL journal (readers never block the writer),
a busy timeout (writers queue instead of failing), foreign keys on, ``synchronous=FULL`` (a committed
click survives a power cut), and write transactions that first queue on a kernel file lock and then
start with ``BEGIN IMMEDIATE``, so two writers never deadlock upgrading read locks and a waiting click
is served in turn rather than by SQLite's sleep-and-poll busy handler. PostgreSQL runs at READ
COMMITTED; the repository functions take row locks (``SELECT … FOR UPDATE``) or use conditional
updates where a decision must happen once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

try:  # POSIX only; elsewhere SQLite's busy timeout alone queues writers
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from aoi.store.errors import DatabaseUnavailableError, DatabaseURLError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "aoi_sqlite_begin"


def parse_database_url(url: str) -> URL:
    """Parse and check a database URL; the error says which forms are accepted."""
    if url.startswith(("postgres://", "postgresql://")):
        raise DatabaseURLError(
            f"database URL {_redact(url)!r} uses a scheme without the psycopg 3 driver; "
            "write it as postgresql+psycopg://user:password@host:port/dbname "
            "(AOI_DATABASE_URL values are rewritten this way by aoi.bot.settings)"
        )
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(
            f"database URL {_redact(url)!r} cannot be parsed ({exc}); expected sqlite:///PATH "
            "or postgresql+psycopg://user:password@host:port/dbname"
        ) from None
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise DatabaseURLError(
            f"database URL scheme {parsed.drivername!r} is not supported; use sqlite:///PATH "
            "or postgresql+psycopg://…"
        )
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file a file-backed SQLite URL names (``None`` for PostgreSQL or in-memory SQLite)."""
    parsed = parse_database_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if parsed.query.get("mode") == "memory":
        return None
    return Path(database).expanduser()


def require_existing(url: str) -> None:
    """For commands that read or change an existing store: a SQLite file that is not there is a
    mistyped path or a store never created, and must not be created empty (with its folders) by a
    command that only reads it."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise DatabaseUnavailableError(
            f"no SQLite database at {path}: check AOI_DATABASE_URL / --url, "
            "or create it with `aoi db upgrade`"
        )


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def make_engine(url: str, *, sqlite_foreign_keys: bool = True, pool_size: int = 10) -> Engine:
    """Create an Engine for ``url`` with AOI's connection settings.

    ``sqlite_foreign_keys=False`` is for migrations only (SQLite's batch ALTER recreates tables).
    The parent folder of a SQLite file is created. An in-memory SQLite URL shares one connection
    (``StaticPool``); use a file for anything concurrent.
    """
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, foreign_keys=sqlite_foreign_keys, pool_size=pool_size)
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=2 * pool_size,
        connect_args={"connect_timeout": 10, "application_name": "aoi"},
    )


def _sqlite_engine(parsed: URL, *, foreign_keys: bool, pool_size: int) -> Engine:
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30.0}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size)
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"cannot create the folder {folder} for the SQLite database ({exc.strerror}); "
                "set AOI_DATA_DIR or AOI_DATABASE_URL to a writable location"
            ) from None
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own handling is wrong).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def sqlite_lock_path(url: URL) -> Path | None:
    """The lock file that queues SQLite writers (None for PostgreSQL or in-memory SQLite)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or fcntl is None:
        return None
    return Path(database).expanduser().with_name(Path(database).name + "-aoi-write.lock")


@contextmanager
def queued_writer(lock_path: Path | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` for the duration of a SQLite write transaction.

    Why: SQLite's own busy handler makes waiting writers sleep and poll, so under 20-way contention
    an unlucky click can wait seconds while newcomers overtake it. A blocking ``flock`` wakes the
    next waiter as soon as the lock is released (the kernel frees it if the holder dies, so a killed
    process never wedges the others). Every write transaction opens its own descriptor, so threads
    of one process queue against each other as well. Write transactions must not nest.
    """
    if lock_path is None:
        yield
        return
    assert fcntl is not None
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class Store:
    """A connection to AOI's database. Pass it to the ``aoi.store.repo`` functions.

    ``transaction()`` is for ``aoi.store``'s own modules: code in other packages never sees a
    session, only the records the repository functions return.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._write_lock = sqlite_lock_path(engine.url)

    @classmethod
    def open(cls, url: str, *, migrate: bool = False) -> Store:
        """Open ``url``; with ``migrate=True`` first bring its schema to the migration head."""
        if migrate:
            from aoi.store.migrate import upgrade

            upgrade(url)
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with its password hidden (for logs and messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any exception.

        ``write=True`` takes SQLite's write lock up front (``BEGIN IMMEDIATE``); on PostgreSQL it
        changes nothing (row locks are taken explicitly where needed). Objects stay readable after
        the block (``expire_on_commit=False``) and are detached once it ends.
        """
        engine = self._write_engine if write else self.engine
        lock = self._write_lock if write else None
        with queued_writer(lock), Session(engine, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close pooled connections (call before a process exits or forks)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"
