"""Interactivity: Approve / Reject on proposals (with the reason modal) and Helpful / Not helpful.

Every click is acked first. Approve checks that the clicker is an approver of the proposal's policy
rule (user ids, user groups resolved via the Web API, plus ``AOI_APPROVERS``): an unauthorised click
gets an ephemeral refusal, is audited, and changes nothing. The store's ``approve_proposal`` decides
exactly once (and counts distinct approvers for the two-person rule); only the click that approves
queues the execution. Reject opens a modal for an optional reason; submitting it rejects the proposal
and stores the reason as feedback.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from aoi.agents.records import ActionRequest
from aoi.handlers import fields, metrics
from aoi.handlers.approvers import ApproverDirectory, Resolution
from aoi.handlers.blocks.common import (
    APPROVE,
    HELPFUL,
    NOT_HELPFUL,
    REJECT,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
)
from aoi.handlers.blocks.proposals import (
    build_proposal_blocks,
    build_reject_reason_modal,
    hidden_command,
    proposal_fallback_text,
)
from aoi.handlers.context import Services
from aoi.handlers.feedback import record_button_feedback
from aoi.handlers.investigation import PROPOSAL, approvals_required, proposal_view
from aoi.handlers.slack_io import post_ephemeral, update_message
from aoi.handlers.tasks import ExecuteTask
from aoi.policies.evaluate import Actor, authorise, evaluate
from aoi.policies.schema import Policy
from aoi.store import repo
from aoi.store.enums import FeedbackKind, FeedbackSource
from aoi.store.errors import NotFoundError
from aoi.store.models import Proposal
from aoi.store.types import utcnow

log = logging.getLogger(__name__)


class Click:
    """Where a button was clicked and by whom (from a ``block_actions`` payload)."""

    @staticmethod
    def usable(body: dict[str, Any], action: dict[str, Any]) -> Click | None:
        """The click, or ``None`` (logged) when the payload lacks who clicked, where, or on what."""
        click = Click(body, action)
        absent = [name for name in ("user", "channel", "message_ts", "value") if not getattr(click, name)]
        if absent:
            fields.drop(f"block_actions {fields.text(action, 'action_id')}", absent)
            return None
        return click

    def __init__(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        container = fields.mapping(body, "container")
        self.user = fields.text(fields.mapping(body, "user"), "id")
        self.channel = fields.text(fields.mapping(body, "channel"), "id") or fields.text(
            container, "channel_id"
        )
        message = fields.mapping(body, "message")
        self.message_ts = fields.text(message, "ts") or fields.text(container, "message_ts")
        self.thread_ts = fields.text(message, "thread_ts") or None
        self.trigger_id = fields.text(body, "trigger_id")
        self.value = fields.text(action, "value")


def _authorised(
    services: Services,
    directory: ApproverDirectory,
    client: WebClient,
    proposal: Proposal,
    user: str,
    policy: Policy,
) -> tuple[bool, Resolution]:
    resolution = directory.resolve(client, policy, proposal.rule_id, user)
    return authorise(policy, proposal.rule_id, resolution.actor, services.extra_approvers), resolution


def _vote_counts(services: Services, proposal: Proposal, policy: Policy) -> repo.VoteCounts:
    """Whether a recorded vote counts under ``policy`` (its voter may still approve, with the groups
    recorded), the test the executor applies too; the store applies it under the proposal's lock."""

    def counts(user: str, groups: tuple[str, ...]) -> bool:
        return authorise(
            policy, proposal.rule_id, Actor(user_id=user, groups=groups), services.extra_approvers
        )

    return counts


def _audit_click(
    services: Services, click: Click, proposal: Proposal, action: str, details: dict[str, Any]
) -> None:
    """An audit row for what a click on ``proposal`` did (or was refused)."""
    repo.append_audit(
        services.store,
        actor=click.user,
        action=action,
        proposal_id=proposal.id,
        investigation_id=proposal.investigation_id,
        details=details,
    )


def _policy_changed(policy: Policy, request: ActionRequest, proposal: Proposal) -> str | None:
    """Why the policy in force no longer allows this fix as it was proposed (None when it does): a
    refused request, or a different rule deciding it (other approvers, other counts)."""
    decision = evaluate(policy, request)
    if not decision.allowed:
        return decision.reason
    if decision.rule_id != proposal.rule_id:
        return f"the policy now decides it under rule `{decision.rule_id}`, not `{proposal.rule_id}`"
    return None


