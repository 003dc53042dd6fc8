"""Event follow-ups on the bounded queue: bound respected, nothing lost or doubled when it is full,
drained on shutdown, never starved by a stream of acks (``aoi.bot.followups``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aoi.bot.followups import EVENTS_BUSY, FollowUpQueue, FollowUpQueueFull, ListenerExecutor, events_lane
from aoi.store import repo
from aoi.store.models import ProcessedEvent
from tests.bot.harness import eventually, running_bot


def _occupy(queue: FollowUpQueue) -> threading.Event:
    """Keep the queue's only worker busy until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(30)

    queue.submit(busy)
    assert started.wait(10)
    return release


def test_the_queue_refuses_work_beyond_its_capacity_and_runs_everything_it_took_once() -> None:
    queue = FollowUpQueue(workers=1, capacity=3)
    release = _occupy(queue)
    ran: list[int] = []
    futures = [queue.submit(ran.append, i) for i in range(3)]
    assert not queue.has_room()
    with pytest.raises(FollowUpQueueFull):
        queue.submit(ran.append, 99)
    release.set()
    for future in futures:
        future.result(timeout=10)
    assert ran == [0, 1, 2]
    assert queue.has_room()
    queue.shutdown()


def test_shutdown_drains_queued_work_and_then_refuses_more() -> None:
    queue = FollowUpQueue(workers=1, capacity=50)
    release = _occupy(queue)
    ran: list[int] = []
    for i in range(20):
        queue.submit(ran.append, i)
    stopper = threading.Thread(target=queue.shutdown)
    stopper.start()
    release.set()
    stopper.join(timeout=30)
    assert not stopper.is_alive()
    assert ran == list(range(20))
    with pytest.raises(RuntimeError):
        queue.submit(ran.append, 20)


def test_acks_first_defers_work_but_never_starves_it() -> None:
    queue = FollowUpQueue(workers=1, capacity=10, quiet_s=3600, max_defer_s=0.05)
    queue.note_ack()  # a request "just" arrived, and the quiet period is an hour
    assert queue.submit(lambda: "done").result(timeout=10) == "done"
    queue.shutdown()


def test_work_deferred_for_acks_still_runs_at_shutdown() -> None:
    queue = FollowUpQueue(workers=1, capacity=10, quiet_s=3600, max_defer_s=3600)
    queue.note_ack()
    future = queue.submit(lambda: "done")
    queue.shutdown()
    assert future.result(timeout=0) == "done"


def test_a_failing_follow_up_does_not_stop_its_worker() -> None:
    queue = FollowUpQueue(workers=1, capacity=10)
    failed = queue.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.result(timeout=10)
    assert queue.submit(lambda: "still serving").result(timeout=10) == "still serving"
    queue.shutdown()


def test_only_work_submitted_in_the_events_lane_takes_the_bounded_queue() -> None:
    follow_ups = FollowUpQueue(workers=1, capacity=1)
    listeners = ListenerExecutor(follow_ups, ThreadPoolExecutor(max_workers=2))
    release = _occupy(follow_ups)
    with events_lane():
        listeners.submit(lambda: None)
        with pytest.raises(FollowUpQueueFull):
            listeners.submit(lambda: None)
    # interactivity (outside the lane) is not held up by a full event queue
    assert listeners.submit(lambda: "clicked").result(timeout=10) == "clicked"
    release.set()
    listeners.shutdown()


def _home_event(user: str) -> dict[str, str]:
    return {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}


def _published_to(calls: list, user: str) -> int:
    return sum(1 for c in calls if c.method == "views.publish" and c.params.get("user_id") == user)


def test_a_full_queue_answers_busy_and_slacks_retry_is_handled_exactly_once(
    tmp_path: Path, db_template: Path
) -> None:
    follow_ups = FollowUpQueue(workers=1, capacity=1)
    listeners = ListenerExecutor(follow_ups, ThreadPoolExecutor(max_workers=4))
    with running_bot(tmp_path, db_template, listeners=listeners) as bot:
        release = _occupy(follow_ups)
        busy_before = EVENTS_BUSY._value.get()
        assert bot.event(_home_event("U0FIRST"), event_id="EvQueued001").status_code == 200
        refused = bot.event(_home_event("U0SECOND"), event_id="EvBusy00001")
        assert refused.status_code == 503
        assert "busy" in refused.json()["error"]
        assert EVENTS_BUSY._value.get() == busy_before + 1
        # an unsigned request is still refused as such, not as busy
        forged = bot.http.post(
            "/slack/events",
            content=b'{"type": "event_callback"}',
            headers={"Content-Type": "application/json"},
        )
        assert forged.status_code == 401
        # the refused delivery claimed nothing: it is not in the processed-event table
        with bot.store.transaction() as session:
            assert session.get(ProcessedEvent, "EvBusy00001") is None
        release.set()
        eventually(lambda: _published_to(bot.fake.calls, "U0FIRST") == 1, what="the queued event's publish")
        # Slack re-delivers the refused event (and the accepted one, once more); the queue holds one
        # item, so the second re-delivery waits until the first has been taken off it
        assert bot.event(_home_event("U0SECOND"), event_id="EvBusy00001", retry_num=1).status_code == 200
        eventually(lambda: _published_to(bot.fake.calls, "U0SECOND") == 1, what="the retried event's publish")
        assert bot.event(_home_event("U0FIRST"), event_id="EvQueued001", retry_num=1).status_code == 200
        follow_ups.shutdown()  # drains: a wrongly accepted duplicate would have run by now
        assert _published_to(bot.fake.calls, "U0FIRST") == 1
        assert _published_to(bot.fake.calls, "U0SECOND") == 1
        assert not repo.mark_event_processed(bot.store, "EvBusy00001")
        assert not repo.mark_event_processed(bot.store, "EvQueued001")
