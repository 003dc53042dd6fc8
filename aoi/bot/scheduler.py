"""The worker's scheduler (APScheduler 3, in one process only): periodic housekeeping.

- at start, then every 5 minutes: fail and report investigations/executions a dead worker left unfinished, and
  prune processed Slack event ids older than a day (``aoi.handlers.recovery``);
- with ``retrain``: the weekly retrain on ``AOI_RETRAIN_CRON`` (``aoi train weekly``'s job; it imports
  the training extras only when it runs).

Run it in exactly one process (``aoi worker --scheduler``, the default; ``--no-scheduler`` on the
other replicas): APScheduler 3 does not coordinate several schedulers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from aoi.handlers.context import Services
from aoi.handlers.recovery import recover_interrupted

log = logging.getLogger(__name__)
RECOVERY_JOB = "aoi-recover-interrupted"


def _recover(services: Services, client: WebClient) -> None:
    try:
        recover_interrupted(services, client)
    except Exception:
        log.exception("recovery sweep failed; it runs again in 5 minutes")


def build_scheduler(
    services: Services, client: WebClient, *, retrain_cron: str | None = None
) -> BackgroundScheduler:
    """A not-yet-started ``BackgroundScheduler`` (UTC) with AOI's periodic jobs; ``retrain_cron``
    adds the weekly retrain (raises ``ValueError`` for a malformed crontab)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    if retrain_cron is not None:
        from aoi.bot.commands.train import WEEKLY_JOB_REF
        from aoi.training.weekly import add_weekly_job

        add_weekly_job(scheduler, retrain_cron, WEEKLY_JOB_REF)
    scheduler.add_job(
        _recover,
        "interval",
        minutes=5,
        id=RECOVERY_JOB,
        replace_existing=True,
        args=[services, client],
        max_instances=1,
        coalesce=True,
        # a restarted worker sweeps at once: work its previous life left behind is reported without
        # waiting for the first interval
        next_run_time=datetime.now(UTC),
    )
    return scheduler
