"""Code that runs inside spawned processes for the cross-process tests (importable, picklable)."""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import event

from aoi.store import Store, make_engine, repo


def decide_then_claim(url: str, proposal_id: str, actor: str, decision: str) -> dict[str, Any]:
    """One click (approve or reject) followed by an attempt to claim the execution; the winner
    of the claim "executes" by writing an audit row, then reports the outcome."""
    store = Store(make_engine(url, pool_size=1))
    try:
        if decision == "approve":
            result = repo.approve_proposal(store, proposal_id, actor)
        else:
            result = repo.reject_proposal(store, proposal_id, actor, reason="race test")
        claimed = repo.claim_execution(store, proposal_id, executor=f"pid-{os.getpid()}")
        if claimed:
            repo.append_audit(store, actor=actor, action="test.executed", proposal_id=proposal_id)
            repo.finish_execution(store, proposal_id, succeeded=True, result={"by": actor})
        return {"outcome": result.outcome.value, "claimed": claimed, "pid": os.getpid()}
    finally:
        store.dispose()


def claim_events(url: str, event_ids: list[str]) -> list[str]:
    """Try to mark every event id processed; return those this process won."""
    store = Store(make_engine(url, pool_size=1))
    try:
        return [event_id for event_id in event_ids if repo.mark_event_processed(store, event_id)]
    finally:
        store.dispose()


def complete_and_hang(url: str, investigation_id: str, ready: Any) -> None:
    """Store a diagnosis with three proposals, but stop forever after the second proposal INSERT
    (inside the transaction), signalling ``ready`` so the test can SIGKILL this process there."""
    store = Store(make_engine(url, pool_size=1))
    inserts = 0

    @event.listens_for(store.engine, "after_cursor_execute")
    def _pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal inserts
        if statement.lstrip().upper().startswith("INSERT INTO PROPOSALS"):
            inserts += 1
            if inserts == 2:
                ready.set()
                time.sleep(600)

    proposals = [repo.NewProposal(action={"verb": "scale", "target": f"svc-{i}"}) for i in range(3)]
    repo.complete_investigation(
        store,
        investigation_id,
        trajectory={"steps": [1, 2]},
        diagnosis={"detected": True},
        proposals=proposals,
    )