def _refuse_changed(
    services: Services, client: WebClient, click: Click, proposal: Proposal, reason: str
) -> None:
    """The policy changed under a pending fix: nothing is approved (the executor would refuse it for
    good); the clicker is told why and how to get a fix the policy allows."""
    metrics.DECISIONS.labels("policy_refused").inc()
    _audit_click(
        services,
        click,
        proposal,
        "proposal.policy_refused_approve",
        {"rule_id": proposal.rule_id, "reason": reason},
    )
    _tell(
        services,
        client,
        click,
        f":no_entry: The policy in force does not allow this fix as proposed: {reason}. Mention me in the "
        "thread for a fresh proposal. Nothing was run.",
    )


def _refuse(
    services: Services, client: WebClient, click: Click, proposal: Proposal, what: str, res: Resolution
) -> None:
    """Audit an unauthorised click and tell only the clicker; nothing else happens."""
    metrics.DECISIONS.labels("unauthorised").inc()
    _audit_click(
        services,
        click,
        proposal,
        f"proposal.unauthorised_{what}",
        {
            "rule_id": proposal.rule_id,
            "groups": list(res.actor.groups),
            "unreadable_groups": res.unreadable,
        },
    )
    unreadable = f" (could not check groups: {', '.join(res.unreadable)})" if res.unreadable else ""
    post_ephemeral(
        services,
        client,
        channel=click.channel,
        user=click.user,
        thread_ts=click.thread_ts,
        text=(
            f":no_entry: You are not an approver for policy rule `{proposal.rule_id}`, so you cannot {what} "
            f"this fix{unreadable}. Nothing was run; this attempt was recorded."
        ),
        investigation_id=proposal.investigation_id,
        proposal_id=proposal.id,
    )


def _show(
    services: Services, client: WebClient, click: Click, proposal: Proposal, approvals: list[str]
) -> None:
    view = proposal_view(proposal, approvals)
    update_message(
        services,
        client,
        channel=click.channel,
        ts=click.message_ts,
        kind=PROPOSAL,
        blocks=build_proposal_blocks(view),
        text=proposal_fallback_text(view),
    )


def _tell(services: Services, client: WebClient, click: Click, text: str) -> None:
    post_ephemeral(
        services, client, channel=click.channel, user=click.user, text=text, thread_ts=click.thread_ts
    )


