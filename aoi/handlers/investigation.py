"""Investigations in an incident thread: open the summary message, run the Observer, show the result.

Two halves, on either side of the task runner:
- ``open_investigation`` runs in the listener, right after the ack: it posts the one summary message
  ("Investigating…"), stores incident + investigation (*queued*) + message, and submits the task.
  That post is the user's first sign of life, so it is not queued behind other investigations.
- ``run_investigation`` runs on a worker: it claims the investigation (once, across workers), runs the
  Observer with throttled progress lines, stores the diagnosis and the proposals atomically, updates
  the summary message in place, and posts each proposal with its Approve / Reject buttons.
"""

from __future__ import annotations

import logging
import time

from slack_sdk import WebClient

from aoi.agents.proposals import annotate
from aoi.agents.records import ActionRequest, Remediation, new_id
from aoi.agents.redaction import redact
from aoi.handlers import metrics
from aoi.handlers.blocks.common import escape
from aoi.handlers.blocks.diagnosis import (
    build_diagnosis_blocks,
    build_investigating_blocks,
    build_investigation_failed_blocks,
    diagnosis_fallback_text,
)
from aoi.handlers.blocks.proposals import ProposalView, build_proposal_blocks, proposal_fallback_text
from aoi.handlers.context import Services
from aoi.handlers.progress import ThrottledProgress
from aoi.handlers.slack_io import post_message, send_message, update_message
from aoi.handlers.tasks import InvestigateTask, TaskSource
from aoi.policies.evaluate import evaluate
from aoi.policies.schema import Policy
from aoi.store import repo
from aoi.store.errors import InvalidTransitionError
from aoi.store.models import Proposal

log = logging.getLogger(__name__)

SUMMARY = "summary"
PROGRESS = "progress"
PROPOSAL = "proposal"
TITLE_LIMIT = 200
INCIDENT_LIMIT = 20_000  # what a queued task carries (``InvestigateTask.incident_text``)


def open_investigation(
    services: Services,
    client: WebClient,
    *,
    channel: str,
    thread_ts: str | None,
    incident_text: str,
    requested_by: str | None,
    source: TaskSource,
    incident_id: str | None = None,
) -> InvestigateTask:
    """Post the summary message, store the queued investigation and submit it; returns the task.

    ``thread_ts`` None starts a new thread whose root is the summary message itself (slash command,
    new incident channel); otherwise the summary is a reply in that thread (mention, alert).
    The incident text is redacted first: people paste credentials into incident channels and alert
    annotations, and this text reaches Slack, the store, the queue and the model prompt.
    """
    incident_text = redact(incident_text)[:INCIDENT_LIMIT]  # a 40k-character mention is still one
    investigation_id = new_id("inv")
    blocks = build_investigating_blocks(incident_text, requested_by, investigation_id)
    text = f"AOI is investigating: {escape(incident_text[:TITLE_LIMIT])}"
    channel, summary_ts = send_message(client, channel=channel, blocks=blocks, text=text, thread_ts=thread_ts)
    root = thread_ts or summary_ts
    title = incident_text.strip()[:TITLE_LIMIT] or "(untitled incident)"
    if incident_id is None:
        slack_source = "alert" if source == "alert" else "slack"
        incident, _ = repo.open_thread_incident(
            services.store, channel=channel, thread_ts=root, title=title, source=slack_source
        )
        incident_id = incident.id
    repo.create_investigation(
        services.store,
        planner=services.planner_name,
        incident_id=incident_id,
        incident_text=incident_text,
        model_version=services.model_version(),
        investigation_id=investigation_id,
    )
    repo.set_incident_thread(
        services.store, incident_id, channel=channel, thread_ts=root, summary_ts=summary_ts
    )
    repo.record_slack_message(
        services.store,
        channel=channel,
        ts=summary_ts,
        kind=SUMMARY,
        payload={"text": text, "blocks": blocks},
        thread_ts=thread_ts,
        incident_id=incident_id,
        investigation_id=investigation_id,
    )
    task = InvestigateTask(
        investigation_id=investigation_id,
        incident_id=incident_id,
        incident_text=incident_text,
        channel=channel,
        thread_ts=root,
        summary_ts=summary_ts,
        requested_by=requested_by,
        source=source,
    )
    try:
        services.submit(task)
    except Exception as exc:  # the queue is down: say so in the thread, not "Investigating…" forever
        log.exception("could not queue investigation %s", investigation_id)
        metrics.INVESTIGATIONS.labels("failed").inc()
        error = f"could not be queued ({type(exc).__name__}: {exc}); mention AOI again to retry"
        repo.fail_investigation(services.store, investigation_id, error=error)
        update_message(
            services,
            client,
            channel=channel,
            ts=summary_ts,
            kind=SUMMARY,
            blocks=build_investigation_failed_blocks(investigation_id, error),
            text=f"AOI investigation failed: {error[:200]}",
        )
    return task


