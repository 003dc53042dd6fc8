"""Which channels are incident channels still waiting for their first message — answered from memory
where that is safe, because every message in every channel AOI is in asks it.

A channel qualifies when AOI greeted it (the greeting is in the store) and no investigation has
claimed it yet. Answers are cached per process: "greeted" and "claimed" never revert, so they are
kept; "not greeted" is kept for ``negative_ttl_s`` only, because another process may greet the
channel a moment later. The store stays the authority: the start itself is a one-time claim there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aoi.store import repo
from aoi.store.db import Store

GREETING = "greeting"


class AwaitingChannels:
    def __init__(
        self,
        negative_ttl_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = negative_ttl_s
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._greeted: set[str] = set()
        self._claimed: set[str] = set()
        self._not_greeted: dict[str, float] = {}

    def awaiting_first_message(self, store: Store, channel: str) -> bool:
        """True when ``channel`` is greeted and not yet claimed by an investigation (as far as known)."""
        now = self._clock()
        with self._lock:
            if channel in self._claimed:
                return False
            if channel in self._greeted:
                return True
            seen = self._not_greeted.get(channel)
            if seen is not None and now - seen < self._ttl:
                return False
        greeted = bool(repo.list_slack_messages(store, channel=channel, kind=GREETING, limit=1))
        with self._lock:
            if greeted:
                self._remember(self._greeted, channel)
                self._not_greeted.pop(channel, None)
            else:
                if len(self._not_greeted) >= self._max:
                    self._not_greeted.clear()
                self._not_greeted[channel] = now
        return greeted

    def mark_greeted(self, channel: str) -> None:
        with self._lock:
            self._remember(self._greeted, channel)
            self._not_greeted.pop(channel, None)

    def mark_claimed(self, channel: str) -> None:
        with self._lock:
            self._remember(self._claimed, channel)
            self._greeted.discard(channel)

    def _remember(self, entries: set[str], channel: str) -> None:
        if len(entries) >= self._max:
            entries.clear()
        entries.add(channel)
