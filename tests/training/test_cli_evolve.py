"""`aoi evolve` files notes from the store's failures; `aoi guidance list|show|rm` reviews them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aoi.agents.evaluation.suite import load_problems
from aoi.bot.cli import app
from aoi.bot.settings import get_settings
from aoi.store import repo
from aoi.store.db import Store
from tests.training.test_production import _investigation


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'aoi.db'}"
    monkeypatch.setenv("AOI_DATABASE_URL", url)
    monkeypatch.setenv("AOI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AOI_GUIDANCE_EMBEDDER", "hashing")
    get_settings.cache_clear()
    store = Store.open(url, migrate=True)
    yield store
    store.dispose()
    get_settings.cache_clear()


def test_evolve_then_review_and_remove_guidance(cli_store: Any, tmp_path: Path) -> None:
    incident = repo.create_incident(cli_store, title="user-service down", source="cli")
    good, _ = _investigation(cli_store, incident.id, "user-service pods crash after deploy")
    bad, proposal = _investigation(cli_store, incident.id, "user-service pods crash after deploy")
    repo.record_feedback(cli_store, investigation_id=good, kind="thumbs_up", actor="U1", source="reaction")
    repo.record_feedback(
        cli_store,
        investigation_id=bad,
        proposal_id=proposal,
        kind="execution_failed",
        actor="executor",
        source="executor",
        reason="pods still crashing after the undo",
    )
    runner = CliRunner()

    dry = runner.invoke(app, ["evolve", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["filed"] == 0 and repo.list_guidance(cli_store) == []

    result = runner.invoke(app, ["evolve", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["cases"] == 1 and report["filed"] == 1
    assert "wrong_fix" in report["patterns"]
    kinds = {d["kind"]: d for d in report["datasets"]}
    assert kinds["corrective-kto"]["rows"] == 1 and kinds["corrective-sft"]["rows"] == 3
    assert Path(kinds["corrective-kto"]["path"]).parent == tmp_path / "data" / "datasets"

    again = json.loads(runner.invoke(app, ["evolve", "--json"]).output)
    assert again["filed"] == 0 and again["duplicates"] == 1

    notes = json.loads(runner.invoke(app, ["guidance", "list", "--json"]).output)
    assert len(notes) == 1 and notes[0]["source_investigation_id"] == bad
    shown = runner.invoke(app, ["guidance", "show", notes[0]["id"]])
    assert "pods still crashing" in shown.output and "verification" in shown.output

    removed = runner.invoke(app, ["guidance", "rm", notes[0]["id"], "--actor", "U9"])
    assert removed.exit_code == 0 and "U9" in removed.output
    assert json.loads(runner.invoke(app, ["guidance", "list", "--json"]).output) == []
    assert len(json.loads(runner.invoke(app, ["guidance", "list", "--json", "--all"]).output)) == 1

    twice = runner.invoke(app, ["guidance", "rm", notes[0]["id"], "--actor", "U7"])
    assert twice.exit_code == 0 and "already removed (by U9" in twice.output

    # the next pass over the same failures must not bring the removed advice back
    after = runner.invoke(app, ["evolve", "--json"])
    assert after.exit_code == 0, after.output
    report = json.loads(after.output)
    assert report["filed"] == 0 and report["removed"] == 1
    assert json.loads(runner.invoke(app, ["guidance", "list", "--json"]).output) == []
    written = {d["kind"] for d in report["datasets"]}
    assert written == {"corrective-kto"}  # no rows that teach the removed note; the failed fix still counts


def test_show_unknown_note_exits_1(cli_store: Any) -> None:
    result = CliRunner().invoke(app, ["guidance", "show", "gd_nope"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_evolve_learns_from_simulated_grader_failures(cli_store: Any, tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"
    problems = [
        p.model_dump(mode="json") for p in load_problems("train") if p.id.startswith("astronomy_shop_cart")
    ]
    suite.write_text(json.dumps(problems))
    result = CliRunner().invoke(app, ["evolve", "--suite", str(suite), "--max-steps", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cases"] >= 1 and report["filed"] >= 1
    assert all(e["source"] == "grader" for e in report["evolutions"])
    notes = repo.list_guidance(cli_store)
    assert notes and "Diagnosis:" in notes[0].note


def test_evolve_checks_the_data_folder_before_filing_any_note(cli_store: Any, tmp_path: Path) -> None:
    incident = repo.create_incident(cli_store, title="user-service down", source="cli")
    bad, _ = _investigation(cli_store, incident.id, "user-service pods crash after deploy")
    repo.record_feedback(cli_store, investigation_id=bad, kind="thumbs_down", actor="U1", source="reaction")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    get_settings.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AOI_DATA_DIR", str(not_a_folder))
        result = CliRunner().invoke(app, ["evolve"])
    get_settings.cache_clear()
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert repo.list_guidance(cli_store) == []  # nothing half done


def test_evolve_refuses_an_unknown_embedder_before_any_work(cli_store: Any) -> None:
    for args in (["evolve", "--embedder", "bogus"], ["evolve", "--embedder", "bogus", "--dry-run"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and "unknown embedder 'bogus'" in result.output


def test_review_commands_on_a_missing_database_file_fail_and_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "aoi.db"
    result = CliRunner().invoke(app, ["guidance", "list", "--url", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and f"no SQLite database at {missing}" in result.output
    assert not missing.parent.exists()


def test_review_commands_on_a_file_that_is_not_a_database_fail_cleanly(tmp_path: Path) -> None:
    junk = tmp_path / "notes.json"
    junk.write_text('{"not": "a database"}' * 100)
    result = CliRunner().invoke(app, ["guidance", "list", "--url", f"sqlite:///{junk}"])
    assert result.exit_code == 1 and "cannot open the database" in result.output
    assert "Traceback" not in result.output


def test_show_prints_a_hand_made_plan_as_stored_and_a_one_line_phase_as_one_line(cli_store: Any) -> None:
    from aoi.store import repo

    listed = repo.add_guidance(
        cli_store, symptoms="s", note="n", repaired_plan=["get_pods", "get_events"], embedding=[0.1]
    )
    shown = CliRunner().invoke(app, ["guidance", "show", listed.id])
    assert shown.exit_code == 0 and '["get_pods", "get_events"]' in shown.output
    phased = repo.add_guidance(
        cli_store, symptoms="s", note="n", repaired_plan={"discovery": "not a list"}, embedding=[0.1]
    )
    output = CliRunner().invoke(app, ["guidance", "show", phased.id]).output
    assert "discovery    not a list" in output and "\n  discovery    n\n" not in output
