"""A fixed set of spawned worker processes that run one task each, released together by a barrier.

``concurrent.futures`` cannot guarantee that 20 tasks land on 20 different processes at the same
instant; this pool gives each process exactly one task per round and makes all of them wait on a
shared barrier before starting, so every round is a real 20-way race between separate processes
(separate interpreters, connection pools and SQLite handles — nothing inherited by fork).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import traceback
from collections.abc import Sequence
from multiprocessing.synchronize import Barrier
from typing import Any


def _serve(index: int, tasks: Any, results: Any, barrier: Barrier) -> None:
    while True:
        job = tasks.get()
        if job is None:
            return
        func_path, args = job
        try:
            module_name, func_name = func_path.split(":")
            func = getattr(importlib.import_module(module_name), func_name)
            barrier.wait(timeout=60)
            results.put((index, True, func(*args)))
        except BaseException:  # report any failure to the test instead of dying silently
            results.put((index, False, traceback.format_exc()))


class ProcessPool:
    """``size`` spawned processes; ``run_round`` gives each one call and returns results by index."""

    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.size = size
        self._barrier = ctx.Barrier(size)
        self._results = ctx.Queue()
        self._tasks = [ctx.Queue() for _ in range(size)]
        self._procs = [
            ctx.Process(target=_serve, args=(i, self._tasks[i], self._results, self._barrier), daemon=True)
            for i in range(size)
        ]
        for proc in self._procs:
            proc.start()

    def run_round(
        self, func_path: str, args_per_worker: Sequence[tuple[Any, ...]], timeout: float = 120
    ) -> list[Any]:
        """Run ``module:function`` once in every process (all start together); results in worker order."""
        if len(args_per_worker) != self.size:
            raise ValueError(f"need exactly {self.size} argument tuples, got {len(args_per_worker)}")
        for queue, args in zip(self._tasks, args_per_worker, strict=True):
            queue.put((func_path, args))
        collected: dict[int, Any] = {}
        errors: list[str] = []
        for _ in range(self.size):
            index, ok, value = self._results.get(timeout=timeout)
            if ok:
                collected[index] = value
            else:
                errors.append(value)
        if errors:
            self._barrier.reset()
            raise AssertionError("worker process failed:\n" + "\n".join(errors))
        return [collected[i] for i in range(self.size)]

    def close(self) -> None:
        """Stop the idle workers (they hold nothing: each task disposed of its own engine)."""
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.join(timeout=10)