def handle_approve(services: Services, directory: ApproverDirectory, client: WebClient, click: Click) -> None:
    try:
        proposal = repo.get_proposal(services.store, click.value)
    except NotFoundError:
        _tell(
            services,
            client,
            click,
            f"Proposal `{click.value[:40]}` does not exist (any more). Nothing was run.",
        )
        return
    policy = services.policy  # one snapshot for everything this click decides
    request = ActionRequest.model_validate(proposal.action)
    if proposal.status == "pending" and (changed := _policy_changed(policy, request, proposal)):
        _refuse_changed(services, client, click, proposal, changed)
        return
    allowed, resolution = _authorised(services, directory, client, proposal, click.user, policy)
    if not allowed:
        _refuse(services, client, click, proposal, "approve", resolution)
        return
    # the executor acts as the approver whose vote decides, and a rule's `requesters` may leave this
    # one out: their vote counts, the decision waits for someone who may make it
    as_actor = evaluate(policy, request, resolution.actor)
    newer = _superseded_by(services, proposal)
    if newer is not None and proposal.status == "pending":
        _tell(
            services,
            client,
            click,
            f"This fix is from an earlier diagnosis: investigation `{newer}` came after it with fixes of "
            "its own, made on fresher evidence. Approve one of those instead. Nothing was run.",
        )
        return
    hidden = hidden_command(proposal.command)
    if hidden is not None and proposal.status == "pending":
        _tell(services, client, click, f"This fix cannot be approved here: {hidden}. Nothing was run.")
        return
    age = _expired_age(services, proposal)
    if age is not None:
        _audit_click(
            services,
            click,
            proposal,
            "proposal.expired_approve",
            {"age_s": round(age.total_seconds()), "ttl_s": services.proposal_ttl_s},
        )
        window = _minutes(timedelta(seconds=services.proposal_ttl_s))
        _tell(
            services,
            client,
            click,
            f"This fix was proposed {_minutes(age)} ago, past the {window} "
            "approval window (`AOI_PROPOSAL_TTL_MINUTES`): the cluster may have changed since its evidence "
            "was read. Mention me in the thread for a fresh diagnosis. Nothing was run.",
        )
        return
    result = repo.approve_proposal(
        services.store,
        proposal.id,
        click.user,
        list(resolution.actor.groups),
        required=approvals_required(policy, request, proposal.risk),
        counts=_vote_counts(services, proposal, policy),
        may_decide=as_actor.allowed,
    )
    outcome = result.outcome
    metrics.DECISIONS.labels(outcome.value).inc()
    if outcome == repo.DecisionOutcome.APPROVED:
        repo.record_feedback(
            services.store,
            investigation_id=proposal.investigation_id,
            proposal_id=proposal.id,
            kind=FeedbackKind.APPROVED,
            actor=click.user,
            source=FeedbackSource.APPROVAL,
        )
        _show(services, client, click, result.proposal, result.approvals)
        _queue_execution(services, client, click, resolution)
    elif outcome == repo.DecisionOutcome.AWAITING_APPROVAL:
        _show(services, client, click, result.proposal, result.approvals)
        missing = result.proposal.approvals_required - len(result.approvals)
        _tell(
            services,
            client,
            click,
            f"Your approval is recorded. This fix needs {missing} more, from "
            + ("a different approver." if missing == 1 else "different approvers."),
        )
    elif outcome == repo.DecisionOutcome.AWAITING_DECIDER:
        _show(services, client, click, result.proposal, result.approvals)
        _tell(
            services,
            client,
            click,
            "Your approval is recorded, but the approval that runs this fix must come from someone "
            f"the policy lets request it ({as_actor.reason}).",
        )
    elif outcome == repo.DecisionOutcome.DUPLICATE_APPROVER:
        _tell(
            services,
            client,
            click,
            "You already approved this fix; the two-person rule needs a different approver.",
        )
    elif result.proposal.status == "approved":
        # Approved but not executing: the first click's task may have been lost (queue down, process
        # killed). Queue it again; the executor's claim still runs the fix at most once.
        if _queue_execution(services, client, click, resolution):
            _tell(services, client, click, "This fix is already approved; its execution is queued.")
    else:
        _tell(services, client, click, f"This fix is already {result.proposal.status}; nothing more to do.")


def _expired_age(services: Services, proposal: Proposal) -> timedelta | None:
    """How old a *pending* proposal is, when older than ``proposal_ttl_s`` (else ``None``): a fix read
    off the cluster hours ago may no longer fit it (a rollback to a revision since replaced, a scale
    bound from yesterday's load), so an approval window bounds it, as change-approval tools do. An
    approved fix whose execution is re-queued is not re-judged: it was approved inside the window."""
    if proposal.status != "pending":
        return None
    return services.past_approval_window(proposal.created_at, utcnow())


def _minutes(age: timedelta) -> str:
    minutes = age.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} minutes"
    return f"{minutes / 60:.1f} hours"


def _superseded_by(services: Services, proposal: Proposal) -> str | None:
    """The newer diagnosed investigation of the same incident that proposed fixes, if any: its fixes
    replace this one (two @aoi mentions in a thread once left two rollout_undo proposals, and
    approving both put the broken revision back)."""
    investigation = repo.get_investigation(services.store, proposal.investigation_id)
    if investigation.incident_id is None:
        return None
    for newer in repo.list_investigations(
        services.store, incident_id=investigation.incident_id, status="diagnosed"
    ):
        if newer.created_at <= investigation.created_at:
            break  # most recent first: the rest are older
        if repo.list_proposals(services.store, investigation_id=newer.id, limit=1):
            return newer.id
    return None


def _queue_execution(services: Services, client: WebClient, click: Click, resolution: Resolution) -> bool:
    """Submit the execution of an approved proposal; if the runner refuses, tell the approver how to
    retry (clicking Approve again) instead of losing the click."""
    task = ExecuteTask(
        proposal_id=click.value,
        channel=click.channel,
        message_ts=click.message_ts,
        thread_ts=click.thread_ts,
        actor_id=click.user,
        actor_groups=list(resolution.actor.groups),
    )
    try:
        services.submit(task)
    except Exception as exc:
        log.exception("could not queue the execution of %s", click.value)
        _tell(
            services,
            client,
            click,
            f":warning: Approved, but the fix could not be queued ({type(exc).__name__}: {exc}). "
            "Click Approve again to retry; it will still run only once.",
        )
        return False
    return True


