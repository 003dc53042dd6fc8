"""Bad input on the core commands: a clear ``error:`` and a non-zero exit, nothing lost or half written.

Each case was found by an on-call engineer's try-to-break pass over the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.bot.settings import get_settings
from aoi.store import repo
from aoi.store.db import Store

PACKAGED_POLICY = Path(__file__).parents[1] / "aoi" / "policies" / "default.yaml"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AOI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AOI_DATABASE_URL", raising=False)
    monkeypatch.delenv("AOI_POLICY_FILE", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_a_relative_downgrade_that_reaches_base_needs_yes_and_loses_nothing_without_it(env: Path) -> None:
    url = f"sqlite:///{env / 'aoi.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    store = Store.open(url)
    repo.create_incident(store, title="orders DB is slow", source="cli")
    refused = runner.invoke(app, ["db", "downgrade", "-2", "--url", url])  # `-2` is a revision, not a flag
    assert refused.exit_code == 1 and "reaches 'base'" in refused.output and "--yes" in refused.output
    asked = runner.invoke(app, ["db", "downgrade", "-1", "--url", url])  # 0002 → 0001 drops a column
    assert asked.exit_code == 1 and "removes what the later migrations added" in asked.output
    one_back = runner.invoke(app, ["db", "downgrade", "-1", "--url", url, "--yes"])
    assert one_back.exit_code == 0, one_back.output
    refused = runner.invoke(app, ["db", "downgrade", "-1", "--url", url])  # now 0001 → base
    assert refused.exit_code == 1 and "reaches 'base'" in refused.output
    assert [i.title for i in repo.list_incidents(store)] == ["orders DB is slow"]
    store.dispose()
    unknown = runner.invoke(app, ["db", "upgrade", "bogusrev", "--url", url])
    assert unknown.exit_code == 1 and "Can't locate revision identified by 'bogusrev'" in unknown.output


def test_db_current_on_a_missing_file_creates_nothing(env: Path) -> None:
    missing = env / "typo" / "aoi.db"
    result = CliRunner().invoke(app, ["db", "current", "--url", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and "no SQLite database" in result.output
    assert not missing.parent.exists()


def test_a_bad_setting_is_one_error_line_not_a_traceback(env: Path) -> None:
    environment = {**os.environ, "AOI_PLANNER": "bogus", "AOI_DATA_DIR": str(env / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "aoi.bot.cli", "policy", "show"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 1
    assert "AOI_PLANNER: Input should be 'heuristic', 'openai' or 'local' (got 'bogus')" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_policy_file_that_is_not_text_is_refused_cleanly(env: Path) -> None:
    binary = env / "bin.yaml"
    binary.write_bytes(b"\xff\xfe")
    result = CliRunner().invoke(app, ["policy", "check", str(binary)])
    assert result.exit_code == 1 and "not UTF-8 text" in result.output


def test_export_to_a_folder_is_an_error_and_leaves_no_temporary_files(env: Path) -> None:
    url = f"sqlite:///{env / 'aoi.db'}"
    CliRunner().invoke(app, ["db", "upgrade", "--url", url])
    folder = env / "exports"
    folder.mkdir()
    result = CliRunner().invoke(
        app, ["data", "export", "--since", "2020-01-01", "-o", str(folder), "--url", url]
    )
    assert result.exit_code == 1 and "is a folder" in result.output
    assert sorted(p.name for p in env.iterdir() if p.name.endswith(".tmp")) == []


def test_eval_checks_its_report_folder_and_suite_before_running(env: Path) -> None:
    blocker = env / "afile"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["eval", "--suite", "train", "--report", str(blocker / "r"), "--json"])
    assert result.exit_code == 1 and "--report" in " ".join(result.output.split())
    empty = env / "empty.json"
    empty.write_text("[]")
    result = CliRunner().invoke(app, ["eval", "--suite", str(empty)])
    assert result.exit_code == 2 and "holds no problems" in " ".join(result.output.split())


def test_eval_and_demo_use_the_configured_policy(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy that allows no write in the app's namespace: eval cannot mitigate; a broken one is
    an error, not a crash halfway through the demo."""
    from aoi.sim import load_suite

    problem = load_suite("aiopslab")["k8s_target_port-misconfig-mitigation-1"]
    suite = env / "one.json"
    suite.write_text(json.dumps([problem.model_dump(mode="json")]))
    restricted = env / "restricted.yaml"
    restricted.write_text(
        PACKAGED_POLICY.read_text().replace("namespaces: *app_namespaces", "namespaces: [other-ns]")
    )
    monkeypatch.setenv("AOI_POLICY_FILE", str(restricted))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["eval", "--suite", str(suite), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["best_at_k"] == 0.0
    monkeypatch.setenv("AOI_POLICY_FILE", str(env / "missing.yaml"))
    get_settings.cache_clear()
    demo = CliRunner().invoke(app, ["demo", "--yes"])
    assert demo.exit_code == 1 and "AOI_POLICY_FILE" in demo.output and "Investigating" not in demo.output


def test_eval_of_a_planner_it_never_reached_exits_1_instead_of_reporting_the_fallbacks_scores(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run fell back to the heuristic planner: its scores are not the openai planner's."""
    from aoi.sim import load_suite

    problem = load_suite("aiopslab")["k8s_target_port-misconfig-mitigation-1"]
    suite = env / "one.json"
    suite.write_text(json.dumps([problem.model_dump(mode="json")]))
    monkeypatch.setenv("AOI_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("AOI_LLM_MODEL", "m")
    get_settings.cache_clear()
    args = ["eval", "--suite", str(suite), "--planner", "openai", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "1 fell back to the heuristic planner: these scores are not openai's" in result.output
    assert json.loads(result.stdout.splitlines()[0])["runs_degraded"] == 1
    assert CliRunner().invoke(app, [*args, "--allow-degraded"]).exit_code == 0


def test_problems_generate_into_a_path_it_cannot_write_is_one_line(env: Path) -> None:
    blocker = env / "afile"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["problems", "generate", "--n", "2", "-o", str(blocker / "g.json")])
    assert result.exit_code == 1 and "cannot write" in result.output and "Traceback" not in result.output
    folder = env / "suite.json"
    folder.mkdir()
    assert CliRunner().invoke(app, ["problems", "generate", "--n", "2", "-o", str(folder)]).exit_code == 1
    assert not any(p.name.endswith(".partial") for p in env.iterdir())


def test_aoi_version_flag_prints_the_version() -> None:
    flag, command = CliRunner().invoke(app, ["--version"]), CliRunner().invoke(app, ["version"])
    assert flag.exit_code == 0 and flag.output == command.output and flag.output.strip()
