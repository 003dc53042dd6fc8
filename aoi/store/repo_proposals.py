"""Proposals and their decisions: every state change here happens at most once, across processes.

Lifecycle: ``pending → approved | rejected`` (the decision), ``approved → executing`` (the claim),
``executing → succeeded | failed`` (the outcome). Each arrow is a conditional ``UPDATE … WHERE
id = :id AND status = :from`` whose row count says whether this caller made the change. Deciding
also locks the proposal row first (``SELECT … FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on
SQLite), so counting distinct approvers for the two-person rule cannot race. Each transition writes
its audit row in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, func, select, update

from aoi.store.db import Store
from aoi.store.enums import ProposalStatus, Risk
from aoi.store.errors import InvalidTransitionError, InvalidValueError
from aoi.store.models import AuditEntry, Investigation, Proposal, ProposalApproval
from aoi.store.repo_audit import add_audit_in
from aoi.store.sql import checked_text, get_or_raise, insert_ignore, optional_text, rowcount
from aoi.store.types import ensure_utc, json_value, new_id, parse_enum, utcnow


@dataclass(frozen=True)
class NewProposal:
    """A fix to store: the ActionRequest as JSON (``verb``, ``target``, ``namespace``, ``params``,
    ``rationale``), its risk, the exact equivalent command, the policy rule and how many distinct
    approvers it needs (2 for the two-person rule)."""

    action: dict[str, Any]
    risk: Risk | str = Risk.MEDIUM
    command: str = ""
    rule_id: str | None = None
    approvals_required: int = 1
    proposal_id: str | None = None


class DecisionOutcome(StrEnum):
    APPROVED = "approved"  # this call made the proposal approved
    REJECTED = "rejected"  # this call made the proposal rejected
    AWAITING_APPROVAL = "awaiting_approval"  # vote recorded, more distinct approvers needed
    AWAITING_DECIDER = "awaiting_decider"  # enough votes, but this voter may not make the decision
    DUPLICATE_APPROVER = "duplicate_approver"  # this approver had already voted; nothing changed
    ALREADY_DECIDED = "already_decided"  # someone else decided first; nothing changed


@dataclass(frozen=True)
class DecisionResult:
    """What a click did. ``changed`` is True only for the single call that decided the proposal."""

    outcome: DecisionOutcome
    proposal: Proposal
    approvals: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.outcome in (DecisionOutcome.APPROVED, DecisionOutcome.REJECTED)


def proposal_from(new: NewProposal, investigation_id: str) -> Proposal:
    """Validate a ``NewProposal`` into a pending ``Proposal`` row (not yet added to a session)."""
    action = json_value(new.action, "proposal action")
    if not isinstance(action, dict) or "verb" not in action:
        raise InvalidValueError(
            f"proposal action must be an ActionRequest dict with at least 'verb', got {new.action!r}"
        )
    if not isinstance(new.approvals_required, int) or new.approvals_required < 1:
        raise InvalidValueError(f"approvals_required must be an integer ≥ 1, got {new.approvals_required!r}")
    return Proposal(
        id=checked_text(new.proposal_id or new_id("prop"), "proposal id", 40),
        investigation_id=investigation_id,
        action=action,
        risk=parse_enum(Risk, new.risk, "proposal risk").value,
        command=new.command,
        rule_id=optional_text(new.rule_id, "proposal rule_id", 128),
        status=ProposalStatus.PENDING.value,
        approvals_required=new.approvals_required,
        created_at=utcnow(),
    )


def add_proposal(store: Store, investigation_id: str, new: NewProposal) -> Proposal:
    """Store one pending proposal for an existing investigation."""
    proposal = proposal_from(new, investigation_id)
    with store.transaction(write=True) as session:
        get_or_raise(session, Investigation, investigation_id, "investigation")
        session.add(proposal)
    return proposal


def get_proposal(store: Store, proposal_id: str) -> Proposal:
    """The proposal with this id (``NotFoundError`` if none)."""
    with store.transaction() as session:
        return get_or_raise(session, Proposal, proposal_id, "proposal")


def list_proposals(
    store: Store,
    *,
    investigation_id: str | None = None,
    status: ProposalStatus | str | Sequence[ProposalStatus | str] | None = None,
    limit: int = 200,
) -> list[Proposal]:
    """Proposals, oldest first, by investigation and/or status (one status or several)."""
    statement = select(Proposal)
    if investigation_id is not None:
        statement = statement.where(Proposal.investigation_id == investigation_id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        values = [parse_enum(ProposalStatus, s, "proposal status").value for s in wanted]
        statement = statement.where(col(Proposal.status).in_(values))
    statement = statement.order_by(col(Proposal.created_at), col(Proposal.id)).limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())


def list_approvals(store: Store, proposal_id: str) -> list[str]:
    """The distinct approvers recorded for a proposal, in voting order."""
    with store.transaction() as session:
        return _approvers(session, proposal_id)


def list_approval_votes(store: Store, proposal_id: str) -> list[tuple[str, tuple[str, ...] | None]]:
    """Each approver with the user groups they were resolved to when voting (``None``: not recorded),
    in voting order: what the executor re-checks against the policy as it is then."""
    with store.transaction() as session:
        return _votes(session, proposal_id)


def _votes(session: Session, proposal_id: str) -> list[tuple[str, tuple[str, ...] | None]]:
    """The recorded votes in voting order: approver and groups (``None``: not recorded)."""
    statement = (
        select(ProposalApproval.approver, ProposalApproval.groups)
        .where(ProposalApproval.proposal_id == proposal_id)
        .order_by(col(ProposalApproval.id))
    )
    return [
        (approver, None if groups is None else tuple(str(g) for g in groups))
        for approver, groups in session.exec(statement).all()
    ]


def _approvers(session: Session, proposal_id: str) -> list[str]:
    return [approver for approver, _ in _votes(session, proposal_id)]


def _snapshot(proposal: Proposal) -> dict[str, Any]:
    return {"status": proposal.status, "decided_by": proposal.decided_by}


VoteCounts = Callable[[str, tuple[str, ...]], bool]
"""``counts(approver, groups)``: whether a recorded vote counts under the policy in force."""


def approve_proposal(
    store: Store,
    proposal_id: str,
    approver: str,
    groups: Sequence[str] | None = None,
    *,
    required: int | None = None,
    counts: VoteCounts | None = None,
    may_decide: bool = True,
) -> DecisionResult:
    """Record ``approver``'s approval; the vote that reaches ``approvals_required`` approves.

    ``groups`` — the Slack user groups the approver was resolved to — are kept with the vote so that
    the executor can re-check it under the policy in force when the fix runs.

    The policy may have changed since the fix was proposed, and the executor counts votes under the
    policy in force; so does this, or a click would approve a fix the executor then refuses for good:
    ``required`` (the approvals the policy asks for now) raises the stored requirement — never lowers
    it, the approvers were told the higher number — and only votes ``counts`` accepts are counted and
    returned, judged on the votes read under the row lock (a vote committed meanwhile is judged too).
    A clicker whose earlier vote no longer counts (their recorded groups no longer match) has it
    refreshed with the groups that authorised this click, instead of being told they already voted.

    ``may_decide`` False (a rule's ``requesters`` leave this approver out: the executor acts as the
    approver whose vote decides) records and counts the vote but leaves the decision to a clicker who
    may make it; such a clicker who already voted decides by clicking again.

    Exactly one caller ever gets ``APPROVED`` for a proposal, however many processes click at once.
    Authorisation (is this person an approver?) is the caller's job, via the policy, before this.
    """
    approver = checked_text(approver, "approver", 64)
    new_groups = None if groups is None else [checked_text(g, "group", 64) for g in groups][:100]
    with store.transaction(write=True) as session:
        proposal = get_or_raise(session, Proposal, proposal_id, "proposal", lock=True)
        if proposal.status != ProposalStatus.PENDING:
            counted = _counted(session, proposal_id, counts)
            return DecisionResult(DecisionOutcome.ALREADY_DECIDED, proposal, counted)
        if required is not None and required > proposal.approvals_required:
            add_audit_in(
                session,
                actor=approver,
                action="proposal.requirement_raised",
                proposal_id=proposal_id,
                investigation_id=proposal.investigation_id,
                details={"from": proposal.approvals_required, "to": required, "reason": "policy changed"},
            )
            proposal.approvals_required = required
            session.add(proposal)
            session.flush()
        voted = insert_ignore(
            session,
            ProposalApproval,
            {"proposal_id": proposal_id, "approver": approver, "groups": new_groups, "created_at": utcnow()},
            ["proposal_id", "approver"],
        )
        refreshed = False
        if not voted and counts is not None:
            earlier = dict(_votes(session, proposal_id)).get(approver)
            if not counts(approver, earlier or ()):
                session.execute(
                    update(ProposalApproval)
                    .where(
                        col(ProposalApproval.proposal_id) == proposal_id,
                        col(ProposalApproval.approver) == approver,
                    )
                    .values(groups=new_groups)
                    .execution_options(synchronize_session=False)
                )
                refreshed = True
        approvers = _counted(session, proposal_id, counts)
        enough = len(approvers) >= proposal.approvals_required
        if not voted and not refreshed:
            if may_decide and enough:  # the votes were there, waiting for someone who may decide
                return _decide(session, proposal, approver, ProposalStatus.APPROVED, None, approvers)
            return DecisionResult(DecisionOutcome.DUPLICATE_APPROVER, proposal, approvers)
        if not enough or not may_decide:
            details: dict[str, Any] = {"approvals": approvers, "required": proposal.approvals_required}
            if enough:
                details["may_decide"] = False
            add_audit_in(
                session,
                actor=approver,
                action="proposal.approval_recorded",
                proposal_id=proposal_id,
                investigation_id=proposal.investigation_id,
                details=details,
            )
            waiting = DecisionOutcome.AWAITING_DECIDER if enough else DecisionOutcome.AWAITING_APPROVAL
            return DecisionResult(waiting, proposal, approvers)
        return _decide(session, proposal, approver, ProposalStatus.APPROVED, None, approvers)


def _counted(session: Session, proposal_id: str, counts: VoteCounts | None) -> list[str]:
    votes = _votes(session, proposal_id)
    return [user for user, groups in votes if counts is None or counts(user, groups or ())]


def counted_approvals(store: Store, proposal_id: str) -> list[str]:
    """The approvers that approved the proposal, as counted when it was approved (an earlier voter
    the policy had since removed is not among them); every recorded voter before the decision."""
    with store.transaction() as session:
        decided = session.exec(
            select(AuditEntry.details)
            .where(col(AuditEntry.proposal_id) == proposal_id, col(AuditEntry.action) == "proposal.approved")
            .order_by(col(AuditEntry.id).desc())
        ).first()
        if isinstance(decided, dict) and isinstance(decided.get("approvals"), list):
            return [str(user) for user in decided["approvals"]]
        return _approvers(session, proposal_id)


def reject_proposal(store: Store, proposal_id: str, actor: str, reason: str | None = None) -> DecisionResult:
    """Reject a pending proposal (one rejection suffices). Exactly one caller gets ``REJECTED``."""
    actor = checked_text(actor, "rejecting actor", 64)
    with store.transaction(write=True) as session:
        proposal = get_or_raise(session, Proposal, proposal_id, "proposal", lock=True)
        approvers = _approvers(session, proposal_id)
        if proposal.status != ProposalStatus.PENDING:
            return DecisionResult(DecisionOutcome.ALREADY_DECIDED, proposal, approvers)
        return _decide(session, proposal, actor, ProposalStatus.REJECTED, reason, approvers)


def _decide(
    session: Session,
    proposal: Proposal,
    actor: str,
    status: ProposalStatus,
    reason: str | None,
    approvers: list[str],
) -> DecisionResult:
    before = _snapshot(proposal)
    now = utcnow()
    statement = (
        update(Proposal)
        .where(col(Proposal.id) == proposal.id, col(Proposal.status) == ProposalStatus.PENDING.value)
        .values(status=status.value, decided_by=actor, decided_at=now, reason=reason)
        .execution_options(synchronize_session=False)
    )
    if rowcount(session, statement) != 1:  # only reachable without the row lock; kept as the guard
        session.refresh(proposal)
        return DecisionResult(DecisionOutcome.ALREADY_DECIDED, proposal, approvers)
    session.refresh(proposal)
    add_audit_in(
        session,
        actor=actor,
        action=f"proposal.{status.value}",
        proposal_id=proposal.id,
        investigation_id=proposal.investigation_id,
        before=before,
        after=_snapshot(proposal),
        details={"approvals": approvers, "reason": reason},
    )
    outcome = DecisionOutcome.APPROVED if status == ProposalStatus.APPROVED else DecisionOutcome.REJECTED
    return DecisionResult(outcome, proposal, approvers)


def claim_execution(store: Store, proposal_id: str, executor: str) -> bool:
    """Move an approved proposal to ``executing``; True for the one caller that may now execute it.

    A single conditional UPDATE: two executors (threads, processes or hosts) can never both get
    True. A proposal left ``executing`` by a crash is never claimed again (see
    ``fail_interrupted_executions``): at most once beats at least once for writes to production.
    """
    executor = checked_text(executor, "executor", 128)
    with store.transaction(write=True) as session:
        statement = (
            update(Proposal)
            .where(col(Proposal.id) == proposal_id, col(Proposal.status) == ProposalStatus.APPROVED.value)
            .values(
                status=ProposalStatus.EXECUTING.value, executed_by=executor, execution_started_at=utcnow()
            )
            .execution_options(synchronize_session=False)
        )
        won = rowcount(session, statement) == 1
        if not won:
            get_or_raise(session, Proposal, proposal_id, "proposal")  # NotFoundError beats a silent False
            return False
        proposal = get_or_raise(session, Proposal, proposal_id, "proposal")
        add_audit_in(
            session,
            actor=executor,
            action="proposal.executing",
            proposal_id=proposal_id,
            investigation_id=proposal.investigation_id,
            before={"status": ProposalStatus.APPROVED.value},
            after={"status": ProposalStatus.EXECUTING.value},
        )
        return True


def finish_execution(
    store: Store, proposal_id: str, *, succeeded: bool, result: dict[str, Any], actor: str = "executor"
) -> Proposal:
    """Record the outcome of the execution claimed with ``claim_execution`` (``executing`` only)."""
    payload = json_value(result, "execution result")
    status = ProposalStatus.SUCCEEDED if succeeded else ProposalStatus.FAILED
    with store.transaction(write=True) as session:
        statement = (
            update(Proposal)
            .where(col(Proposal.id) == proposal_id, col(Proposal.status) == ProposalStatus.EXECUTING.value)
            .values(status=status.value, result=payload, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        changed = rowcount(session, statement) == 1
        proposal = get_or_raise(session, Proposal, proposal_id, "proposal")
        if not changed:
            raise InvalidTransitionError(
                f"proposal {proposal_id} is {proposal.status!r}; only an 'executing' proposal (claimed with "
                "claim_execution) can be finished"
            )
        add_audit_in(
            session,
            actor=actor,
            action=f"proposal.{status.value}",
            proposal_id=proposal_id,
            investigation_id=proposal.investigation_id,
            before={"status": ProposalStatus.EXECUTING.value},
            after={"status": status.value},
            details={"result": payload},
        )
        return proposal


def fail_interrupted_executions(
    store: Store, *, claimed_before: datetime, actor: str = "recovery"
) -> list[str]:
    """Mark executions claimed before ``claimed_before`` and never finished (their worker died) as
    failed with ``result.interrupted = true``. They are not retried: a human decides what next."""
    cutoff = ensure_utc(claimed_before, "claimed_before")
    failed: list[str] = []
    with store.transaction(write=True) as session:
        stuck = session.exec(
            select(Proposal)
            .where(Proposal.status == ProposalStatus.EXECUTING.value)
            .where(col(Proposal.execution_started_at) < cutoff)
            .with_for_update()
        ).all()
        for proposal in stuck:
            result = {
                "interrupted": True,
                "detail": "the executing worker stopped before reporting an outcome",
            }
            proposal.status = ProposalStatus.FAILED.value
            proposal.result = result
            proposal.finished_at = utcnow()
            session.add(proposal)
            add_audit_in(
                session,
                actor=actor,
                action="proposal.failed",
                proposal_id=proposal.id,
                investigation_id=proposal.investigation_id,
                before={"status": ProposalStatus.EXECUTING.value},
                after={"status": ProposalStatus.FAILED.value},
                details={"result": result},
            )
            failed.append(proposal.id)
    return failed


def count_pending(store: Store) -> int:
    """How many proposals await a decision (for App Home)."""
    with store.transaction() as session:
        statement = (
            select(func.count()).select_from(Proposal).where(Proposal.status == ProposalStatus.PENDING.value)
        )
        return int(session.exec(statement).one())
