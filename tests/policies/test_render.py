"""render_command / render_action: the exact command, patch and script for every allowed verb."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoi.policies import Policy, RequestRefused, evaluate, render_action, render_command

HR, SN = "test-hotel-reservation", "test-social-network"

# One allowed request per verb of the default policy, with the command a human is shown.
EXAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "scale": (
        {"target": "user-service", "namespace": SN, "params": {"replicas": 2, "current_replicas": 0}},
        "kubectl -n test-social-network scale deployment/user-service --replicas=2",
    ),
    "rollout_restart": (
        {"target": "flagd", "namespace": "astronomy-shop"},
        "kubectl -n astronomy-shop rollout restart deployment/flagd",
    ),
    "rollout_undo": (
        {"target": "geo", "namespace": HR, "params": {"to_revision": 3}},
        "kubectl -n test-hotel-reservation rollout undo deployment/geo --to-revision=3",
    ),
    "patch_service_target_port": (
        {"target": "user-service", "namespace": SN, "params": {"target_port": 9090}},
        "kubectl -n test-social-network patch service user-service --type=json "
        """-p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":9090}]'""",
    ),
    "patch_service_selector": (
        {"target": "geo", "namespace": HR, "params": {"selector": {"io.kompose.service": "geo"}}},
        "kubectl -n test-hotel-reservation patch service geo --type=json "
        """-p '[{"op":"replace","path":"/spec/selector","value":{"io.kompose.service":"geo"}}]'""",
    ),
    "set_image": (
        {
            "target": "geo",
            "namespace": HR,
            "params": {"container": "hotel-reserv-geo", "image": "yinfangchen/geo:v1"},
        },
        "kubectl -n test-hotel-reservation set image deployment/geo hotel-reserv-geo=yinfangchen/geo:v1",
    ),
    "set_env": (
        {
            "target": "geo",
            "namespace": HR,
            "params": {"container": "geo", "name": "DB_URL", "value": "mongodb-geo:27017"},
        },
        "kubectl -n test-hotel-reservation patch deployment geo --type=strategic -p "
        """'{"spec":{"template":{"spec":{"containers":[{"name":"geo","env":[{"name":"DB_URL","value":"mongodb-geo:27017"}]}]}}}}'""",
    ),
    "set_resources": (
        {"target": "geo", "namespace": HR, "params": {"container": "geo", "limits": {"memory": "1Gi"}}},
        "kubectl -n test-hotel-reservation patch deployment geo --type=strategic -p "
        """'{"spec":{"template":{"spec":{"containers":[{"name":"geo","resources":{"limits":{"memory":"1Gi"}}}]}}}}'""",
    ),
    "patch_probe": (
        {
            "target": "geo",
            "namespace": HR,
            "params": {"container": "geo", "probe": "liveness", "http_path": "/healthz"},
        },
        "kubectl -n test-hotel-reservation patch deployment geo --type=strategic -p "
        """'{"spec":{"template":{"spec":{"containers":[{"name":"geo","livenessProbe":{"httpGet":{"path":"/healthz"}}}]}}}}'""",
    ),
    "patch_node_selector": (
        {"target": "user-service", "namespace": SN, "params": {"node_selector": {}}},
        "kubectl -n test-social-network patch deployment user-service --type=json "
        """-p '[{"op":"add","path":"/spec/template/spec/nodeSelector","value":{}}]'""",
    ),
    "patch_configmap": (
        {"target": "flagd-config", "namespace": "astronomy-shop", "params": {"data": {"mode": "it's on"}}},
        "kubectl -n astronomy-shop patch configmap flagd-config --type=merge "
        """-p '{"data":{"mode":"it'"'"'s on"}}'""",
    ),
    "delete_pod": (
        {"target": "geo-7d9f-abcde", "namespace": HR},
        "kubectl -n test-hotel-reservation delete pod geo-7d9f-abcde",
    ),
    "uncordon": ({"target": "node-2", "namespace": None}, "kubectl uncordon node-2"),
    "release_pv_claim": (
        {"target": "geo-pv", "namespace": None, "params": {"claim_namespace": "test-hotel-reservation"}},
        """kubectl patch pv geo-pv --type=merge -p '{"spec":{"claimRef":null}}'""",
    ),
    "mongo_grant_roles": (
        {
            "target": "mongodb-geo-5f9c",
            "namespace": HR,
            "params": {"database": "geo-db", "user": "admin", "roles": ["readWrite"]},
        },
        "kubectl -n test-hotel-reservation exec mongodb-geo-5f9c -- sh -c "
        """'mongo admin -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" """
        """--authenticationDatabase admin --quiet --eval "$1"' mongo-repair """
        """'db.getSiblingDB("geo-db").grantRolesToUser("admin", ["readWrite"])'""",
    ),
    "mongo_create_user": (
        {
            "target": "mongodb-rate-1",
            "namespace": HR,
            "params": {
                "database": "rate-db",
                "user": "admin",
                "roles": ["readWrite"],
                "password_env": "MONGO_PASS",
            },
        },
        "kubectl -n test-hotel-reservation exec mongodb-rate-1 -- sh -c "
        """'mongo admin -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" """
        """--authenticationDatabase admin --quiet --eval "$1" || mongo admin --quiet --eval "$1"' """
        """mongo-repair 'db.getSiblingDB("rate-db").createUser({user: "admin", """
        """pwd: process.env["MONGO_PASS"], roles: ["readWrite"]})'""",
    ),
    "delete_chaos": (
        {"target": "pod-kill-1", "namespace": SN, "params": {"kind": "PodChaos"}},
        "kubectl -n test-social-network delete PodChaos pod-kill-1",
    ),
    "ecs_set_desired_count": (
        {"target": "web", "namespace": "prod-main", "params": {"desired_count": 3, "current_count": 0}},
        "aws ecs update-service --cluster prod-main --service web --desired-count 3",
    ),
    "ecs_force_new_deployment": (
        {"target": "web", "namespace": "prod-main"},
        "aws ecs update-service --cluster prod-main --service web --force-new-deployment",
    ),
    "ec2_reboot": (
        {"target": "i-0123456789abcdef0", "namespace": "us-east-1"},
        "aws ec2 reboot-instances --region us-east-1 --instance-ids i-0123456789abcdef0",
    ),
}


