"""The first-message screen answers from memory where that is safe, and from the store otherwise."""

from __future__ import annotations

from pathlib import Path

from aoi.handlers.channels import GREETING, AwaitingChannels
from aoi.store import repo
from aoi.store.db import Store


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'aoi.db'}", migrate=True)


def test_a_greeting_written_by_another_process_is_seen_once_the_negative_answer_expires(
    tmp_path: Path,
) -> None:
    store, clock = _store(tmp_path), Clock()
    awaiting = AwaitingChannels(negative_ttl_s=5.0, clock=clock)
    assert not awaiting.awaiting_first_message(store, "C1")
    repo.record_slack_message(store, channel="C1", ts="1.1", kind=GREETING, payload={"text": "hi"})
    assert not awaiting.awaiting_first_message(store, "C1")  # still the cached "no" within the TTL
    clock.now += 6
    assert awaiting.awaiting_first_message(store, "C1")


def test_claimed_channels_are_answered_without_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    awaiting = AwaitingChannels()
    awaiting.mark_greeted("C2")
    assert awaiting.awaiting_first_message(store, "C2")  # greeted by this process: no store read needed
    awaiting.mark_claimed("C2")
    store.dispose()
    (tmp_path / "aoi.db").unlink()  # the store is gone: only memory can answer now
    assert not awaiting.awaiting_first_message(store, "C2")
