"""``use_clock``: a replay of simulated time stamps every row with the simulated clock, and the training
export's window selects by those stamps."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aoi.store import InvalidValueError, Store, repo
from aoi.store.export import export_training_data, read_export
from aoi.store.types import use_clock, utcnow
from tests.store.helpers import diagnosed_investigation


def test_rows_written_under_a_simulated_clock_carry_its_time_and_the_export_window_selects_them(
    store: Store, tmp_path: Path
) -> None:
    monday = datetime(2030, 1, 7, 3, tzinfo=UTC)
    days = iter([monday - timedelta(days=6), monday - timedelta(days=1), monday + timedelta(days=1)])
    ids = []
    for day in days:
        with use_clock(functools.partial(lambda moment: moment, day)):
            investigation_id, [proposal_id] = diagnosed_investigation(store)
            repo.approve_proposal(store, proposal_id, "U1")
            repo.record_feedback(
                store, investigation_id=investigation_id, kind="thumbs_up", actor="U", source="reaction"
            )
        ids.append(investigation_id)
        investigation = repo.get_investigation(store, investigation_id)
        assert investigation.created_at == investigation.finished_at == day
        assert repo.get_proposal(store, proposal_id).decided_at == day
        assert [f.created_at for f in repo.list_feedback(store, investigation_id=investigation_id)] == [day]
        assert {e.at for e in repo.list_audit(store, proposal_id=proposal_id)} == {day}

    path = tmp_path / "week.jsonl"
    counts = export_training_data(store, path, since=monday - timedelta(days=7), until=monday)
    assert counts == {"investigations": 2, "feedback": 2}
    assert [i.id for i in read_export(path).investigations] == ids[:2]
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)  # the wall clock is back


def test_clock_blocks_do_not_nest_and_a_naive_time_is_refused(store: Store) -> None:
    with use_clock(lambda: datetime(2030, 1, 1, tzinfo=UTC)):
        with pytest.raises(RuntimeError, match="do not nest"), use_clock(lambda: datetime.now(UTC)):
            pass  # pragma: no cover - never entered
        assert utcnow() == datetime(2030, 1, 1, tzinfo=UTC)
    with use_clock(lambda: datetime(2030, 1, 1)), pytest.raises(InvalidValueError, match="no timezone"):
        repo.create_incident(store, title="t", source="cli")
    assert utcnow().year < 2030
