from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.harness import migrated_template


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database per session, copied into each test."""
    return migrated_template(tmp_path_factory.mktemp("aoi-db-template"))
