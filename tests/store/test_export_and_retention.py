"""Training export (JSONL round-trip) and retention (prune old data, keep the audit log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.bot.settings import get_settings
from aoi.store import InvalidValueError, Store, repo
from aoi.store.export import export_training_data, read_export
from aoi.store.models import AuditEntry, Feedback, Incident, Investigation, ProcessedEvent, Proposal
from aoi.store.retention import count_rows, prune
from tests.store.helpers import backdate, diagnosed_investigation

LONG_AGO = datetime.now(UTC) - timedelta(days=400)


def test_export_round_trips_finished_investigations_and_feedback_in_the_window(
    store: Store, tmp_path: Path
) -> None:
    kept_id, [proposal_id] = diagnosed_investigation(store, text="geo service unreachable")
    repo.approve_proposal(store, proposal_id, "U1")
    repo.claim_execution(store, proposal_id, executor="x")
    repo.finish_execution(store, proposal_id, succeeded=True, result={"verified": True})
    repo.record_feedback(store, investigation_id=kept_id, kind="thumbs_up", actor="U1", source="reaction")
    repo.record_feedback(
        store,
        investigation_id=kept_id,
        proposal_id=proposal_id,
        kind="execution_verified",
        actor="x",
        source="executor",
    )
    failed = repo.create_investigation(store, planner="openai")
    repo.fail_investigation(store, failed.id, error="timeout", trajectory={"steps": [{"index": 0}]})
    running = repo.create_investigation(store, planner="heuristic")
    repo.start_investigation(store, running.id, worker="w")
    old_id, _ = diagnosed_investigation(store)
    backdate(store, Investigation, old_id, "created_at", LONG_AGO)
    old_feedback = repo.record_feedback(
        store, investigation_id=old_id, kind="thumbs_down", actor="U", source="button"
    )
    backdate(store, Feedback, old_feedback.id, "created_at", LONG_AGO)

    path = tmp_path / "out" / "train.jsonl"
    counts = export_training_data(store, path, since=datetime.now(UTC) - timedelta(days=1))
    bundle = read_export(path)

    assert counts == {"investigations": 2, "feedback": 2} == bundle.header.counts
    by_id = {inv.id: inv for inv in bundle.investigations}
    assert set(by_id) == {kept_id, failed.id}  # running and out-of-window ones are left out
    stored = repo.get_investigation(store, kept_id)
    assert by_id[kept_id].trajectory == stored.trajectory and by_id[kept_id].diagnosis == stored.diagnosis
    assert by_id[kept_id].created_at == stored.created_at and by_id[kept_id].created_at.tzinfo is not None
    [exported_proposal] = by_id[kept_id].proposals
    assert (exported_proposal.status, exported_proposal.decided_by, exported_proposal.result) == (
        "succeeded",
        "U1",
        {"verified": True},
    )
    assert by_id[failed.id].error == "timeout" and by_id[failed.id].trajectory == {"steps": [{"index": 0}]}
    assert [(f.kind, f.positive) for f in bundle.feedback] == [
        ("thumbs_up", True),
        ("execution_verified", True),
    ]
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()] == [
        "export",
        "investigation",
        "investigation",
        "feedback",
        "feedback",
    ]
    assert not list(path.parent.glob("*.tmp"))


def test_reading_a_damaged_export_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "export", "format": 1}\n')
    with pytest.raises(InvalidValueError, match=r"bad.jsonl:1: invalid export record"):
        read_export(path)
    path.write_text("not json\n")
    with pytest.raises(InvalidValueError, match=r"bad.jsonl:1: not JSON"):
        read_export(path)


def test_cli_export_writes_the_file_and_rejects_bad_dates(store: Store, db_url: str, tmp_path: Path) -> None:
    investigation_id, _ = diagnosed_investigation(store)
    repo.record_feedback(store, investigation_id=investigation_id, kind="helpful", actor="U", source="button")
    runner = CliRunner()
    out = tmp_path / "export.jsonl"
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    result = runner.invoke(app, ["data", "export", "--since", since, "-o", str(out), "--url", db_url])
    assert result.exit_code == 0, result.output
    assert "1 investigations, 1 feedback rows" in result.output
    assert read_export(out).investigations[0].id == investigation_id
    bad = runner.invoke(app, ["data", "export", "--since", "last tuesday", "-o", str(out), "--url", db_url])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_prune_deletes_old_finished_data_but_keeps_open_work_and_the_audit_log(store: Store) -> None:
    old_id, [old_proposal] = diagnosed_investigation(store)
    repo.reject_proposal(store, old_proposal, "U1")
    thumb = repo.record_feedback(
        store, investigation_id=old_id, kind="thumbs_down", actor="U1", source="reaction"
    )
    backdate(store, Feedback, thumb.id, "created_at", LONG_AGO)
    backdate(store, Proposal, old_proposal, "decided_at", LONG_AGO)
    repo.record_slack_message(
        store, channel="C", ts="1.1", kind="summary", payload={}, investigation_id=old_id
    )
    pending_id, _ = diagnosed_investigation(store)  # old, but its proposal still awaits a decision
    recent_id, _ = diagnosed_investigation(store)
    for investigation_id in (old_id, pending_id):
        backdate(store, Investigation, investigation_id, "created_at", LONG_AGO)
    old_incident = repo.get_investigation(store, old_id).incident_id
    backdate(store, Incident, old_incident, "created_at", LONG_AGO)
    repo.mark_event_processed(store, "Ev-old")
    backdate(store, ProcessedEvent, "Ev-old", "processed_at", LONG_AGO)
    for entry in repo.list_audit(store):
        backdate(store, AuditEntry, entry.id, "at", LONG_AGO)
    audit_before = len(repo.list_audit(store))

    preview = prune(store, retention_days=365, dry_run=True)
    assert count_rows(store)["investigations"] == 3  # a dry run deletes nothing
    report = prune(store, retention_days=365)

    assert preview.counts() == report.counts()
    assert (report.investigations, report.proposals, report.feedback, report.slack_messages) == (1, 1, 1, 1)
    assert (report.incidents, report.processed_events, report.audit_log) == (1, 1, 0)
    remaining = {inv.id for inv in repo.list_investigations(store)}
    assert remaining == {pending_id, recent_id}
    assert len(repo.list_audit(store)) == audit_before + 1  # kept, plus the record of the prune itself
    assert repo.list_audit(store, action="data.pruned")[0].details["deleted"]["investigations"] == 1

    with_audit = prune(store, retention_days=365, include_audit=True)
    assert with_audit.audit_log == audit_before and with_audit.investigations == 0


def test_an_old_investigation_judged_or_decided_within_the_retention_period_is_kept(store: Store) -> None:
    """A thumbs-down given yesterday on a year-old investigation is this week's training signal."""
    thumbed, _ = diagnosed_investigation(store, proposals=0)
    repo.record_feedback(store, investigation_id=thumbed, kind="thumbs_down", actor="U1", source="reaction")
    decided, [proposal_id] = diagnosed_investigation(store)
    repo.reject_proposal(store, proposal_id, "U1")
    forgotten, _ = diagnosed_investigation(store, proposals=0)
    for investigation_id in (thumbed, decided, forgotten):
        backdate(store, Investigation, investigation_id, "created_at", LONG_AGO)
    report = prune(store, retention_days=365)
    assert report.investigations == 1 and report.feedback == 0
    assert {inv.id for inv in repo.list_investigations(store)} == {thumbed, decided}


