"""The work Slack events ask for after their ack: a bounded queue, a small worker pool, acks first.

Why: ``aoi bot`` acks an Events API request on the event loop (``aoi.bot.web``) and Bolt hands the
listener (``event_id`` de-duplication in the store, ``views.publish``, posting "Investigating…") to
its listener executor. Profiling ``bench/bench_reliability.py`` showed the ack path itself costs
~0.2 ms (signature check 0.01 ms, Bolt dispatch 0.13 ms at p50) and never touches the store; the ack
latency was the event loop waiting for the CPU and the GIL while 16 listener threads ran follow-ups
(their SQLite insert alone took 56 ms at p50, queued on the database lock) and the loop's
socket reads and writes handed the GIL to them. So follow-ups get:

- **a small pool** (``FOLLOW_UP_WORKERS`` threads): one SQLite writer does not go faster with 16;
- **a bound** (``FOLLOW_UP_CAPACITY`` queued events): memory stays flat however fast Slack sends.
  When it is full the web layer answers 503 *before* Bolt sees the event (so nothing is claimed in
  the store) and counts it in ``aoi_slack_events_busy_total``; Slack retries a non-2xx delivery
  (the same ``event_id``), so the event is delayed, not lost;
- **acks first**: a worker starts an item only when no Slack request arrived in the last
  ``ACK_QUIET_S`` — or once the item has waited ``MAX_DEFER_S``, so follow-ups are never starved
  under sustained traffic, only moved into the gaps between bursts.

Exactly-once is unchanged: the listener still claims the ``event_id`` in the store (a primary-key
insert, across processes) before acting, so a retry queued next to its original is dropped.
``shutdown`` stops taking work and drains the queue (``aoi bot``'s graceful shutdown waits for it);
a process killed with work still queued loses only follow-ups whose ``event_id`` was never claimed —
Slack's delivery was acked, so like any in-memory hand-off that is the crash window this accepts.

Only Events API listeners dispatched inside ``events_lane()`` take this queue; interactivity and
slash commands ack from inside their listener, so they keep a plain thread pool (``ListenerExecutor``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

FOLLOW_UP_WORKERS = 2
FOLLOW_UP_CAPACITY = 2000
ACK_QUIET_S = 0.01
MAX_DEFER_S = 2.0

FOLLOW_UPS_QUEUED = Gauge("aoi_slack_follow_ups_queued", "Events API follow-ups waiting for a worker")
EVENTS_BUSY = Counter(
    "aoi_slack_events_busy_total", "Events API deliveries answered 503 because the follow-up queue was full"
)

_EVENTS_LANE: ContextVar[bool] = ContextVar("aoi_events_lane", default=False)


class FollowUpQueueFull(RuntimeError):
    """The follow-up queue is at capacity (the web layer answers 503 before this can happen)."""


@contextmanager
def events_lane() -> Iterator[None]:
    """Listener work submitted while this is active goes to the bounded follow-up queue."""
    token = _EVENTS_LANE.set(True)
    try:
        yield
    finally:
        _EVENTS_LANE.reset(token)


_Item = tuple[Future[Any], Callable[[], Any], float]


class FollowUpQueue(Executor):
    """A bounded FIFO served by ``workers`` threads that yield to acks (see the module docstring)."""

    def __init__(
        self,
        workers: int = FOLLOW_UP_WORKERS,
        capacity: int = FOLLOW_UP_CAPACITY,
        *,
        quiet_s: float = ACK_QUIET_S,
        max_defer_s: float = MAX_DEFER_S,
        name: str = "aoi-follow-up",
    ) -> None:
        self.capacity, self.quiet_s, self.max_defer_s = capacity, quiet_s, max_defer_s
        self._items: queue.Queue[_Item | None] = queue.Queue(maxsize=capacity)
        self._closed = False
        self._lock = threading.Lock()
        self._last_ack = 0.0
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def note_ack(self) -> None:
        """The web layer saw a Slack request: workers hold off for ``quiet_s`` (acks first)."""
        self._last_ack = time.monotonic()

    def has_room(self) -> bool:
        return not self._closed and not self._items.full()

    def pending(self) -> int:
        return self._items.qsize()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)``; raises ``FollowUpQueueFull`` at capacity, ``RuntimeError``
        after ``shutdown``."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the follow-up queue is shut down")
            try:
                self._items.put_nowait((future, lambda: fn(*args, **kwargs), time.monotonic()))
            except queue.Full:
                raise FollowUpQueueFull(f"{self.capacity} follow-ups already queued") from None
        FOLLOW_UPS_QUEUED.inc()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more work; the workers finish everything already queued, then stop."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._last_ack = 0.0  # nothing left to yield to
                for _ in self._threads:
                    self._items.put(None)  # after the queued items: FIFO, so they drain first
        if wait:
            for thread in self._threads:
                thread.join()

    def _wait_for_quiet(self, queued_at: float) -> None:
        while not self._closed:
            now = time.monotonic()
            quiet_at = self._last_ack + self.quiet_s
            if now >= quiet_at or now - queued_at >= self.max_defer_s:
                return
            time.sleep(min(quiet_at, queued_at + self.max_defer_s) - now)

    def _work(self) -> None:
        while True:
            item = self._items.get()
            if item is None:
                return
            FOLLOW_UPS_QUEUED.dec()
            future, call, queued_at = item
            self._wait_for_quiet(queued_at)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except Exception as exc:  # Bolt's wrapper logs listener errors; this keeps the worker alive
                log.exception("follow-up failed")
                future.set_exception(exc)


class ListenerExecutor(Executor):
    """Bolt's ``listener_executor``: Events API listeners dispatched in ``events_lane()`` go to the
    bounded ``follow_ups``; everything else (interactivity, slash commands, Socket Mode) to
    ``interactive``, whose listeners must run at once because their ``ack()`` is inside them."""

    def __init__(self, follow_ups: FollowUpQueue, interactive: ThreadPoolExecutor) -> None:
        self.follow_ups, self.interactive = follow_ups, interactive

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if _EVENTS_LANE.get():
            return self.follow_ups.submit(fn, *args, **kwargs)
        return self.interactive.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Drain the follow-ups (they may still start interactive work), then the interactive pool."""
        self.follow_ups.shutdown(wait=wait)
        self.interactive.shutdown(wait=wait, cancel_futures=cancel_futures)
