"""Running an approved fix: the scoped executor, then the outcome in the proposal message and thread.

Runs on a worker (``ExecuteTask``). The executor claims the proposal in the store (approved →
executing, one winner across processes), re-checks the policy and the approver, writes the audit
records, dry-runs, executes and verifies. This module shows what happened: the proposal message is
replaced (outcome, verification, approvers; no buttons) and a reply in the thread names the approver.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from aoi.agents.executor import ExecutionResult
from aoi.agents.records import ActionRequest
from aoi.handlers import metrics
from aoi.handlers.blocks.common import escape, truncate
from aoi.handlers.blocks.proposals import build_proposal_blocks, proposal_fallback_text
from aoi.handlers.context import Services
from aoi.handlers.investigation import PROPOSAL, proposal_view
from aoi.handlers.slack_io import post_message, update_message
from aoi.handlers.tasks import ExecuteTask
from aoi.policies.evaluate import Actor
from aoi.store import repo
from aoi.store.enums import FeedbackKind, FeedbackSource

log = logging.getLogger(__name__)
OUTCOME = "execution"


def run_execution(services: Services, client: WebClient, task: ExecuteTask) -> ExecutionResult | None:
    """Execute ``task.proposal_id`` once and report it; a duplicate delivery reports nothing."""
    proposal = repo.get_proposal(services.store, task.proposal_id)
    request = ActionRequest.model_validate(proposal.action)
    actor = Actor(user_id=task.actor_id, groups=tuple(task.actor_groups))
    links = {"investigation_id": proposal.investigation_id, "proposal_id": proposal.id}
    try:
        result = services.execute(task.proposal_id, request, actor)
    except Exception as exc:
        log.exception("executor crashed on %s", task.proposal_id)
        metrics.EXECUTIONS.labels("error").inc()
        post_message(
            services,
            client,
            channel=task.channel,
            kind=OUTCOME,
            blocks=[],
            text=f":x: The executor failed on proposal `{task.proposal_id}`: {type(exc).__name__}: {exc}",
            thread_ts=task.thread_ts,
            **links,
        )
        raise
    if result.duplicate:
        log.info("proposal %s was already executed; not reporting twice", task.proposal_id)
        return result
    metrics.EXECUTIONS.labels(result.status).inc()
    proposal = repo.get_proposal(services.store, task.proposal_id)
    approvals = repo.counted_approvals(services.store, task.proposal_id)
    view = proposal_view(proposal, approvals)
    if result.status == "refused":
        view.status, view.outcome = "refused", result.detail
    # training signal only where the outcome is known: a fix the checks could not tell apart from
    # no fix (they passed before it too) is neither verified nor failed
    kind = (
        FeedbackKind.EXECUTION_FAILED
        if result.status == "failed"
        else FeedbackKind.EXECUTION_VERIFIED
        if result.status == "succeeded" and result.confirmed
        else None
    )
    if kind is not None:
        repo.record_feedback(
            services.store,
            investigation_id=proposal.investigation_id,
            proposal_id=proposal.id,
            kind=kind,
            actor=result.actor or task.actor_id,
            source=FeedbackSource.EXECUTOR,
        )
    update_message(
        services,
        client,
        channel=task.channel,
        ts=task.message_ts,
        kind=PROPOSAL,
        blocks=build_proposal_blocks(view),
        text=proposal_fallback_text(view),
    )
    post_message(
        services,
        client,
        channel=task.channel,
        kind=OUTCOME,
        blocks=[],
        text=outcome_text(result, approvals),
        thread_ts=task.thread_ts,
        **links,
    )
    return result


def outcome_text(result: ExecutionResult, approvers: list[str]) -> str:
    """The thread reply after an execution: who approved, what ran, and how verification went."""
    who = ", ".join(f"<@{u}>" for u in approvers) or f"<@{result.actor}>"
    command = f"`{escape(truncate(result.command or result.verb, 300))}`"
    if result.status == "succeeded" and result.confirmed:
        head = f":white_check_mark: Approved by {who}: {command} ran and the fix is verified."
    elif result.status == "succeeded":
        head = (
            f":grey_question: Approved by {who}: {command} ran; the checks pass, but they passed before it "
            "too, so please confirm the symptom is gone."
        )
    elif result.status == "failed":
        head = f":x: Approved by {who}: {command} did not fix it — {escape(truncate(result.detail, 500))}"
    else:
        head = (
            f":no_entry: Approved by {who}, but the executor refused: {escape(truncate(result.detail, 500))}"
        )
    if result.verification:
        head += f"\nVerification: {escape(truncate(result.verification, 1500))}"
    return head
