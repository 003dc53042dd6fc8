"""The worker process (``aoi worker``): Socket Mode, the investigation/execution workers, the scheduler.

- **Socket Mode** when ``SLACK_APP_TOKEN`` is set: the same Bolt app as ``aoi bot``, over a websocket
  (no public URL needed). Without it, Slack reaches AOI through ``aoi bot``'s HTTP endpoint.
- **Workers**: with ``AOI_QUEUE_URL``, an ``rq`` worker consumes the chosen queues (investigations,
  executions, or both); jobs run in this process (``SimpleWorker``), which keeps the store pool, the
  Slack client and (for the simulator) the simulated cluster alive between jobs. Without a queue,
  tasks from Socket Mode run on the in-process pool.
- **Scheduler**: periodic recovery and the weekly retrain (``aoi.bot.scheduler``), in one process only.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from rq import Queue, SimpleWorker
from slack_bolt.adapter.socket_mode import SocketModeHandler

from aoi.bot import jobs
from aoi.bot.app import build_runtime
from aoi.bot.runners import EXECUTIONS_QUEUE, INVESTIGATIONS_QUEUE, RQRunner
from aoi.bot.scheduler import build_scheduler
from aoi.bot.settings import Settings

log = logging.getLogger(__name__)
QUEUE_CHOICES = {
    "all": (INVESTIGATIONS_QUEUE, EXECUTIONS_QUEUE),
    "investigations": (INVESTIGATIONS_QUEUE,),
    "executions": (EXECUTIONS_QUEUE,),
    "none": (),
}


def queues_for(choice: str) -> tuple[str, ...]:
    """The rq queue names for ``--queue`` (raises ``ValueError`` naming the valid choices)."""
    if choice not in QUEUE_CHOICES:
        raise ValueError(f"unknown queue {choice!r}; expected one of {', '.join(QUEUE_CHOICES)}")
    return QUEUE_CHOICES[choice]


def run_worker(
    settings: Settings,
    *,
    queues: Sequence[str],
    scheduler: bool = True,
    retrain: bool = True,
    burst: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM (or, with ``burst``, until the queues are empty)."""
    socket_mode = bool(settings.slack_app_token)
    runtime = build_runtime(settings, socket_mode=socket_mode)
    jobs.install(runtime.services, runtime.client)
    socket: SocketModeHandler | None = None
    cron = settings.retrain_cron if retrain else None
    sched = build_scheduler(runtime.services, runtime.client, retrain_cron=cron) if scheduler else None
    try:
        if socket_mode:
            socket = SocketModeHandler(
                runtime.bolt, app_token=settings.slack_app_token, web_client=runtime.client
            )
            socket.connect()
            log.info("Socket Mode connected")
        if sched is not None:
            sched.start()
        runner = runtime.services.runner
        if isinstance(runner, RQRunner) and queues:
            worker = SimpleWorker(
                [Queue(name, connection=runner.connection) for name in queues], connection=runner.connection
            )
            log.info("rq worker on %s", ", ".join(queues))
            worker.work(burst=burst, with_scheduler=True)
        elif not burst:
            _wait_for_signal()
    finally:
        if socket is not None:
            socket.close()
        if sched is not None:
            sched.shutdown(wait=False)
        runtime.close()


def _wait_for_signal() -> None:
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
