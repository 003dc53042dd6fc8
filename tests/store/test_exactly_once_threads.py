"""Exactly once under concurrency, with threads: 20 simultaneous clicks, one decision, one execution."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aoi.store import Store, repo
from aoi.store.repo import DecisionOutcome
from tests.store.helpers import diagnosed_investigation

T = TypeVar("T")
N = 20


def _race(fn: Callable[[int], T]) -> list[T]:
    barrier = threading.Barrier(N)

    def run(i: int) -> T:
        barrier.wait(timeout=30)
        return fn(i)

    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(run, range(N)))


def test_twenty_concurrent_approvals_decide_once_and_execute_once(store: Store) -> None:
    _, [proposal_id] = diagnosed_investigation(store)

    outcomes = _race(lambda i: repo.approve_proposal(store, proposal_id, f"U{i}").outcome)
    claims = _race(lambda i: repo.claim_execution(store, proposal_id, executor=f"worker-{i}"))

    assert Counter(outcomes) == {DecisionOutcome.APPROVED: 1, DecisionOutcome.ALREADY_DECIDED: N - 1}
    assert claims.count(True) == 1
    proposal = repo.get_proposal(store, proposal_id)
    assert proposal.status == "executing" and proposal.decided_by is not None
    assert [e.action for e in repo.list_audit(store, proposal_id=proposal_id)] == [
        "proposal.approved",
        "proposal.executing",
    ]


def test_two_person_rule_under_twenty_concurrent_approvers_needs_exactly_two_people(store: Store) -> None:
    _, [proposal_id] = diagnosed_investigation(store, approvals_required=2)

    outcomes = _race(lambda i: repo.approve_proposal(store, proposal_id, f"U{i}").outcome)

    assert Counter(outcomes) == {
        DecisionOutcome.AWAITING_APPROVAL: 1,
        DecisionOutcome.APPROVED: 1,
        DecisionOutcome.ALREADY_DECIDED: N - 2,
    }
    approvers = repo.list_approvals(store, proposal_id)
    proposal = repo.get_proposal(store, proposal_id)
    assert len(set(approvers)) == 2 and proposal.status == "approved" and proposal.decided_by == approvers[-1]


def test_the_same_approver_clicking_twenty_times_never_satisfies_the_two_person_rule(store: Store) -> None:
    _, [proposal_id] = diagnosed_investigation(store, approvals_required=2)

    outcomes = _race(lambda _i: repo.approve_proposal(store, proposal_id, "U-same").outcome)

    assert Counter(outcomes) == {
        DecisionOutcome.AWAITING_APPROVAL: 1,
        DecisionOutcome.DUPLICATE_APPROVER: N - 1,
    }
    assert repo.get_proposal(store, proposal_id).status == "pending"
    assert repo.claim_execution(store, proposal_id, executor="x") is False


def test_racing_approvals_and_rejections_produce_one_consistent_decision(store: Store) -> None:
    _, [proposal_id] = diagnosed_investigation(store)

    def click(i: int) -> DecisionOutcome:
        if i % 2:
            return repo.reject_proposal(store, proposal_id, f"U{i}", reason="no").outcome
        return repo.approve_proposal(store, proposal_id, f"U{i}").outcome

    outcomes = _race(click)

    winners = [o for o in outcomes if o in (DecisionOutcome.APPROVED, DecisionOutcome.REJECTED)]
    assert len(winners) == 1
    status = repo.get_proposal(store, proposal_id).status
    assert status == winners[0].value
    decisions = [
        e for e in repo.list_audit(store, proposal_id=proposal_id) if e.action == f"proposal.{status}"
    ]
    assert len(decisions) == 1
