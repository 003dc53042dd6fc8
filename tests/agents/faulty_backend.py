"""A ``ReadBackend`` wrapper that injects failures per method, for backend-fault tests.

``FaultyReadBackend(inner, {"pod_logs": ForbiddenError("403 ..."), "prom_query": slow(0.05)})``:
each named method raises the given exception (a fresh copy each call) or runs the given callable
first (e.g. a sleep) and then delegates; ``kinds`` restricts ``list_objects``/``get_object`` faults to
some object kinds (a 403 on Events only). Calls that were failed are recorded in ``failed``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

Fault = BaseException | Callable[[], None]


def slow(seconds: float) -> Callable[[], None]:
    return lambda: time.sleep(seconds)


class FaultyReadBackend:
    name = "faulty"

    def __init__(self, inner: Any, faults: dict[str, Fault], kinds: set[str] | None = None) -> None:
        self._inner = inner
        self._faults = faults
        self._kinds = kinds
        self.failed: list[str] = []

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._inner, method)
        fault = self._faults.get(method)
        if fault is None or not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            kind = args[0] if args and method in ("list_objects", "get_object") else None
            if self._kinds is not None and kind is not None and kind not in self._kinds:
                return target(*args, **kwargs)
            if isinstance(fault, BaseException):
                self.failed.append(method)
                raise copy.copy(fault)
            fault()
            return target(*args, **kwargs)

        return call
