"""The ``rq`` job function: what ``aoi worker`` runs for each queued investigation or execution.

rq imports ``run_task_job`` by name in the worker process, so the process's wiring (services and the
Slack client) is installed once by ``aoi worker`` (``install``); a process that did not install one
builds it from settings on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk import WebClient

from aoi.handlers import run_task
from aoi.handlers.context import Services
from aoi.handlers.tasks import parse_task

_lock = threading.Lock()
_context: tuple[Services, WebClient] | None = None


def install(services: Services, client: WebClient) -> None:
    """Make ``services``/``client`` the ones this process's jobs use."""
    global _context
    with _lock:
        _context = (services, client)


def _current() -> tuple[Services, WebClient]:
    global _context
    with _lock:
        if _context is None:
            from aoi.bot.app import build_runtime
            from aoi.bot.settings import get_settings

            runtime = build_runtime(get_settings(), socket_mode=True)
            _context = (runtime.services, runtime.client)
        return _context


def run_task_job(payload: dict[str, Any]) -> str:
    """Validate the queued task and run it; returns what ran (rq keeps it as the job result)."""
    task = parse_task(payload)
    services, client = _current()
    run_task(services, client, task)
    return f"{task.kind} done"
