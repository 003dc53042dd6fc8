"""Slack surfaces: events, actions, commands, App Home and alerts, and the work they start.

Each surface module exposes ``register(app, services)``; ``register_all`` wires them into one Bolt
``App``. ``run_task`` is what a task runner executes (in-process pool or an ``rq`` worker).
"""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from aoi.handlers import actions, commands, events
from aoi.handlers.context import Services
from aoi.handlers.execution import run_execution
from aoi.handlers.investigation import run_investigation
from aoi.handlers.tasks import ExecuteTask, InvestigateTask


def register_all(app: App, services: Services) -> None:
    """Attach every Slack listener to ``app``."""
    events.register(app, services)
    actions.register(app, services)
    commands.register(app, services)


def run_task(services: Services, client: WebClient, task: InvestigateTask | ExecuteTask) -> None:
    """Run one queued task to completion (it reports its own outcome in Slack and the store)."""
    if isinstance(task, InvestigateTask):
        run_investigation(services, client, task)
    else:
        run_execution(services, client, task)


__all__ = ["Services", "register_all", "run_task"]
