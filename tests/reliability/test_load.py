"""Fast CI variant of ``bench/bench_reliability.py``: 200 events at 20 connections against ``aoi bot``
as a process — nothing lost, nothing handled twice (retries included), bounded RSS growth. Latency is
the benchmark's business (a shared CI machine makes timings noise)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.load import run_load_check


def test_two_hundred_events_at_twenty_connections_none_lost_none_doubled_memory_bounded(
    tmp_path: Path, db_template: Path
) -> None:
    result = run_load_check(tmp_path, db_template, events=200, concurrency=20)
    assert result["non_200"] == 0
    assert result["lost"] == 0, result
    assert result["doubled"] == 0, result
    assert result["retries"] == 20
    assert result["rss_growth"] < 1.25, result["rss_mib"]
