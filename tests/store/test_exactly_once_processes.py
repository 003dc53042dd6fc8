"""Exactly once across processes (spawned interpreters), and atomicity when a writer is SIGKILLed."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import Counter

from aoi.store import Store, repo
from tests.store.helpers import diagnosed_investigation
from tests.store.procpool import ProcessPool
from tests.store.workers import complete_and_hang


def test_twenty_processes_clicking_approve_decide_once_and_execute_once(
    store: Store, db_url: str, process_pool: ProcessPool
) -> None:
    _, [proposal_id] = diagnosed_investigation(store)

    results = process_pool.run_round(
        "tests.store.workers:decide_then_claim",
        [(db_url, proposal_id, f"U{i}", "approve") for i in range(process_pool.size)],
    )

    assert len({r["pid"] for r in results}) == process_pool.size  # really 20 processes
    assert Counter(r["outcome"] for r in results) == {"approved": 1, "already_decided": 19}
    assert sum(r["claimed"] for r in results) == 1
    assert len(repo.list_audit(store, proposal_id=proposal_id, action="test.executed")) == 1
    assert repo.get_proposal(store, proposal_id).status == "succeeded"


def test_processes_racing_approve_against_reject_leave_one_decision_and_no_stray_execution(
    store: Store, db_url: str, process_pool: ProcessPool
) -> None:
    _, [proposal_id] = diagnosed_investigation(store)

    results = process_pool.run_round(
        "tests.store.workers:decide_then_claim",
        [(db_url, proposal_id, f"U{i}", "reject" if i % 2 else "approve") for i in range(process_pool.size)],
    )

    winners = [r["outcome"] for r in results if r["outcome"] in ("approved", "rejected")]
    assert len(winners) == 1
    executions = repo.list_audit(store, proposal_id=proposal_id, action="test.executed")
    assert len(executions) == (1 if winners == ["approved"] else 0)
    assert sum(r["claimed"] for r in results) == len(executions)


def test_duplicate_event_ids_across_processes_are_each_handled_once(
    store: Store, db_url: str, process_pool: ProcessPool
) -> None:
    event_ids = [f"Ev{i:03d}" for i in range(30)]

    won = process_pool.run_round(
        "tests.store.workers:claim_events",
        [(db_url, event_ids[i % 3 :] + event_ids[: i % 3]) for i in range(process_pool.size)],
    )

    claimed = [event_id for per_process in won for event_id in per_process]
    assert sorted(claimed) == event_ids  # every event handled, none twice
    assert repo.mark_event_processed(store, "Ev000") is False


def test_a_writer_killed_mid_transaction_leaves_no_partial_record(store: Store, db_url: str) -> None:
    investigation = repo.create_investigation(store, planner="heuristic", incident_text="db latency")
    assert repo.start_investigation(store, investigation.id, worker="doomed")
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    writer = ctx.Process(target=complete_and_hang, args=(db_url, investigation.id, ready))
    writer.start()
    try:
        assert ready.wait(timeout=60), "writer never reached the middle of its transaction"
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL

    after = repo.get_investigation(store, investigation.id)
    assert after.status == "running" and after.trajectory is None and after.diagnosis is None
    assert repo.list_proposals(store, investigation_id=investigation.id) == []
    assert repo.list_audit(store, investigation_id=investigation.id) == []
    # The dead writer's locks are gone: the same write now succeeds in full.
    _, rows = repo.complete_investigation(
        store,
        investigation.id,
        trajectory={"steps": []},
        diagnosis={"detected": True},
        proposals=[repo.NewProposal(action={"verb": "scale"})] * 3,
    )
    assert len(repo.list_proposals(store, investigation_id=investigation.id)) == len(rows) == 3
