"""``aoi policy check|show|evaluate|rbac`` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.policies import DEFAULT_POLICY_PATH, load_policy_digested
from tests.policies.conftest import minimal_policy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "rbac"


def test_check_accepts_the_default_policy() -> None:
    result = CliRunner().invoke(app, ["policy", "check", str(DEFAULT_POLICY_PATH)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ") and "20 rules" in result.stdout
    version = load_policy_digested(DEFAULT_POLICY_PATH)[1]
    assert f"digest {version}" in result.stdout  # the digest /aoi status shows for the policy in force


def test_check_reports_file_and_key_and_exits_1(tmp_path: Path) -> None:
    data = minimal_policy()
    data["rules"][0]["risk"] = "extreme"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.stderr and "rules[0](id=scale).risk" in result.stderr


def test_show_json_lists_every_rule() -> None:
    result = CliRunner().invoke(app, ["policy", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert len(shown["rules"]) == 20 and shown["digest"] == load_policy_digested(None)[1]


def test_evaluate_prints_command_when_allowed_and_exits_1_when_refused() -> None:
    args = ["policy", "evaluate", "scale", "user-service", "-n", "test-social-network", "-p", "replicas=3"]
    allowed = CliRunner().invoke(app, [*args, "-p", "current_replicas=1"])
    assert allowed.exit_code == 0, allowed.output
    assert (
        "command: kubectl -n test-social-network scale deployment/user-service --replicas=3" in allowed.stdout
    )
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "current_replicas" in refused.stdout


def test_rbac_out_writes_the_committed_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["policy", "rbac", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("executor.yaml", "investigator.yaml"):
        assert (tmp_path / name).read_text() == (DEPLOY / name).read_text()


def test_rbac_warns_about_globs_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(minimal_policy()))
    result = CliRunner().invoke(app, ["policy", "rbac", "--policy", str(path), "-n", "team-a"])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {
        d["metadata"]["namespace"]
        for d in docs
        if d["kind"] == "Role" and d["metadata"]["name"] == "aoi-executor"
    } == {
        "shop",
        "team-a",
    }