def test_prune_refuses_a_retention_of_zero_days(store: Store) -> None:
    with pytest.raises(InvalidValueError, match="at least one day"):
        prune(store, retention_days=0)


def test_cli_prune_uses_the_configured_retention_and_keeps_the_audit_log_by_default(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_id, _ = diagnosed_investigation(store, proposals=0)
    backdate(store, Investigation, old_id, "created_at", datetime.now(UTC) - timedelta(days=40))
    monkeypatch.setenv("AOI_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["data", "prune", "--url", db_url])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "deleted 1 investigations" in result.output and "audit log kept" in result.output
    assert repo.list_investigations(store) == []


def test_cli_export_never_writes_over_the_store_or_an_existing_file(tmp_path: Path) -> None:
    database = tmp_path / "aoi.db"
    url = f"sqlite:///{database}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    size = database.stat().st_size

    def export(output: Path, *extra: str) -> Any:
        return runner.invoke(
            app, ["data", "export", "--since", "2020-01-01", "-o", str(output), *extra, "--url", url]
        )

    onto_store = export(database)
    assert onto_store.exit_code == 1 and "the store's own database file" in onto_store.output
    assert database.stat().st_size == size
    assert runner.invoke(app, ["db", "current", "--url", url]).exit_code == 0
    existing = tmp_path / "last-week.jsonl"
    existing.write_text("keep me\n")
    refused = export(existing)
    assert refused.exit_code == 1 and "--force" in refused.output and existing.read_text() == "keep me\n"
    assert export(existing, "--force").exit_code == 0 and existing.read_text() != "keep me\n"


def test_cli_data_commands_never_create_a_store_at_a_mistyped_path(tmp_path: Path) -> None:
    typo = tmp_path / "nested" / "aoi-typo.db"
    export = ["data", "export", "--since", "2020-01-01", "-o", str(tmp_path / "x.jsonl")]
    for args in (["data", "prune"], export):
        result = CliRunner().invoke(app, [*args, "--url", f"sqlite:///{typo}"])
        assert result.exit_code == 1 and "no SQLite database at" in result.output
    assert not typo.parent.exists()


def test_cli_export_to_standard_output_prints_only_the_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aoi.db'}"
    assert CliRunner().invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    result = CliRunner().invoke(app, ["data", "export", "--since", "2020-01-01", "-o", "-", "--url", url])
    assert result.exit_code == 0, result.output
    (header,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert header["type"] == "export" and "wrote standard output" in result.stderr
    assert not (Path.cwd() / "-").exists()