def test_every_allowed_verb_has_a_rendering_example(policy: Policy) -> None:
    assert set(EXAMPLES) == set(policy.verbs)


@pytest.mark.parametrize("verb", sorted(EXAMPLES))
def test_command_is_the_exact_equivalent(policy: Policy, verb: str) -> None:
    request, expected = EXAMPLES[verb]
    assert render_command(policy, {"verb": verb, **request}) == expected


def test_patch_in_command_is_the_patch_the_executor_sends(policy: Policy) -> None:
    request, _ = EXAMPLES["set_resources"]
    action = render_action(policy, {"verb": "set_resources", **request})
    assert action.operation == "patch" and action.patch is not None
    assert (action.patch.kind, action.patch.namespace, action.patch.name) == ("Deployment", HR, "geo")
    assert action.patch.patch_type == "strategic"
    assert json.loads(shlex.split(action.command)[-1]) == action.patch.body
    container = action.patch.body["spec"]["template"]["spec"]["containers"][0]
    assert "requests" not in container["resources"]  # absent optional parameters are dropped


def test_default_parameter_is_filled_and_shown(policy: Policy) -> None:
    request, _ = EXAMPLES["patch_service_target_port"]
    assert render_action(policy, {"verb": "patch_service_target_port", **request}).params["port_index"] == 0


def test_exec_verbs_run_the_script_through_the_pods_shell_without_credentials(policy: Policy) -> None:
    request, _ = EXAMPLES["mongo_grant_roles"]
    action = render_action(policy, {"verb": "mongo_grant_roles", **request})
    assert action.operation == "exec_db"
    assert action.db_script == 'db.getSiblingDB("geo-db").grantRolesToUser("admin", ["readWrite"])'
    argv = shlex.split(action.script or "")
    assert argv[:2] == ["sh", "-c"] and argv[-1] == action.db_script  # the script is the shell's $1
    assert '-p "$MONGO_INITDB_ROOT_PASSWORD"' in argv[2]  # the pod's shell supplies the password
    words = shlex.split(action.command)
    assert words[:6] == ["kubectl", "-n", HR, "exec", "mongodb-geo-5f9c", "--"]
    assert words[6:] == argv  # what is approved is what the executor runs


@given(
    database=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    user=st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
    password_env=st.from_regex(r"[A-Z_][A-Z0-9_]{0,63}", fullmatch=True),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_exec_parameters_reach_the_pod_only_as_the_scripts_argument(
    policy: Policy, database: str, user: str, password_env: str
) -> None:
    params = {"database": database, "user": user, "roles": ["readWrite"], "password_env": password_env}
    request = {"verb": "mongo_create_user", "target": "mongodb-geo-1", "namespace": HR, "params": params}
    action = render_action(policy, request)
    argv = shlex.split(action.script or "")
    fixed, _ = EXAMPLES["mongo_create_user"]
    reference = shlex.split(render_action(policy, {"verb": "mongo_create_user", **fixed}).script or "")
    assert argv[:4] == reference[:4]  # the shell program is the same whatever the parameters
    assert argv[4] == action.db_script
    assert json.dumps(database) in argv[4] and json.dumps(password_env) in argv[4]


def test_exec_must_pass_the_script_and_only_known_fields(policy: Policy) -> None:
    from aoi.policies.errors import PolicyError
    from aoi.policies.schema import parse_policy

    data = policy.model_dump(exclude_none=True)
    rule = next(r for r in data["rules"] if r["verb"] == "mongo_grant_roles")
    rule["exec"] = "sh -c 'mongo --eval \"$1\"' repair {password}"
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "edited.yaml")
    assert "{password} is not a parameter" in str(info.value)
    assert "must hand the database script to the shell as {script}" in str(info.value)
    scale = next(r for r in data["rules"] if r["verb"] == "scale")
    scale["exec"] = "sh -c true {script}"
    with pytest.raises(PolicyError, match="exec: only for exec verbs"):
        parse_policy(data, "edited.yaml")


def test_cluster_scoped_action_has_no_namespace(policy: Policy) -> None:
    action = render_action(policy, {"verb": "uncordon", "target": "node-2", "namespace": "ignored"})
    assert action.namespace is None and action.operation == "uncordon"


def test_refused_request_cannot_be_rendered(policy: Policy) -> None:
    with pytest.raises(RequestRefused, match="protected"):
        render_command(policy, {"verb": "delete_pod", "target": "coredns-1", "namespace": "kube-system"})


@given(
    key=st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True),
    value=st.text(
        alphabet=st.characters(blacklist_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"), max_size=200
    ),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_free_text_is_one_quoted_shell_word(policy: Policy, key: str, value: str) -> None:
    request = {
        "verb": "patch_configmap",
        "target": "flagd-config",
        "namespace": "astronomy-shop",
        "params": {"data": {key: value}},
    }
    assert evaluate(policy, request).allowed
    words = shlex.split(render_command(policy, request))
    assert words[:-1] == [
        "kubectl",
        "-n",
        "astronomy-shop",
        "patch",
        "configmap",
        "flagd-config",
        "--type=merge",
        "-p",
    ]
    assert json.loads(words[-1]) == {"data": {key: value}}
