from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from aoi.bot.app import Runtime
from aoi.bot.settings import Settings
from aoi.bot.web import RunningServer
from aoi.store.db import Store
from tests.bot.harness import SlackHarness, migrated_template
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database per session, copied into each test (the bot tests' template)."""
    return migrated_template(tmp_path_factory.mktemp("aoi-reliability-template"))


# -- a database per test: a SQLite file, or a fresh PostgreSQL database when one is reachable -------
POSTGRES_URL = os.environ.get("AOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, db_template: Path) -> Iterator[str]:
    """A migrated, empty AOI database shared by every process of one test."""
    if request.param == "sqlite":
        path = tmp_path / "aoi.db"
        shutil.copy(db_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"aoi_reliability_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} is not reachable ({exc})")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    Store.open(url, migrate=True).dispose()
    try:
        yield url
    finally:
        with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def remote_bot(fake: FakeSlackAPI, url: str, http: httpx.Client) -> SlackHarness:
    """The harness's signed-request helpers aimed at a bot running in another process (only its
    ``http`` and ``fake`` are used by ``event``/``action``/``command``)."""
    return SlackHarness(
        fake=fake,
        settings=cast(Settings, None),
        runtime=cast(Runtime, None),
        server=RunningServer(server=cast(uvicorn.Server, None), thread=cast(threading.Thread, None), url=url),
        http=http,
    )
