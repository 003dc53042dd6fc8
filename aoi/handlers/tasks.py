"""The long-running work a Slack click or event starts, as data, and the runner protocol that runs it.

Listeners ack within milliseconds and *submit* a task; a runner runs it elsewhere — a thread pool in
the same process by default, or ``rq`` workers on Redis when ``AOI_QUEUE_URL`` is set. Tasks are plain
pydantic models so they cross a queue as JSON and are validated again on the other side.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, TypeAdapter

TaskSource = Literal["channel", "mention", "command", "alert"]


class InvestigateTask(BaseModel):
    """Investigate ``incident_text`` and report in ``channel``'s thread ``thread_ts``.

    The submitter has already stored the investigation as *queued* and posted its summary message
    (``summary_ts``); a retried delivery of the same task finds the row taken and does nothing.
    """

    kind: Literal["investigate"] = "investigate"
    investigation_id: str
    incident_id: str
    incident_text: str = Field(max_length=20_000)
    channel: str
    thread_ts: str
    summary_ts: str
    requested_by: str | None = None
    source: TaskSource


class ExecuteTask(BaseModel):
    """Execute an approved proposal (already decided in the store) and report on its message.

    ``actor_id``/``actor_groups`` are the approver whose click completed the approval, with the user
    groups resolved at click time: the executor re-checks that this actor may approve the rule.
    """

    kind: Literal["execute"] = "execute"
    proposal_id: str
    channel: str
    message_ts: str
    thread_ts: str | None = None
    actor_id: str
    actor_groups: list[str] = Field(default_factory=list)


Task = Annotated[InvestigateTask | ExecuteTask, Field(discriminator="kind")]
_TASK_ADAPTER: TypeAdapter[InvestigateTask | ExecuteTask] = TypeAdapter(Task)


def parse_task(data: Any) -> InvestigateTask | ExecuteTask:
    """Validate a task that came back from a queue (raises pydantic's ``ValidationError``)."""
    return _TASK_ADAPTER.validate_python(data)


class TaskRunner(Protocol):
    """Runs submitted tasks off the request path. ``submit`` must return quickly and never raise for
    a task failure (failures are reported in Slack and the store by the task itself)."""

    def submit(self, task: InvestigateTask | ExecuteTask) -> None: ...

    def close(self) -> None: ...
