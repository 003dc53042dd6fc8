"""Fixtures for the store tests: every test runs on SQLite and, when reachable, on PostgreSQL.

Each test gets a database of its own — a fresh SQLite file, or a freshly created PostgreSQL
database (dropped afterwards) on the server at ``AOI_TEST_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). PostgreSQL cases carry the
``postgres`` marker and skip, with the reason, when the server cannot be reached.

``empty_db_url`` has no tables (for the migration tests); ``db_url``/``store`` are at the migration
head. On PostgreSQL the migrated ones are cloned from a template database migrated once per session
(``CREATE DATABASE … TEMPLATE``), and drops run on a background thread — both only save time; every
test still has its own database.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from aoi.store import Store, make_engine, migrate
from tests.store.procpool import ProcessPool

POSTGRES_URL = os.environ.get("AOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _url_for(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(sql)


@lru_cache(maxsize=1)
def postgres_unavailable() -> str | None:
    """None when the test server answers; otherwise why not (shown as the skip reason)."""
    try:
        with psycopg.connect(_conninfo(POSTGRES_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        where = make_url(POSTGRES_URL).render_as_string()
        return (
            f"PostgreSQL at {where} is not reachable ({exc}); set AOI_TEST_POSTGRES_URL to a reachable server"
        )
    return None


class _Dropper:
    """Drops finished test databases on a background thread; waits for all of them at the end."""

    def __init__(self) -> None:
        self._names: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (name := self._names.get()) is not None:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop(self, name: str) -> None:
        self._names.put(name)

    def close(self) -> None:
        self._names.put(None)
        self._thread.join(timeout=120)


@pytest.fixture(scope="session")
def _pg() -> Iterator[tuple[_Dropper, list[str]]]:
    """The dropper and a lazily created, migrated template database (``[name]`` once made)."""
    dropper, template = _Dropper(), list[str]()
    try:
        yield dropper, template
    finally:
        for name in template:
            dropper.drop(name)
        dropper.close()


def _new_postgres(pg: tuple[_Dropper, list[str]], *, migrated: bool) -> Iterator[str]:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    dropper, template = pg
    if migrated and not template:
        name = f"aoi_tpl_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}"')
        template.append(name)
        migrate.upgrade(_url_for(name))
    name = f"aoi_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template[0]}"' if migrated else ""))
    try:
        yield _url_for(name)
    finally:
        dropper.drop(name)


@pytest.fixture(params=BACKENDS)
def empty_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, _pg: tuple[_Dropper, list[str]]
) -> Iterator[str]:
    """A database of this test's own with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aoi.db'}"
    else:
        yield from _new_postgres(_pg, migrated=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, _pg: tuple[_Dropper, list[str]]) -> Iterator[str]:
    """A database of this test's own, at the migration head."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aoi.db'}"
        migrate.upgrade(url)
        yield url
    else:
        yield from _new_postgres(_pg, migrated=True)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store on this test's migrated database (``db_url``)."""
    opened = Store(make_engine(db_url))
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture(scope="session")
def process_pool() -> Iterator[ProcessPool]:
    """Twenty spawned worker processes, started once per session (spawning costs ~0.5 s each)."""
    pool = ProcessPool(size=20)
    try:
        yield pool
    finally:
        pool.close()
