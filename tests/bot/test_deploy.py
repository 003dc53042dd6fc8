"""deploy/, Procfile and manifest.yaml are validated as data: kinds, required fields, identities."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACED = {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Secret", "Role", "RoleBinding"}
READ_VERBS = {"get", "list", "watch"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _all() -> dict[Path, list[dict[str, Any]]]:
    return {p: _docs(p) for p in sorted(DEPLOY.rglob("*.yaml")) if p.name != "kustomization.yaml"}


def _deployment(name: str) -> dict[str, Any]:
    found = [
        d
        for docs in _all().values()
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one Deployment {name}"
    return found[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_every_manifest_has_kind_api_version_name_and_a_namespace_where_needed() -> None:
    for path, docs in _all().items():
        assert docs, f"{path} is empty"
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), f"{path}: apiVersion/kind missing"
            assert doc["metadata"].get("name"), f"{path}: {doc['kind']} without metadata.name"
            if doc["kind"] in NAMESPACED:
                assert doc["metadata"].get("namespace"), (
                    f"{path}: {doc['kind']} {doc['metadata']['name']} has no namespace"
                )


def test_kustomization_lists_existing_files_including_the_generated_rbac() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert "rbac/executor.yaml" in resources and "rbac/investigator.yaml" in resources
    for resource in resources:
        assert (DEPLOY / resource).is_file(), f"kustomization lists missing {resource}"


@pytest.mark.parametrize("name", ["aoi-web", "aoi-worker", "aoi-executor"])
def test_deployments_are_complete_and_select_their_own_pods(name: str) -> None:
    deployment = _deployment(name)
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    containers = spec["template"]["spec"]["containers"]
    assert containers and all(c.get("image") and c.get("command") for c in containers)
    assert containers[0]["command"][0] == "aoi"
    service_accounts = {
        d["metadata"]["name"] for docs in _all().values() for d in docs if d["kind"] == "ServiceAccount"
    }
    assert spec["template"]["spec"]["serviceAccountName"] in service_accounts


def test_web_has_no_cluster_identity_and_probes_healthz() -> None:
    pod = _deployment("aoi-web")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aoi-web" and pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["command"] == ["aoi", "bot"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    bindings = [d for docs in _all().values() for d in docs if d["kind"].endswith("Binding")]
    assert not any(s.get("name") == "aoi-web" for b in bindings for s in b.get("subjects", []))


def test_investigation_worker_runs_as_the_read_only_investigator_without_write_credentials() -> None:
    pod = _deployment("aoi-worker")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aoi-investigator"
    container = pod["containers"][0]
    assert container["command"][:4] == ["aoi", "worker", "--queue", "investigations"]
    assert "AOI_KUBECONFIG_WRITE" not in _env(container)
    roles = [d for d in _docs(DEPLOY / "rbac" / "investigator.yaml") if d["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_VERBS, f"investigator role {role['metadata']['name']} can write"
            assert "secrets" not in rule.get("resources", [])


def test_executor_service_account_is_bound_only_to_the_generated_roles() -> None:
    generated = _docs(DEPLOY / "rbac" / "executor.yaml")
    generated_roles = {
        (d["kind"], d["metadata"]["name"]) for d in generated if d["kind"] in ("Role", "ClusterRole")
    }
    assert generated_roles
    bindings = [
        (path, d)
        for path, docs in _all().items()
        for d in docs
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(
            s.get("name") == "aoi-executor" and s.get("kind") == "ServiceAccount"
            for s in d.get("subjects", [])
        )
    ]
    assert bindings
    for path, binding in bindings:
        assert path == DEPLOY / "rbac" / "executor.yaml", (
            f"{path} binds the executor outside the generated RBAC"
        )
        assert (binding["roleRef"]["kind"], binding["roleRef"]["name"]) in generated_roles
    pod = _deployment("aoi-executor")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aoi-executor"
    assert _deployment("aoi-executor")["spec"]["replicas"] == 1  # it also runs the one scheduler
    env = _env(pod["containers"][0])
    assert env["AOI_KUBECONFIG_WRITE"] != env["AOI_KUBECONFIG_READ"]


def test_procfile_has_release_web_and_worker() -> None:
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines["release"].strip() == "aoi db upgrade"
    assert lines["web"].strip() == "aoi bot" and lines["worker"].strip().startswith("aoi worker")


def test_slack_manifest_subscribes_to_exactly_what_the_handlers_use() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_mention",
        "channel_created",
        "message.channels",
        "reaction_added",
        "reaction_removed",
    }
    assert settings["interactivity"]["is_enabled"] is True
    urls = [settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]]
    urls += [c["url"] for c in manifest["features"]["slash_commands"]]
    assert all(url.endswith("/slack/events") for url in urls)
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/aoi"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "app_mentions:read",
        "channels:read",
        "channels:join",
        "channels:history",
        "chat:write",
        "commands",
        "reactions:read",
        "usergroups:read",
    }
    handlers = "".join(p.read_text() for p in (ROOT / "aoi" / "handlers").glob("*.py"))
    registered = set(re.findall(r'@app\.event\("([a-z_]+)"\)', handlers))
    assert registered == {
        "app_home_opened",
        "app_mention",
        "channel_created",
        "message",
        "reaction_added",
        "reaction_removed",
    }


def test_every_container_command_is_a_valid_aoi_invocation() -> None:
    from typer.testing import CliRunner

    from aoi.bot.cli import app

    commands = []
    for docs in _all().values():
        for doc in docs:
            spec = doc.get("spec") or {}
            pod = (spec.get("jobTemplate") or {}).get("spec", spec).get("template", {}).get("spec", {})
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                if container.get("command", [""])[0] == "aoi":
                    commands.append(container["command"][1:])
    assert (
        ["bot"] in commands
        and ["db", "upgrade"] in commands
        and ["train", "weekly", "--now", "--json"] in commands
    )
    for args in commands:
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"`aoi {' '.join(args)}` is not a valid command: {result.output}"


def test_retrain_cronjob_runs_once_at_a_time_without_a_cluster_identity() -> None:
    (cronjob,) = [d for d in _docs(DEPLOY / "retrain.yaml") if d["kind"] == "CronJob"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aoi-trainer" and pod["automountServiceAccountToken"] is False
    executor = _deployment("aoi-executor")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--no-retrain" in executor  # the weekly job runs in the CronJob only
