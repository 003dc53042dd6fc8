"""The repository API: incidents, investigations, feedback, Slack bookkeeping and the audit log."""

from __future__ import annotations

import inspect as pyinspect
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from aoi.store import InvalidTransitionError, InvalidValueError, NotFoundError, Store, repo, repo_audit
from tests.store.helpers import diagnosed_investigation


def test_a_thread_maps_to_one_incident_however_often_it_is_opened(store: Store) -> None:
    first, created = repo.open_thread_incident(store, channel="C1", thread_ts="171.1", title="checkout 500s")
    again, created_again = repo.open_thread_incident(store, channel="C1", thread_ts="171.1", title="other")
    assert created and not created_again and again.id == first.id and again.title == "checkout 500s"
    assert repo.find_incident_by_thread(store, "C1", "171.1") == first
    assert repo.find_incident_by_thread(store, "C1", "999.9") is None


def test_a_firing_alert_reuses_its_open_incident_until_it_is_resolved(store: Store) -> None:
    first, created = repo.open_alert_incident(store, fingerprint="fp-1", title="HighErrorRate")
    repeat, created_repeat = repo.open_alert_incident(store, fingerprint="fp-1", title="HighErrorRate")
    assert created and not created_repeat and repeat.id == first.id
    resolved = repo.resolve_incident(store, first.id)
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    assert repo.resolve_incident(store, first.id).resolved_at == resolved.resolved_at  # idempotent
    refired, created_again = repo.open_alert_incident(store, fingerprint="fp-1", title="HighErrorRate")
    assert created_again and refired.id != first.id


def test_incident_thread_and_summary_message_are_recorded(store: Store) -> None:
    incident = repo.create_incident(store, title="x", source="alert")
    updated = repo.set_incident_thread(store, incident.id, channel="C9", thread_ts="1.5", summary_ts="1.6")
    assert (updated.channel, updated.thread_ts, updated.summary_ts) == ("C9", "1.5", "1.6")
    assert updated.updated_at >= incident.updated_at
    assert [i.id for i in repo.list_incidents(store, status="open")] == [incident.id]


def test_invalid_enum_values_are_refused_listing_the_accepted_ones(store: Store) -> None:
    with pytest.raises(InvalidValueError, match="slack, alert, cli"):
        repo.create_incident(store, title="x", source="pager")
    investigation_id, _ = diagnosed_investigation(store)
    with pytest.raises(InvalidValueError, match="thumbs_up"):
        repo.record_feedback(
            store, investigation_id=investigation_id, kind="meh", actor="U1", source="button"
        )


def test_only_one_worker_starts_a_queued_investigation(store: Store) -> None:
    investigation = repo.create_investigation(store, planner="heuristic", incident_text="pods crash")
    assert repo.start_investigation(store, investigation.id, worker="w1") is True
    assert repo.start_investigation(store, investigation.id, worker="w2") is False
    running = repo.get_investigation(store, investigation.id)
    assert running.status == "running" and running.worker == "w1" and running.started_at is not None
    with pytest.raises(NotFoundError, match="investigation 'inv_missing'"):
        repo.start_investigation(store, "inv_missing", worker="w1")


def test_completing_stores_trajectory_diagnosis_and_proposals_together(store: Store) -> None:
    investigation_id, proposal_ids = diagnosed_investigation(store, proposals=3)
    investigation = repo.get_investigation(store, investigation_id)
    assert investigation.status == "diagnosed" and investigation.finished_at is not None
    assert investigation.trajectory is not None and investigation.trajectory["id"] == "traj_1"
    assert investigation.diagnosis == {"detected": True, "faulty_components": ["svc-0"], "confidence": 0.8}
    stored = repo.list_proposals(store, investigation_id=investigation_id)
    assert sorted(p.id for p in stored) == sorted(proposal_ids)
    assert {p.status for p in stored} == {"pending"}
    with pytest.raises(InvalidTransitionError, match="expected 'running'"):
        repo.complete_investigation(store, investigation_id, trajectory={}, diagnosis={})


def test_non_json_trajectories_are_refused_naming_the_field(store: Store) -> None:
    investigation = repo.create_investigation(store, planner="heuristic")
    repo.start_investigation(store, investigation.id, worker="w")
    with pytest.raises(InvalidValueError, match="trajectory must be plain JSON"):
        repo.complete_investigation(
            store, investigation.id, trajectory={"at": datetime.now(UTC)}, diagnosis={"detected": False}
        )
    assert repo.get_investigation(store, investigation.id).status == "running"


