"""Where the executor records what it does: an audit sink and an exactly-once execution ledger.

Two small protocols so the executor works the same in the CLI (in memory) and in the bot (the
store): ``AuditSink.record`` appends one audit event; ``ExecutionLedger.claim`` lets exactly one
caller execute a proposal id (the idempotency key) and ``finish``/``outcome`` remember the result so a
repeated click returns it instead of acting twice. The store-backed versions delegate to
``aoi.store`` (a conditional UPDATE arbitrates the claim across processes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aoi.store.db import Store
from aoi.store.enums import ProposalStatus
from aoi.store.repo_audit import append_audit
from aoi.store.repo_proposals import claim_execution, finish_execution, get_proposal


@dataclass(frozen=True)
class AuditEvent:
    """One audit record: who did what to which proposal, the state before/after and details."""

    actor: str
    action: str
    proposal_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class AuditSink(Protocol):
    """Appends audit events; must not lose one (raise rather than drop)."""

    def record(self, event: AuditEvent) -> None: ...


class ExecutionLedger(Protocol):
    """Exactly-once bookkeeping keyed by proposal id."""

    def claim(self, proposal_id: str, executor: str) -> bool:
        """True for the single caller that may execute ``proposal_id``; False for everyone else."""
        ...

    def finish(self, proposal_id: str, succeeded: bool, result: dict[str, Any]) -> None:
        """Record the outcome of a claimed execution."""
        ...

    def outcome(self, proposal_id: str) -> dict[str, Any] | None:
        """The recorded result of a finished execution, ``{"status": "executing"}`` while one runs,
        or None when it was never claimed."""
        ...


class InMemoryAuditSink:
    """Audit events kept in a list (the CLI and tests)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self.events.append(event)


class InMemoryLedger:
    """A thread-safe in-process ledger (one process only; use ``StoreLedger`` across processes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = {}

    def claim(self, proposal_id: str, executor: str) -> bool:
        with self._lock:
            if proposal_id in self._state:
                return False
            self._state[proposal_id] = {"status": "executing", "executor": executor}
            return True

    def finish(self, proposal_id: str, succeeded: bool, result: dict[str, Any]) -> None:
        with self._lock:
            if self._state.get(proposal_id, {}).get("status") != "executing":
                raise RuntimeError(f"proposal {proposal_id} was not claimed; cannot record its outcome")
            self._state[proposal_id] = dict(result)

    def outcome(self, proposal_id: str) -> dict[str, Any] | None:
        with self._lock:
            state = self._state.get(proposal_id)
            return dict(state) if state is not None else None


class StoreAuditSink:
    """Audit events appended to the store's append-only audit log."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, event: AuditEvent) -> None:
        append_audit(
            self.store,
            actor=event.actor,
            action=event.action,
            proposal_id=event.proposal_id,
            before=event.before,
            after=event.after,
            details=event.details,
        )


class StoreLedger:
    """The store's proposal lifecycle as the ledger: only an *approved* proposal can be claimed."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(self, proposal_id: str, executor: str) -> bool:
        return claim_execution(self.store, proposal_id, executor)

    def finish(self, proposal_id: str, succeeded: bool, result: dict[str, Any]) -> None:
        finish_execution(self.store, proposal_id, succeeded=succeeded, result=result)

    def outcome(self, proposal_id: str) -> dict[str, Any] | None:
        proposal = get_proposal(self.store, proposal_id)
        if proposal.status in (ProposalStatus.SUCCEEDED.value, ProposalStatus.FAILED.value):
            return dict(proposal.result or {"status": proposal.status})
        if proposal.status == ProposalStatus.EXECUTING.value:
            return {"status": "executing"}
        return None
