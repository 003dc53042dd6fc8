"""Derived RBAC: the committed manifests are current, well-formed, and never exceed the whitelist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from aoi.policies import Policy, load_catalogue, parse_policy
from aoi.policies.rbac import build_rbac, dump_manifests, merge_rules
from tests.policies.conftest import minimal_policy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "rbac"
READ_VERBS = {"get", "list", "watch"}


def _docs(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if doc]


def _rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [rule for doc in docs if doc["kind"] == kind for rule in doc["rules"]]


def test_committed_manifests_equal_the_generator_output(policy: Policy) -> None:
    manifests = build_rbac(policy)
    # the database repairs may exec only into database pods; RBAC cannot say so (pods/exec on every
    # pod of the namespace), and the generator says that it is the policy check that narrows it
    assert [w.split(":")[0] for w in manifests.warnings] == [
        "rule mongo-grant-roles",
        "rule mongo-create-user",
    ]
    assert all("cannot be expressed in RBAC" in w for w in manifests.warnings)
    regenerate = "regenerate with `aoi policy rbac --out deploy/rbac`"
    assert (DEPLOY / "executor.yaml").read_text() == dump_manifests(
        manifests.executor, "default.yaml", "Executor"
    ), regenerate
    expected = dump_manifests(manifests.investigator, "default.yaml", "Investigator")
    assert (DEPLOY / "investigator.yaml").read_text() == expected, regenerate


@pytest.mark.parametrize("name", ["executor.yaml", "investigator.yaml"])
def test_manifests_round_trip_through_the_kubernetes_models(name: str) -> None:
    client = ApiClient()
    for doc in _docs(name):
        model = client.deserialize(json.dumps(doc), f"V1{doc['kind']}", "application/json")
        assert client.sanitize_for_serialization(model) == doc  # no unknown or misspelt field


def test_bindings_point_at_roles_and_service_accounts_that_exist() -> None:
    for name in ("executor.yaml", "investigator.yaml"):
        docs = _docs(name)
        accounts = {
            (d["metadata"]["name"], d["metadata"]["namespace"]) for d in docs if d["kind"] == "ServiceAccount"
        }
        roles = {
            (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs if "rules" in d
        }
        for binding in (d for d in docs if "roleRef" in d):
            ns = binding["metadata"].get("namespace")
            assert (binding["roleRef"]["kind"], binding["roleRef"]["name"], ns) in roles
            assert {(s["name"], s["namespace"]) for s in binding["subjects"]} <= accounts


def test_executor_permissions_are_exactly_those_of_the_allowed_verbs(policy: Policy) -> None:
    catalogue = load_catalogue()
    kubernetes = [r for r in policy.rules if catalogue.verbs[r.verb].platform == "kubernetes"]
    namespaced = [
        e
        for r in kubernetes
        if catalogue.verbs[r.verb].scope == "namespaced"
        for e in catalogue.verbs[r.verb].rbac
    ]
    docs = _docs("executor.yaml")
    for role in (d for d in docs if d["kind"] == "Role"):
        assert role["rules"] == merge_rules(namespaced)
    cluster = [
        e
        for r in kubernetes
        if catalogue.verbs[r.verb].scope == "cluster"
        for e in catalogue.verbs[r.verb].rbac
    ]
    assert _rules(docs, "ClusterRole") == merge_rules(cluster)


def test_no_wildcards_and_no_secrets_anywhere() -> None:
    for name in ("executor.yaml", "investigator.yaml"):
        for rule in _rules(_docs(name), "Role") + _rules(_docs(name), "ClusterRole"):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "secrets" not in rule["resources"]


def test_investigator_is_read_only() -> None:
    docs = _docs("investigator.yaml")
    for rule in _rules(docs, "Role") + _rules(docs, "ClusterRole"):
        assert set(rule["verbs"]) <= READ_VERBS


def test_executor_cluster_role_only_touches_nodes_and_volumes() -> None:
    rules = _rules(_docs("executor.yaml"), "ClusterRole")
    assert {r for rule in rules for r in rule["resources"]} == {"nodes", "persistentvolumes"}
    assert {v for rule in rules for v in rule["verbs"]} == {"get", "patch"}


def test_narrower_policy_yields_narrower_roles() -> None:
    manifests = build_rbac(parse_policy(minimal_policy(), "scale-only"), extra_namespaces=["team-a"])
    roles = [d for d in manifests.executor if d["kind"] == "Role"]
    assert {r["metadata"]["namespace"] for r in roles} == {"shop", "team-a"}
    assert roles[0]["rules"] == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch", "update"]},
    ]
    assert not [d for d in manifests.executor if d["kind"] == "ClusterRole"]


def test_namespace_glob_without_concrete_namespaces_warns() -> None:
    manifests = build_rbac(parse_policy(minimal_policy(), "scale-only"))
    assert any("'team-*' cannot be expressed in RBAC" in w and "--namespace" in w for w in manifests.warnings)
    assert {d["metadata"]["namespace"] for d in manifests.executor if d["kind"] == "Role"} == {"shop"}


def test_denied_or_unlisted_extra_namespace_gets_no_role() -> None:
    data = minimal_policy()
    data["rules"][0]["namespaces"] = ["*"]
    manifests = build_rbac(parse_policy(data, "any"), extra_namespaces=["kube-system", "web"])
    assert any("'kube-system' is denied" in w for w in manifests.warnings)
    assert {d["metadata"]["namespace"] for d in manifests.executor if d["kind"] == "Role"} == {"web"}