def test_failing_and_orphan_recovery_mark_investigations_failed(store: Store) -> None:
    crashed = repo.create_investigation(store, planner="heuristic")
    repo.start_investigation(store, crashed.id, worker="w-dead")
    broken = repo.create_investigation(store, planner="openai")
    repo.fail_investigation(store, broken.id, error="model endpoint 503", trajectory={"steps": []})
    assert repo.get_investigation(store, broken.id).error == "model endpoint 503"
    with pytest.raises(InvalidTransitionError):
        repo.fail_investigation(store, broken.id, error="again")
    orphaned = repo.fail_orphaned_investigations(
        store, started_before=datetime.now(UTC) + timedelta(seconds=1)
    )
    assert orphaned == [crashed.id]
    assert "interrupted" in (repo.get_investigation(store, crashed.id).error or "")


def test_an_investigation_queued_longer_than_the_cutoff_is_failed_as_never_started(store: Store) -> None:
    """Its task was lost with an in-process pool (or the queue is stuck): nobody is investigating."""
    lost = repo.create_investigation(store, planner="heuristic")
    assert (
        repo.fail_orphaned_investigations(store, started_before=datetime.now(UTC) - timedelta(hours=1)) == []
    )
    orphaned = repo.fail_orphaned_investigations(
        store, started_before=datetime.now(UTC) + timedelta(seconds=1)
    )
    assert orphaned == [lost.id]
    failed = repo.get_investigation(store, lost.id)
    assert failed.status == "failed" and "never started" in (failed.error or "")


def test_a_vote_keeps_the_groups_its_approver_was_resolved_to(store: Store) -> None:
    """The executor re-checks earlier votes under the policy in force when the fix runs; someone who
    qualified through a user group needs those groups kept with the vote."""
    _, [proposal_id] = diagnosed_investigation(store, approvals_required=2)
    repo.approve_proposal(store, proposal_id, "U1", ["sre-oncall", "S0GROUP01"])
    repo.approve_proposal(store, proposal_id, "U2")
    assert repo.list_approval_votes(store, proposal_id) == [("U1", ("sre-oncall", "S0GROUP01")), ("U2", None)]
    assert repo.list_approvals(store, proposal_id) == ["U1", "U2"]


def test_votes_the_policy_no_longer_counts_are_judged_under_the_lock_and_a_raised_requirement_holds(
    store: Store,
) -> None:
    """The click passes the policy in force as ``counts``: a vote recorded earlier by someone since
    removed is not counted, even when it was committed after the clicker read the votes."""
    _, [proposal_id] = diagnosed_investigation(store, approvals_required=1)
    first = repo.approve_proposal(store, proposal_id, "U1", ["sre-oncall"], required=2)
    assert first.outcome == "awaiting_approval" and first.proposal.approvals_required == 2
    still_counted = repo.approve_proposal(store, proposal_id, "U2", required=1, counts=lambda u, g: u != "U1")
    assert still_counted.outcome == "awaiting_approval" and still_counted.approvals == ["U2"]
    assert still_counted.proposal.approvals_required == 2  # never lowered
    decided = repo.approve_proposal(store, proposal_id, "U3", counts=lambda u, g: u != "U1")
    assert decided.outcome == "approved" and decided.approvals == ["U2", "U3"]
    assert repo.counted_approvals(store, proposal_id) == ["U2", "U3"]  # what the outcome message credits
    assert repo.list_approvals(store, proposal_id) == ["U1", "U2", "U3"]  # every vote stays recorded


def test_a_voter_whose_recorded_groups_stopped_counting_is_refreshed_not_told_they_voted(
    store: Store,
) -> None:
    """The admin wrote the group by its id instead of its handle: the voter's recorded groups no longer
    match, but their click now qualifies under the new groups; it counts again."""
    _, [proposal_id] = diagnosed_investigation(store, approvals_required=2)
    repo.approve_proposal(store, proposal_id, "U1", ["sre-oncall"])
    by_id = lambda user, groups: "S0ONCALL" in groups or user == "U2"  # noqa: E731
    again = repo.approve_proposal(store, proposal_id, "U1", ["S0ONCALL"], counts=by_id)
    assert again.outcome == "awaiting_approval" and again.approvals == ["U1"]
    assert repo.list_approval_votes(store, proposal_id) == [("U1", ("S0ONCALL",))]
    assert repo.approve_proposal(store, proposal_id, "U1", ["S0ONCALL"], counts=by_id).outcome == (
        "duplicate_approver"
    )
    assert repo.approve_proposal(store, proposal_id, "U2", counts=by_id).outcome == "approved"


def test_rejection_is_final_and_blocks_execution(store: Store) -> None:
    _, [proposal_id] = diagnosed_investigation(store)
    rejected = repo.reject_proposal(store, proposal_id, "U2", reason="wrong service")
    assert rejected.changed and rejected.proposal.reason == "wrong service"
    assert repo.approve_proposal(store, proposal_id, "U1").outcome == "already_decided"
    assert repo.claim_execution(store, proposal_id, executor="x") is False
    with pytest.raises(InvalidTransitionError, match="only an 'executing' proposal"):
        repo.finish_execution(store, proposal_id, succeeded=True, result={})


