"""Task runners: where investigations and executions run once a listener has acked.

- ``InProcessRunner`` (default): a thread pool in the same process. Nothing to deploy; the work dies
  with the process, which the store's statuses make visible (queued/running rows never finish).
- ``RQRunner`` (``AOI_QUEUE_URL=redis://…``): jobs on Redis through ``rq``, run by ``aoi worker``
  processes on any number of machines. Investigations and executions use separate queues so the
  executor can run in its own Deployment with the write credentials, and investigators never hold them.

Both satisfy ``aoi.handlers.tasks.TaskRunner``. ``submit`` never blocks on the work itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from redis import Redis
from rq import Queue, Retry

from aoi.handlers.tasks import ExecuteTask, InvestigateTask

log = logging.getLogger(__name__)

INVESTIGATIONS_QUEUE = "aoi-investigations"
EXECUTIONS_QUEUE = "aoi-executions"
JOB_FUNCTION = "aoi.bot.jobs.run_task_job"

TaskHandler = Callable[[InvestigateTask | ExecuteTask], None]


class InProcessRunner:
    """Runs tasks on a bounded thread pool; a failing task is logged (it reports itself in Slack)."""

    def __init__(self, handle: TaskHandler, max_workers: int = 4) -> None:
        self._handle = handle
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aoi-task")

    def submit(self, task: InvestigateTask | ExecuteTask) -> None:
        self._pool.submit(self._run, task)

    def _run(self, task: InvestigateTask | ExecuteTask) -> None:
        try:
            self._handle(task)
        except Exception:
            log.exception("task %s failed", task.kind)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def queue_for(task: InvestigateTask | ExecuteTask) -> str:
    return INVESTIGATIONS_QUEUE if task.kind == "investigate" else EXECUTIONS_QUEUE


def job_id_for(task: InvestigateTask | ExecuteTask) -> str:
    """A stable job id: the same investigation or execution is one job, however often it is submitted."""
    return (
        f"investigate-{task.investigation_id}"
        if task.kind == "investigate"
        else f"execute-{task.proposal_id}"
    )


class RQRunner:
    """Enqueues tasks as ``rq`` jobs (JSON payloads) for ``aoi worker`` processes.

    Jobs are retried on a crashed worker (``Retry``); a retried investigation or execution is safe
    because the task code checks the store first (queued/pending rows only).
    """

    def __init__(self, redis_url: str, job_timeout_s: int = 900) -> None:
        self.connection = Redis.from_url(redis_url)
        self._timeout = job_timeout_s
        self.queues = {
            name: Queue(name, connection=self.connection) for name in (INVESTIGATIONS_QUEUE, EXECUTIONS_QUEUE)
        }

    def submit(self, task: InvestigateTask | ExecuteTask) -> None:
        self.queues[queue_for(task)].enqueue(
            JOB_FUNCTION,
            task.model_dump(mode="json"),
            job_id=job_id_for(task),
            job_timeout=self._timeout,
            result_ttl=86_400,
            failure_ttl=7 * 86_400,
            retry=Retry(max=2, interval=[5, 30]),
            description=f"aoi {task.kind}",
        )

    def close(self) -> None:
        self.connection.close()
