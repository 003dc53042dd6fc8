"""Fast CI variant of ``bench/bench_reliability.py``: 200 events at 20 connections against ``aoi bot``
as a process — nothing lost, nothing handled twice (retries included), bounded RSS growth. Latency is
the benchmark's business (a shared CI machine makes timings noise). Plus: events acked just before a
SIGTERM are all handled by the graceful shutdown (the follow-up queue drains)."""

from __future__ import annotations

import shutil
from pathlib import Path

from aoi.store.db import Store
from tests.bot.harness import bot_env, free_port, start_bot_process, stop_bot_process
from tests.fakes.slack_api import FakeSlackAPI
from tests.reliability.load import home_events, processed_ids, published, run_load, run_load_check


def test_two_hundred_events_at_twenty_connections_none_lost_none_doubled_memory_bounded(
    tmp_path: Path, db_template: Path
) -> None:
    result = run_load_check(tmp_path, db_template, events=200, concurrency=20)
    assert result["non_200"] == 0
    assert result["lost"] == 0, result
    assert result["doubled"] == 0, result
    assert result["retries"] == 20
    assert result["rss_growth"] < 1.25, result["rss_mib"]


def test_events_acked_right_before_sigterm_are_all_handled_once(tmp_path: Path, db_template: Path) -> None:
    db = tmp_path / "stop.db"
    shutil.copy(db_template, db)
    events = home_events(150, "STOP")
    with FakeSlackAPI() as fake:
        port = free_port()
        process = start_bot_process(["bot"], bot_env(fake, db), port)
        try:
            batch: list[tuple[str, str, bytes | None]] = [*events, *events[::5]]
            results = run_load(f"http://127.0.0.1:{port}", batch, 20)
        finally:
            stop_bot_process(process)  # at once: follow-ups may still be queued
        per_user = published(fake, "STOP")
    assert [status for status, _ in results] == [200] * 180
    store = Store.open(f"sqlite:///{db}")
    try:
        assert processed_ids(store, "EvSTOP") == {f"EvSTOP{i:06d}" for i in range(150)}
    finally:
        store.dispose()
    assert set(per_user) == {f"USTOP{i:06d}" for i in range(150)}
    assert set(per_user.values()) == {1}
