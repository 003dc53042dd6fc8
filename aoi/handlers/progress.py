"""Progress lines in the incident thread, throttled, and how the Observer's steps reach them.

``ThrottledProgress`` posts the first step at once, then at most one message per ``interval_s``
(steps in between are merged into that message), so a fast planner cannot flood a channel or hit
Slack's ~1 message/second/channel limit. Posting progress is best effort: a failed progress post is
logged and the investigation goes on (the summary message and the store carry the result).

``ProgressPlanner`` wraps a planner: each time the Observer asks for the next step, the steps taken
since the last call (with their tool results) are reported. The Observer stays unaware of Slack.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from aoi.agents.planners.base import Planner, PlannerContext, PlannerOutput
from aoi.agents.records import TrajectoryStep
from aoi.handlers.blocks.diagnosis import build_progress_text

log = logging.getLogger(__name__)


class ThrottledProgress:
    """Collects progress lines and posts them through ``post`` at most once per ``interval_s``."""

    def __init__(
        self, post: Callable[[str], None], interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._post = post
        self._interval = interval_s
        self._clock = clock
        self._pending: list[str] = []
        self._last: float | None = None
        self._lock = threading.Lock()
        self.posted = 0

    def report(self, step: TrajectoryStep) -> None:
        with self._lock:
            self._pending.append(build_progress_text(step))
            due = self._last is None or self._clock() - self._last >= self._interval
        if due:
            self.flush()

    def flush(self) -> None:
        """Post whatever is pending now (called at the end so no taken step goes unreported)."""
        with self._lock:
            if not self._pending:
                return
            text = "\n".join(self._pending)
            self._pending = []
            self._last = self._clock()
        try:
            self._post(text)
            self.posted += 1
        except Exception:
            log.warning("could not post investigation progress", exc_info=True)


class ProgressPlanner:
    """A planner that reports the Observer's completed steps before deciding the next one."""

    def __init__(self, inner: Planner, on_step: Callable[[TrajectoryStep], None]) -> None:
        self.inner = inner
        self.name = inner.name
        self._on_step = on_step
        self._reported = 0

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        for item in context.history[self._reported :]:
            self._on_step(
                TrajectoryStep(index=item.index, step=item.step, result=item.result, planner=self.name)
            )
        self._reported = max(self._reported, len(context.history))
        return self.inner.next_step(context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