def run_investigation(services: Services, client: WebClient, task: InvestigateTask) -> None:
    """Run a queued investigation to its diagnosis (see module docstring). Never runs one twice."""
    if not repo.start_investigation(services.store, task.investigation_id, services.worker_name):
        log.info("investigation %s already taken by another worker", task.investigation_id)
        return
    links = {"incident_id": task.incident_id, "investigation_id": task.investigation_id}

    def post_progress(text: str) -> None:
        post_message(
            services,
            client,
            channel=task.channel,
            kind=PROGRESS,
            blocks=[],
            text=text,
            thread_ts=task.thread_ts,
            **links,
        )

    progress = ThrottledProgress(post_progress, services.progress_interval_s)
    started = time.monotonic()
    try:
        trajectory = services.investigate(task.incident_text, progress.report)
        if trajectory.diagnosis is None:
            raise RuntimeError("the Observer returned no diagnosis")
        diagnosis = trajectory.diagnosis
        # one snapshot of the policy for every fix of this diagnosis, taken now: the Observer checked
        # them against the policy as the investigation started, and an edit since may refuse one
        policy = services.policy
        remediations = [
            current
            for rem in diagnosis.remediations
            if rem.rule_id and (current := annotate(policy, ActionRequest.model_validate(_request(rem))))
        ]
        if remediations != diagnosis.remediations:
            # what is stored, shown and exported is what was proposed under the policy in force
            notes = list(diagnosis.notes)
            if dropped := len(diagnosis.remediations) - len(remediations):
                notes.append(f"{dropped} proposed fix(es) dropped: the policy in force no longer allows them")
            diagnosis = diagnosis.model_copy(update={"remediations": remediations, "notes": notes})
            trajectory = trajectory.model_copy(update={"diagnosis": diagnosis})
        new = [_new_proposal(policy, rem) for rem in remediations]
        _, rows = repo.complete_investigation(
            services.store,
            task.investigation_id,
            trajectory=trajectory.model_dump(mode="json", by_alias=True),
            diagnosis=diagnosis.to_json_dict(),
            proposals=new,
            model_version=diagnosis.model_version,
        )
    except Exception as exc:
        log.exception("investigation %s failed", task.investigation_id)
        metrics.INVESTIGATIONS.labels("failed").inc()
        error = f"{type(exc).__name__}: {exc}"
        try:
            repo.fail_investigation(services.store, task.investigation_id, error=error)
        except InvalidTransitionError:
            log.warning(
                "investigation %s was already closed (recovered as interrupted?)", task.investigation_id
            )
            return
        progress.flush()
        update_message(
            services,
            client,
            channel=task.channel,
            ts=task.summary_ts,
            kind=SUMMARY,
            blocks=build_investigation_failed_blocks(task.investigation_id, error),
            text=f"AOI investigation failed: {error[:200]}",
        )
        return
    progress.flush()
    metrics.INVESTIGATIONS.labels("diagnosed").inc()
    metrics.INVESTIGATION_SECONDS.observe(time.monotonic() - started)
    update_message(
        services,
        client,
        channel=task.channel,
        ts=task.summary_ts,
        kind=SUMMARY,
        blocks=build_diagnosis_blocks(diagnosis, task.investigation_id, task.requested_by),
        text=diagnosis_fallback_text(diagnosis),
    )
    for row, remediation in zip(rows, remediations, strict=True):
        post_proposal(services, client, task, row, remediation)


def _request(remediation: Remediation) -> dict[str, object]:
    return remediation.model_dump(include={"verb", "target", "namespace", "params", "rationale"}, mode="json")


def approvals_required(policy: Policy, remediation: ActionRequest, risk: str) -> int:
    """How many distinct approvers ``policy`` asks for this fix (the two-person rule for high risk)."""
    required = max(1, evaluate(policy, remediation).approvals_required)
    if risk == "high" and policy.two_person_rule:
        required = max(required, 2)
    return required


def _new_proposal(policy: Policy, remediation: Remediation) -> repo.NewProposal:
    """The stored form of a policy-annotated remediation, with the approvals the policy requires."""
    required = approvals_required(policy, remediation, remediation.risk)
    return repo.NewProposal(
        action=_request(remediation),
        risk=remediation.risk,
        command=remediation.command,
        rule_id=remediation.rule_id,
        approvals_required=required,
    )


def proposal_view(row: Proposal, approvals: list[str] | None = None) -> ProposalView:
    """How a stored proposal is shown (any status)."""
    remediation = Remediation.model_validate(
        {**row.action, "risk": row.risk, "command": row.command, "rule_id": row.rule_id}
    )
    result = row.result or {}
    approved_by = list(approvals or [])
    return ProposalView(
        proposal_id=row.id,
        remediation=remediation,
        rule_id=row.rule_id,
        approvals_required=row.approvals_required,
        approved_by=approved_by,
        status=row.status,
        rejected_by=row.decided_by if row.status == "rejected" else None,
        reason=row.reason,
        outcome=str(result["detail"]) if result.get("detail") else None,
        verification=str(result["verification"]) if result.get("verification") else None,
    )


def post_proposal(
    services: Services, client: WebClient, task: InvestigateTask, row: Proposal, remediation: Remediation
) -> str:
    view = proposal_view(row)
    return post_message(
        services,
        client,
        channel=task.channel,
        kind=PROPOSAL,
        blocks=build_proposal_blocks(view),
        text=proposal_fallback_text(view),
        thread_ts=task.thread_ts,
        incident_id=task.incident_id,
        investigation_id=task.investigation_id,
        proposal_id=row.id,
    )
