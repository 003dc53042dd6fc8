"""Every timestamp the store returns is timezone-aware UTC; naive input is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from aoi.store import InvalidValueError, Store, repo
from aoi.store.models import StoreModel
from tests.store.helpers import diagnosed_investigation


def _timestamps(record: StoreModel) -> list[datetime]:
    return [value for value in record.model_dump().values() if isinstance(value, datetime)]


def test_every_timestamp_of_every_record_reads_back_as_aware_utc(store: Store) -> None:
    investigation_id, [proposal_id] = diagnosed_investigation(store)
    repo.approve_proposal(store, proposal_id, "U1")
    repo.claim_execution(store, proposal_id, executor="x")
    repo.finish_execution(store, proposal_id, succeeded=True, result={})
    repo.record_feedback(store, investigation_id=investigation_id, kind="helpful", actor="U", source="button")
    repo.record_slack_message(store, channel="C", ts="1.1", kind="summary", payload={})
    repo.mark_event_processed(store, "E1")
    guidance = repo.add_guidance(store, symptoms="s", note="n", repaired_plan=[], embedding=[1.0])
    repo.remove_guidance(store, guidance.id, actor="U")
    run = repo.start_training_run(store, kind="sft", dataset_hash="h", config={})
    repo.finish_training_run(store, run.id, succeeded=True, metrics={})
    model = repo.register_model(store, name="m", version="1", base_model="b")
    repo.promote_model(store, model.id)

    records: list[StoreModel] = [
        repo.get_investigation(store, investigation_id),
        repo.get_proposal(store, proposal_id),
        *repo.list_incidents(store),
        *repo.list_feedback(store),
        *repo.list_slack_messages(store),
        *repo.list_audit(store),
        repo.get_guidance(store, guidance.id),
        *repo.list_training_runs(store),
        repo.get_model(store, model.id),
    ]
    stamps = [stamp for record in records for stamp in _timestamps(record)]
    assert len(stamps) >= 20
    assert all(stamp.utcoffset() == timedelta(0) and stamp.tzinfo is not None for stamp in stamps)
    assert all(abs(datetime.now(UTC) - stamp) < timedelta(minutes=5) for stamp in stamps)


def test_a_timestamp_in_another_zone_is_converted_to_utc(store: Store) -> None:
    repo.mark_event_processed(store, "E1")
    tokyo = timezone(timedelta(hours=9))
    assert repo.prune_processed_events(store, older_than=datetime.now(tokyo) - timedelta(hours=1)) == 0
    assert repo.prune_processed_events(store, older_than=datetime.now(tokyo) + timedelta(hours=1)) == 1


def test_naive_datetimes_are_refused_with_how_to_fix_it(store: Store) -> None:
    with pytest.raises(InvalidValueError, match="has no timezone"):
        repo.list_feedback(store, since=datetime(2025, 1, 1))