def test_an_execution_interrupted_by_a_crash_is_failed_never_retried(store: Store) -> None:
    _, [proposal_id] = diagnosed_investigation(store)
    repo.approve_proposal(store, proposal_id, "U1")
    assert repo.claim_execution(store, proposal_id, executor="w-dead")
    failed = repo.fail_interrupted_executions(store, claimed_before=datetime.now(UTC) + timedelta(seconds=1))
    proposal = repo.get_proposal(store, proposal_id)
    assert (
        failed == [proposal_id]
        and proposal.status == "failed"
        and proposal.result
        == {
            "interrupted": True,
            "detail": "the executing worker stopped before reporting an outcome",
        }
    )
    assert repo.claim_execution(store, proposal_id, executor="w-new") is False


def test_claiming_an_unknown_proposal_is_an_error_not_a_silent_false(store: Store) -> None:
    with pytest.raises(NotFoundError, match="proposal 'prop_nope'"):
        repo.claim_execution(store, "prop_nope", executor="x")
    with pytest.raises(NotFoundError):
        repo.approve_proposal(store, "prop_nope", "U1")


def test_feedback_is_recorded_and_must_match_its_investigation(store: Store) -> None:
    investigation_id, [proposal_id] = diagnosed_investigation(store)
    other_id, _ = diagnosed_investigation(store)
    repo.record_feedback(
        store, investigation_id=investigation_id, kind="thumbs_up", actor="U1", source="reaction"
    )
    repo.record_feedback(
        store,
        investigation_id=investigation_id,
        proposal_id=proposal_id,
        kind="rejected",
        actor="U2",
        source="approval",
        reason="would drop traffic",
    )
    with pytest.raises(InvalidValueError, match="belongs to investigation"):
        repo.record_feedback(
            store,
            investigation_id=other_id,
            proposal_id=proposal_id,
            kind="helpful",
            actor="U",
            source="button",
        )
    with pytest.raises(NotFoundError):
        repo.record_feedback(store, investigation_id="inv_nope", kind="helpful", actor="U", source="button")
    rows = repo.list_feedback(store, investigation_id=investigation_id)
    assert [(r.kind, r.source, r.reason) for r in rows] == [
        ("thumbs_up", "reaction", None),
        ("rejected", "approval", "would drop traffic"),
    ]
    counts = repo.feedback_counts(store)
    assert counts["thumbs_up"] == 1 and counts["rejected"] == 1 and counts["helpful"] == 0


def test_slack_messages_are_upserted_in_place_keeping_their_links(store: Store) -> None:
    investigation_id, _ = diagnosed_investigation(store)
    first = repo.record_slack_message(
        store,
        channel="C1",
        ts="100.1",
        thread_ts="100.0",
        kind="summary",
        payload={"text": "investigating"},
        investigation_id=investigation_id,
    )
    updated = repo.record_slack_message(
        store, channel="C1", ts="100.1", kind="summary", payload={"text": "done"}
    )
    assert updated.id == first.id and updated.payload == {"text": "done"}
    assert updated.investigation_id == investigation_id and updated.thread_ts == "100.0"
    assert updated.created_at == first.created_at and updated.updated_at >= first.updated_at
    found = repo.find_slack_message(store, "C1", "100.1")
    assert found is not None and found.investigation_id == investigation_id
    assert len(repo.list_slack_messages(store, thread_ts="100.0")) == 1


def test_processed_events_are_claimed_once_and_old_ones_forgotten(store: Store) -> None:
    assert repo.mark_event_processed(store, "Ev1") is True
    assert repo.mark_event_processed(store, "Ev1") is False
    assert repo.prune_processed_events(store, older_than=datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert repo.mark_event_processed(store, "Ev1") is True


def test_audit_log_is_append_only_and_ordered(store: Store) -> None:
    repo.append_audit(
        store, actor="executor", action="execute.before", proposal_id="p1", before={"replicas": 0}
    )
    repo.append_audit(
        store, actor="executor", action="execute.after", proposal_id="p1", after={"replicas": 1}
    )
    entries = repo.list_audit(store, proposal_id="p1")
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("execute.before", {"replicas": 0}, None),
        ("execute.after", None, {"replicas": 1}),
    ]
    public = [name for name, _ in pyinspect.getmembers(repo_audit, pyinspect.isfunction)]
    assert not [name for name in public if "update" in name or "delete" in name or "remove" in name]


def test_unique_constraints_guard_against_duplicate_rows(store: Store) -> None:
    repo.create_incident(store, title="a", source="slack", channel="C", thread_ts="1")
    with pytest.raises(IntegrityError):
        repo.create_incident(store, title="b", source="slack", channel="C", thread_ts="1")
