"""``aoi sim serve`` in a real subprocess: prints its URLs and kubeconfig, serves, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.sim.api.server import WRITE_CONTEXT

PROBLEM = "k8s_target_port-misconfig-mitigation-1"


def test_serve_prints_urls_serves_and_grades_the_end_state_on_ctrl_c(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    env = {**os.environ, "AOI_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "aoi.bot.cli", "sim", "serve", "--problem", PROBLEM, "--clock", "frozen"]
    proc = subprocess.Popen(
        [*command, "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        banner = ""
        while "AOI on it:" not in banner:
            line = proc.stdout.readline()
            assert line, f"aoi sim serve exited early: {banner}"
            banner += line
        assert re.search(r"Kubernetes API  https://127\.0\.0\.1:\d+", banner)
        assert re.search(r"Prometheus API  http://127\.0\.0\.1:\d+", banner)
        assert f"kubeconfig      {kubeconfig}" in banner
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
        core = k8s.CoreV1Api(k8s_config.new_client_from_config(str(kubeconfig), context=WRITE_CONTEXT))
        assert core.list_namespaced_pod("test-social-network").items
        core.patch_namespaced_service(
            "user-service", "test-social-network", {"spec": {"ports": [{"port": 9090, "targetPort": 9090}]}}
        )
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "Stopped the simulated cluster." in rest
    assert "passes the mitigation check" in rest


def test_serve_rejects_an_unknown_problem_with_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["sim", "serve", "--problem", "no-such-problem"])
    assert result.exit_code == 2
    assert "no-such-problem" in result.output


def test_serve_never_writes_over_an_existing_kubeconfig(tmp_path: Path) -> None:
    """`--kubeconfig ~/.kube/config` would have replaced the user's real cluster contexts."""
    existing = tmp_path / "config"
    existing.write_text("apiVersion: v1\nkind: Config\ncontexts: [{name: prod}]\n")
    before = existing.read_text()
    result = CliRunner().invoke(app, ["sim", "serve", "--problem", PROBLEM, "--kubeconfig", str(existing)])
    assert result.exit_code == 2 and "never writes over a kubeconfig" in result.output
    assert existing.read_text() == before


def test_problems_list_shows_whole_ids_even_in_a_narrow_terminal() -> None:
    from aoi.sim import load_suite

    result = CliRunner().invoke(app, ["problems", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    longest = max(load_suite("aiopslab"), key=len)
    assert longest in result.output