def handle_reject_click(
    services: Services, directory: ApproverDirectory, client: WebClient, click: Click
) -> None:
    try:
        proposal = repo.get_proposal(services.store, click.value)
    except NotFoundError:
        _tell(services, client, click, f"Proposal `{click.value[:40]}` does not exist (any more).")
        return
    allowed, resolution = _authorised(services, directory, client, proposal, click.user, services.policy)
    if not allowed:
        _refuse(services, client, click, proposal, "reject", resolution)
        return
    if proposal.status != "pending":
        _tell(services, client, click, f"This fix is already {proposal.status}.")
        return
    client.views_open(
        trigger_id=click.trigger_id,
        view=build_reject_reason_modal(proposal.id, click.channel, click.message_ts, click.thread_ts),
    )


def _modal_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """The reject modal's ``private_metadata`` (JSON AOI wrote when opening it); ``{}`` if unreadable."""
    try:
        meta = json.loads(fields.text(view, "private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def handle_reject_submit(
    services: Services, directory: ApproverDirectory, client: WebClient, user: str, view: dict[str, Any]
) -> None:
    meta = _modal_metadata(view)
    values = fields.mapping(fields.mapping(view, "state"), "values")
    reason = fields.text(
        fields.mapping(fields.mapping(values, REJECT_REASON_BLOCK), REJECT_REASON_INPUT), "value"
    )
    absent = ([] if user else ["user.id"]) + fields.missing(meta, "proposal_id")
    if absent:
        fields.drop("reject modal submission", absent)
        return
    try:
        proposal = repo.get_proposal(services.store, fields.text(meta, "proposal_id"))
    except NotFoundError:
        log.warning("reject modal submitted for unknown proposal %r", fields.text(meta, "proposal_id")[:40])
        return
    message = {"ts": meta.get("ts"), "thread_ts": meta.get("thread_ts")}
    click = Click({"user": {"id": user}, "channel": {"id": meta.get("channel")}, "message": message}, {})
    allowed, resolution = _authorised(services, directory, client, proposal, user, services.policy)
    if not allowed:
        _refuse(services, client, click, proposal, "reject", resolution)
        return
    result = repo.reject_proposal(services.store, proposal.id, user, reason or None)
    metrics.DECISIONS.labels(result.outcome.value).inc()
    if result.outcome != repo.DecisionOutcome.REJECTED:
        _tell(
            services,
            client,
            click,
            f"This fix was already {result.proposal.status}; your rejection changed nothing.",
        )
        return
    repo.record_feedback(
        services.store,
        investigation_id=proposal.investigation_id,
        proposal_id=proposal.id,
        kind=FeedbackKind.REJECTED,
        actor=user,
        source=FeedbackSource.APPROVAL,
        reason=reason,
    )
    _show(services, client, click, result.proposal, result.approvals)


def handle_feedback_button(services: Services, client: WebClient, click: Click, helpful: bool) -> None:
    try:
        record_button_feedback(services, click.value, click.user, helpful)
    except NotFoundError:
        _tell(
            services, client, click, f"Investigation `{click.value[:40]}` is unknown; feedback not recorded."
        )
        return
    _tell(services, client, click, "Thanks — recorded" + (" as helpful." if helpful else " as not helpful."))


def register(app: App, services: Services) -> None:
    directory = ApproverDirectory()

    @app.action(APPROVE)
    def on_approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        if (click := Click.usable(body, action)) is not None:
            handle_approve(services, directory, client, click)

    @app.action(REJECT)
    def on_reject(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        if (click := Click.usable(body, action)) is not None:
            handle_reject_click(services, directory, client, click)

    @app.view(REJECT_MODAL_CALLBACK)
    def on_reject_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        ack()
        handle_reject_submit(
            services, directory, client, fields.text(fields.mapping(body, "user"), "id"), view
        )

    @app.action(HELPFUL)
    def on_helpful(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        if (click := Click.usable(body, action)) is not None:
            handle_feedback_button(services, client, click, helpful=True)

    @app.action(NOT_HELPFUL)
    def on_not_helpful(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        if (click := Click.usable(body, action)) is not None:
            handle_feedback_button(services, client, click, helpful=False)
