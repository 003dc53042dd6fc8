"""``aoi diagnose``, ``aoi demo`` and ``aoi eval`` end to end on the simulator (small and fast)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aoi.bot.cli import app

PROBLEM = "k8s_target_port-misconfig-mitigation-1"
runner = CliRunner()


def test_diagnose_prints_the_diagnosis_json() -> None:
    result = runner.invoke(app, ["diagnose", "--problem", PROBLEM, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {
        "detected", "faulty_components", "root_cause", "evidence", "remediations", "confidence",
        "steps", "tokens", "seconds", "trajectory_id",
    }  # fmt: skip
    assert data["detected"] is True and data["faulty_components"] == ["user-service"]
    assert data["root_cause"]["fault_type"] == "Misconfiguration"
    assert data["tokens"] == {"in": 0, "out": 0}
    assert data["remediations"][0]["command"].startswith(
        "kubectl -n test-social-network patch service user-service"
    )


def test_diagnose_names_an_unknown_problem_clearly() -> None:
    result = runner.invoke(app, ["diagnose", "--problem", "no-such-problem"])
    assert result.exit_code == 2
    assert "no problem 'no-such-problem'" in result.output


def test_diagnose_exits_1_when_it_could_read_nothing_and_names_a_planner_it_cannot_build(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Scripts and runbooks check the exit code: "undetermined" is not a diagnosis."""
    from aoi.bot.settings import get_settings

    kubeconfig = tmp_path / "down.yaml"  # a cluster that is not there
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: down\n"
        "clusters: [{name: down, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: down, context: {cluster: down, user: u}}]\n"
    )
    monkeypatch.setenv("AOI_KUBECONFIG_READ", str(kubeconfig))
    monkeypatch.setenv("AOI_LOCAL_MODEL_PATH", str(tmp_path / "no-such-model"))
    get_settings.cache_clear()
    try:
        down = runner.invoke(app, ["diagnose", "--problem", PROBLEM, "--backend", "kubernetes", "--json"])
        assert down.exit_code == 1 and json.loads(down.stdout)["undetermined"] is True
        local = runner.invoke(app, ["diagnose", "--problem", PROBLEM, "--planner", "local"])
        assert local.exit_code == 1 and "cannot build the local planner" in local.output
        assert "Traceback" not in local.output
    finally:
        get_settings.cache_clear()


def test_demo_with_yes_mitigates_and_exits_zero() -> None:
    result = runner.invoke(app, ["demo", "--problem", PROBLEM, "--yes"])
    assert result.exit_code == 0, result.output
    assert "Succeeded" in result.output and "Grader: mitigated" in result.output
    assert "kubectl -n test-social-network patch service user-service" in result.output


def test_demo_without_a_terminal_or_yes_declines_and_changes_nothing() -> None:
    result = runner.invoke(app, ["demo", "--problem", PROBLEM], input="")
    assert result.exit_code == 1
    assert "treating the fix as declined" in result.output and "nothing was changed" in result.output


def test_eval_writes_the_design_json_and_a_report(tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"

    def problem(pid: str, task: str, fault: str, target: str, seed: int) -> dict[str, object]:
        return {
            "id": pid,
            "app": "social-network",
            "task": task,
            "fault": {"type": fault, "target": target, "params": {}},
            "seed": seed,
            "split": "test",
        }

    problems = [
        problem("tp", "mitigation", "misconfig_k8s", "text-service", 3),
        problem("sz", "localization", "scale_pods_to_zero", "media-service", 4),
    ]
    suite.write_text(json.dumps(problems))
    report = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "eval",
            "--suite",
            str(suite),
            "--planner",
            "heuristic",
            "--k",
            "2",
            "--json",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(data) == {
        "suite",
        "planner",
        "k",
        "n",
        "best_at_k",
        "avg_at_k",
        "std",
        "by_task",
        "by_split",
        "problems",
        "runs_errored",
        "runs_degraded",
    }
    assert (data["runs_errored"], data["runs_degraded"]) == (0, 0)
    assert data["n"] == 2 and data["k"] == 2 and data["best_at_k"] == 1.0 and data["avg_at_k"] == 1.0
    assert data["by_task"]["mitigation"] == {"n": 1, "best_at_k": 1.0, "avg_at_k": 1.0}
    assert [len(p["runs"]) for p in data["problems"]] == [2, 2]
    assert set(data["problems"][0]["runs"][0]) == {"success", "steps", "seconds", "tokens"}
    assert {p.name for p in report.iterdir()} == {
        "summary.md",
        "results.json",
        "by_task.png",
        "by_fault.png",
        "steps_time.png",
    }
    assert (report / "by_task.png").read_bytes()[:4] == b"\x89PNG"
    assert "best@2: 1.000" in (report / "summary.md").read_text()
