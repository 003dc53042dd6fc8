"""Engine settings: SQLite tuned for several processes, clear errors for unusable URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, text

from aoi.store import DatabaseURLError, Store, make_engine, repo
from aoi.store.models import StoreModel


def test_sqlite_file_runs_in_wal_mode_with_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'aoi.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        engine.dispose()
    assert (tmp_path / "nested" / "dir" / "aoi.db").exists()


def test_sqlite_write_transactions_take_the_write_lock_up_front(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'aoi.db'}", migrate=True)
    begins: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: begins.append(statement) if statement.startswith("BEGIN") else None,
    )
    with store.transaction(write=True) as session:
        session.execute(text("SELECT 1"))
    with store.transaction() as session:
        session.execute(text("SELECT 1"))
    store.dispose()
    assert begins == ["BEGIN IMMEDIATE", "BEGIN DEFERRED"]
    assert (tmp_path / "aoi.db-aoi-write.lock").exists()  # writers queue on a kernel lock first


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://u:secret@db/aoi", r"postgresql\+psycopg://"),
        ("postgresql://u@db/aoi", r"postgresql\+psycopg://"),
        ("mysql+pymysql://u@db/aoi", "not supported"),
        ("not a url", "cannot be parsed"),
    ],
)
def test_unusable_database_urls_are_refused_with_the_accepted_forms(url: str, message: str) -> None:
    with pytest.raises(DatabaseURLError, match=message) as caught:
        make_engine(url)
    assert "secret" not in str(caught.value)


def test_in_memory_sqlite_shares_one_database_across_sessions() -> None:
    store = Store.open("sqlite://", migrate=False)
    StoreModel.metadata.create_all(store.engine)
    repo.mark_event_processed(store, "E1")
    assert repo.mark_event_processed(store, "E1") is False
