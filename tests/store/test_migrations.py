"""Migrations: upgrade to head yields exactly the models' schema; downgrade to base removes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.store import SchemaOutOfDateError, Store, make_engine, migrate
from aoi.store.models import StoreModel


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            return list(compare_metadata(context, StoreModel.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models_exactly(empty_db_url: str) -> None:
    assert migrate.upgrade(empty_db_url) == migrate.head_revision()
    assert _diff(empty_db_url) == []
    assert _tables(empty_db_url) == set(StoreModel.metadata.tables) | {"alembic_version"}


def test_upgrade_is_idempotent_and_downgrade_to_base_removes_every_table(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    migrate.upgrade(empty_db_url)
    assert migrate.downgrade(empty_db_url, "base") is None
    assert _tables(empty_db_url) <= {"alembic_version"}
    migrate.upgrade(empty_db_url)
    assert _diff(empty_db_url) == []


def test_an_unmigrated_database_is_refused_with_the_command_to_run(empty_db_url: str) -> None:
    store = Store(make_engine(empty_db_url))
    try:
        with pytest.raises(SchemaOutOfDateError, match="aoi db upgrade"):
            migrate.ensure_current(store)
    finally:
        store.dispose()


def test_cli_upgrades_from_any_directory_without_an_alembic_ini(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    behind = runner.invoke(app, ["db", "current", "--url", empty_db_url])
    assert behind.exit_code == 1 and "aoi db upgrade" in behind.output
    first = runner.invoke(app, ["db", "upgrade", "--url", empty_db_url])
    assert first.exit_code == 0, first.output
    assert f"-> {migrate.head_revision()}" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--url", empty_db_url])
    assert again.exit_code == 0 and "already at" in again.output
    back = runner.invoke(app, ["db", "upgrade", "0001", "--url", empty_db_url])  # an earlier target
    assert back.exit_code == 1 and "`aoi db downgrade 0001` goes back" in back.output
    assert runner.invoke(app, ["db", "current", "--url", empty_db_url]).exit_code == 0
    refused = runner.invoke(app, ["db", "downgrade", "base", "--url", empty_db_url])
    assert refused.exit_code == 1 and "--yes" in refused.output
    down = runner.invoke(app, ["db", "downgrade", "base", "--url", empty_db_url, "--yes"])
    assert down.exit_code == 0, down.output
    assert _tables(empty_db_url) <= {"alembic_version"}


def test_a_database_migrated_by_a_newer_aoi_is_named_as_such_not_as_behind(empty_db_url: str) -> None:
    """After a code rollback the database is at a revision this AOI does not know: `aoi db upgrade`
    cannot help, and saying "behind: run aoi db upgrade" sent operators in a loop."""
    from sqlalchemy import text

    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    runner = CliRunner()
    current = runner.invoke(app, ["db", "current", "--url", empty_db_url])
    assert current.exit_code == 1 and "newer than this AOI knows" in current.output
    upgrade = runner.invoke(app, ["db", "upgrade", "--url", empty_db_url])
    assert upgrade.exit_code == 1 and "deploy the AOI that migrated it" in upgrade.output
    downgrade = runner.invoke(app, ["db", "downgrade", "-1", "--url", empty_db_url])
    assert downgrade.exit_code == 1 and "Traceback" not in downgrade.output
    assert "newer than this AOI knows" in downgrade.output
    store = Store(make_engine(empty_db_url))
    try:
        with pytest.raises(SchemaOutOfDateError, match="newer than this AOI knows"):
            migrate.ensure_current(store)
    finally:
        store.dispose()


def test_procfile_release_step_runs_the_migrations() -> None:
    procfile = Path(__file__).resolve().parents[2] / "Procfile"
    lines = dict(line.split(":", 1) for line in procfile.read_text().splitlines() if ":" in line)
    assert lines["release"].strip() == "aoi db upgrade"


def test_concurrent_upgrades_at_start_up_all_succeed_and_agree(empty_db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        reached = list(pool.map(lambda _i: migrate.upgrade(empty_db_url), range(4)))
    assert reached == [migrate.head_revision()] * 4
    assert _diff(empty_db_url) == []
