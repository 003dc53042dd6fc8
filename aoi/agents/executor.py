"""The scoped executor: the only component that holds a ``WriteBackend`` (DESIGN.md §3).

``Executor.execute(proposal_id, request, actor)`` runs one approved action, at most once:

1. a proposal id that already ran returns its recorded result (idempotency key), acting no further;
2. the policy is re-evaluated *now* (``aoi.policies.evaluate``), the actor must be an authorised
   approver of the matching rule, and the verb's live-state preconditions must hold
   (``aoi.agents.preconditions``, e.g. a volume to release is Released) — otherwise ``refused``,
   audited, nothing written;
3. the ledger's claim makes this caller the single executor of the id (across processes with the store);
4. an audit record is written *before* (with the target's current state), the backend's dry run
   validates every write, the writes run, recovery is verified with read tools, and an audit record is
   written *after*; the outcome is recorded in the ledger.

Writes come only from the policy's rendering of the request (``render_action``): the verb's operation,
the checked parameters, the patch body or database script the approver saw in the command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from aoi.agents.audit import AuditEvent, AuditSink, ExecutionLedger, InMemoryLedger
from aoi.agents.backends.base import BackendError, NotFoundError, ReadBackend, WriteBackend, WriteOp, apply_op
from aoi.agents.preconditions import check_preconditions
from aoi.agents.records import ActionRequest
from aoi.agents.redaction import redact, redact_data
from aoi.agents.tools import read_tools
from aoi.agents.verify import check_once, verify_recovery
from aoi.policies.catalogue import load_catalogue
from aoi.policies.evaluate import Actor, authorise, evaluate
from aoi.policies.render import RenderedAction, RequestRefused, render_action
from aoi.policies.schema import Policy

ExecutionStatus = Literal["succeeded", "failed", "refused"]
log = logging.getLogger(__name__)


class ExecutionResult(BaseModel):
    """What happened to one proposal. ``duplicate`` marks a repeated request answered from the ledger."""

    proposal_id: str
    status: ExecutionStatus
    verb: str = ""
    target: str = ""
    namespace: str | None = None
    rule_id: str | None = None
    command: str = ""
    dry_run: str | None = None
    verification: str = ""
    detail: str = ""
    actor: str = ""
    duplicate: bool = False
    # the checks saw a problem before the write and none after: the fix did something observable
    # (a wrong fix on a healthy-looking object passes the checks too, so only this is "verified")
    confirmed: bool = False


def plan_ops(action: RenderedAction) -> list[WriteOp]:
    """The WriteBackend calls that perform a rendered (allowed) action."""
    ns, target, params = action.namespace, action.target, action.params
    op = action.operation
    if op == "patch":
        assert action.patch is not None  # the policy guarantees a patch body for patch verbs
        p = action.patch
        return [
            WriteOp(
                "patch",
                {
                    "kind": p.kind,
                    "namespace": p.namespace,
                    "name": p.name,
                    "patch": p.body,
                    "patch_type": p.patch_type,
                },
            )
        ]
    if op == "scale":
        return [
            WriteOp("scale", {"namespace": ns, "deployment": target, "replicas": int(params["replicas"])})
        ]
    if op == "set_image":
        return [
            WriteOp(
                "set_image",
                {
                    "namespace": ns,
                    "deployment": target,
                    "container": params["container"],
                    "image": params["image"],
                },
            )
        ]
    if op == "rollout_restart":
        return [WriteOp("rollout_restart", {"namespace": ns, "deployment": target})]
    if op == "rollout_undo":
        revision = params.get("to_revision")
        return [
            WriteOp(
                "rollout_undo",
                {
                    "namespace": ns,
                    "deployment": target,
                    "to_revision": int(revision) if revision is not None else None,
                },
            )
        ]
    if op == "delete_pod":
        return [WriteOp("delete_pod", {"namespace": ns, "name": target})]
    if op == "delete_object":
        return [WriteOp("delete_object", {"kind": params["kind"], "namespace": ns, "name": target})]
    if op == "uncordon":
        return [WriteOp("uncordon", {"node": target})]
    if op == "exec_db":
        assert action.script is not None  # the policy guarantees a script for exec verbs
        return [WriteOp("exec_db", {"namespace": ns, "pod": target, "command": action.script})]
    raise BackendError(
        f"operation {op!r} of verb {action.verb!r} is not supported by a Kubernetes-style writer"
    )


class Executor:
    """``Executor(writer, reader, policy, audit).execute(proposal_id, request, actor)`` (see module doc)."""

    def __init__(
        self,
        writer: WriteBackend,
        reader: ReadBackend,
        policy: Policy,
        audit: AuditSink,
        *,
        ledger: ExecutionLedger | None = None,
        extra_approvers: Iterable[str] = (),
        verify_timeout_s: float = 120.0,
        verify_interval_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "aoi-executor",
    ) -> None:
        self.writer = writer
        self.reader = reader
        self.policy = policy
        self.audit = audit
        self.ledger = ledger or InMemoryLedger()
        self.extra_approvers = list(extra_approvers)
        self.verify_timeout_s = verify_timeout_s
        self.verify_interval_s = verify_interval_s
        self.sleep = sleep
        self.name = name
        self._tools = {t.name: t for t in read_tools(reader)}

    def execute(
        self,
        proposal_id: str,
        request: ActionRequest,
        actor: Actor,
        approvals: Sequence[str | Actor] | None = None,
        approved_command: str | None = None,
    ) -> ExecutionResult:
        """Run ``request`` once for ``proposal_id`` on ``actor``'s approval (module docstring).

        ``approvals`` — the distinct user ids who approved the proposal, when the caller keeps them —
        are counted against the rule that allows the request *now*: a policy tightened after the
        proposal was posted (one approval then, two now) refuses the fix instead of running it on the
        approvals the old policy asked for.

        ``approved_command`` — the command the approvers were shown — must be what the policy renders
        now: a rule whose template was edited after the proposal (a patch path changed from
        ``targetPort`` to ``port``) would otherwise run something nobody approved."""
        base: dict[str, Any] = {
            "proposal_id": proposal_id,
            "verb": request.verb,
            "target": request.target,
            "namespace": request.namespace,
            "actor": actor.user_id,
        }
        previous = self.ledger.outcome(proposal_id)
        if previous is not None:
            self._audit(actor, "execute.duplicate", proposal_id, details={"previous": previous})
            status = previous.get("status")
            return ExecutionResult(
                **base,
                status=status if status in ("succeeded", "failed") else "refused",
                rule_id=previous.get("rule_id"),
                command=str(previous.get("command", "")),
                verification=str(previous.get("verification", "")),
                detail=f"proposal {proposal_id} was already {status}; not executed again",
                duplicate=True,
            )
        decision = evaluate(self.policy, request, actor)
        refusal = None
        if not decision.allowed:
            refusal = decision.reason
        elif not authorise(self.policy, decision.rule_id, actor, self.extra_approvers):
            refusal = f"refused: {actor.user_id} is not an approver for rule {decision.rule_id}"
        elif approvals is not None and (counted := self._counted(decision.rule_id, approvals)) < (
            decision.approvals_required
        ):
            refusal = (
                f"refused: rule {decision.rule_id} now needs {decision.approvals_required} distinct "
                f"approvals from its approvers and this fix has {counted} (the policy changed after it "
                "was proposed); ask AOI for a fresh proposal"
            )
        if refusal is None:
            try:
                action = render_action(self.policy, request)
                ops = plan_ops(action)
            except (RequestRefused, BackendError) as exc:
                text = str(exc)
                refusal = text if text.startswith("refused: ") else f"refused: {text}"
            else:
                if approved_command is not None and action.command != approved_command:
                    refusal = (
                        f"refused: the policy now renders this fix as `{action.command}`, not the "
                        f"`{approved_command}` that was approved (rule {action.rule_id} changed after it "
                        "was proposed); ask AOI for a fresh proposal"
                    )
                else:
                    unsafe = check_preconditions(self.reader, action)
                    if unsafe is not None:
                        refusal = f"refused: {unsafe}"
        if refusal is not None:
            self._audit(
                actor,
                "execute.refused",
                proposal_id,
                details={"request": request.model_dump(), "reason": refusal},
            )
            refused = ExecutionResult(**base, status="refused", rule_id=decision.rule_id, detail=refusal)
            # terminal: an approved proposal the executor refused must not run on a later click once
            # the state happens to allow it; a fix is asked for afresh (the ledger keeps the refusal)
            if self.ledger.claim(proposal_id, self.name):
                self.ledger.finish(proposal_id, False, refused.model_dump(mode="json"))
            return refused
        if not self.ledger.claim(proposal_id, self.name):
            self._audit(actor, "execute.duplicate", proposal_id, details={"reason": "already claimed"})
            return ExecutionResult(
                **base,
                status="refused",
                rule_id=action.rule_id,
                command=action.command,
                detail=f"proposal {proposal_id} not claimed (not approved, or claimed already): not executed",
                duplicate=True,
            )
        result = self._run(proposal_id, action, ops, actor, base)
        self.ledger.finish(proposal_id, result.status == "succeeded", result.model_dump(mode="json"))
        return result

    # -- internals ---------------------------------------------------------------------------
    def _counted(self, rule_id: str | None, approvals: Sequence[str | Actor]) -> int:
        """Distinct approvers who may approve under ``rule_id`` *now*: a vote from someone since
        removed from the rule's approvers no longer counts (a bare user id is checked by id alone)."""
        authorised = {
            voter.user_id
            for voter in (Actor(user_id=a) if isinstance(a, str) else a for a in approvals)
            if authorise(self.policy, rule_id, voter, self.extra_approvers)
        }
        return len(authorised)

    def _run(
        self, proposal_id: str, action: RenderedAction, ops: list[WriteOp], actor: Actor, base: dict[str, Any]
    ) -> ExecutionResult:
        kind = load_catalogue().verbs[action.verb].target_kind
        details = {"rule_id": action.rule_id, "command": action.command, "ops": [o.describe() for o in ops]}
        self._audit(
            actor, "execute.before", proposal_id, before=self._snapshot(kind, action), details=details
        )
        common = {**base, "rule_id": action.rule_id, "command": action.command}
        try:  # what the verification checks show before the write: did the fix change anything?
            before = check_once(self._tools, kind, action.namespace, action.target, action.params)
        except Exception as exc:  # a read failing here must not stop an approved fix
            before = []
            log.warning("pre-fix checks failed for %s: %s", proposal_id, exc)
        dry = None
        try:
            if self.writer.supports_dry_run:
                dry = "; ".join(self.writer.dry_run(op) for op in ops)
            for op in ops:
                apply_op(self.writer, op)
        except BackendError as exc:
            failed = ExecutionResult(
                **common, status="failed", dry_run=dry, detail=redact(f"write failed: {exc}")
            )
            self._audit(
                actor,
                "execute.after",
                proposal_id,
                after=self._snapshot(kind, action),
                details=failed.model_dump(mode="json"),
            )
            return failed
        check = verify_recovery(
            self._tools,
            kind,
            action.namespace,
            action.target,
            action.params,
            timeout_s=self.verify_timeout_s,
            interval_s=self.verify_interval_s,
            sleep=self.sleep,
        )
        confirmed = check.ok and bool(before)
        if confirmed:
            text = f"{check.text} (before the fix: {'; '.join(before[:2])})"
            detail = "executed and verified"
        elif check.ok:
            text = (
                f"{check.text}; unconfirmed: the same checks passed before the fix, so they cannot show "
                "it worked — check that the symptom is gone"
            )
            detail = "executed; checks pass but passed before too"
        else:
            text, detail = check.text, "executed, but the cluster did not recover"
        result = ExecutionResult(
            **common,
            status="succeeded" if check.ok else "failed",
            dry_run=dry,
            verification=text,
            detail=detail,
            confirmed=confirmed,
        )
        self._audit(
            actor,
            "execute.after",
            proposal_id,
            after=self._snapshot(kind, action),
            details=result.model_dump(mode="json"),
        )
        return result

    def _snapshot(self, kind: str, action: RenderedAction) -> dict[str, Any] | None:
        """The target object's current state (redacted), for the audit record; None if unreadable."""
        if kind not in ("Deployment", "Service", "ConfigMap", "Node", "Pod", "PersistentVolume"):
            return None
        try:
            obj = self.reader.get_object(kind, action.namespace, action.target)
        except NotFoundError:
            return {"exists": False}
        except BackendError as exc:
            return {"unreadable": str(exc)[:500]}
        md = obj.get("metadata") or {}
        return redact_data(
            {"kind": kind, "name": md.get("name"), "spec": obj.get("spec"), "status": obj.get("status")}
        )

    def _audit(
        self,
        actor: Actor,
        action: str,
        proposal_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.audit.record(
            AuditEvent(
                actor=actor.user_id,
                action=action,
                proposal_id=proposal_id,
                before=before,
                after=after,
                details=details or {},
            )
        )
