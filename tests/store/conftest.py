"""Fixtures for the store tests: every test runs on SQLite and, when reachable, on PostgreSQL.

Each test gets a database of its own — a fresh SQLite file, or a freshly created PostgreSQL
database (dropped afterwards) on the server at ``AOI_TEST_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). PostgreSQL cases carry the
``postgres`` marker and skip, with the reason, when the server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from aoi.store import Store
from tests.store.procpool import ProcessPool

POSTGRES_URL = os.environ.get("AOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) of its own for this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aoi.db'}"
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    name = f"aoi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store migrated to head on this test's own database."""
    opened = Store.open(db_url, migrate=True)
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
