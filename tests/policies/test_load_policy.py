"""Loading policy files: the default is complete, and every kind of mistake names the file and key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aoi.policies import Policy, PolicyError, load_catalogue, load_policy
from tests.policies.conftest import minimal_policy

DEFAULT_TEXT = (Path(__file__).parents[2] / "aoi" / "policies" / "default.yaml").read_text(encoding="utf-8")
REQUIRED_VERBS = {
    "scale",
    "rollout_restart",
    "rollout_undo",
    "patch_service_target_port",
    "patch_service_selector",
    "set_image",
    "delete_pod",
    "uncordon",
    "set_env",
    "set_resources",
    "patch_configmap",
    "patch_probe",
    "mongo_grant_roles",
    "mongo_create_user",
    "delete_chaos",
    "ecs_set_desired_count",
    "ecs_force_new_deployment",
    "ec2_reboot",
}


def test_default_policy_allows_every_required_verb(policy: Policy) -> None:
    assert set(policy.verbs) >= REQUIRED_VERBS
    assert set(policy.verbs) <= set(load_catalogue().verbs)


def test_default_policy_high_risk_rules_need_two_approvers(policy: Policy) -> None:
    high = [rule for rule in policy.rules if rule.risk == "high"]
    assert {rule.verb for rule in high} >= {"set_image", "ec2_reboot"}
    assert all(rule.approvals_required >= 2 for rule in high)


def test_default_policy_never_allows_kube_system(policy: Policy) -> None:
    assert {"kube-system", "kube-public", "kube-node-lease"} <= set(policy.protected_namespaces)


def _error_for(write_policy: Callable[[dict[str, Any]], Path], data: dict[str, Any]) -> str:
    path = write_policy(data)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message
    return message


def _with_rule(**changes: Any) -> dict[str, Any]:
    data = minimal_policy()
    data["rules"][0].update(changes)
    return data


def test_minimal_policy_loads(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    path = write_policy(minimal_policy())
    assert load_policy(path).source == str(path)


def test_bad_bound_type_names_rule_and_key(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    data = minimal_policy()
    data["rules"][0]["params"]["replicas"]["max"] = "lots"
    message = _error_for(write_policy, data)
    assert "rules[0](id=scale).params.replicas.int.max" in message
    assert "'lots'" in message


def test_min_above_max_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    data = minimal_policy()
    data["rules"][0]["params"]["replicas"]["min"] = 11
    assert "min must be <= max (got 11 > 10)" in _error_for(write_policy, data)


def test_unknown_verb_lists_known_verbs(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    message = _error_for(write_policy, _with_rule(verb="drop_database"))
    assert "'drop_database' is not a verb AOI's executor implements" in message
    assert "rollout_restart" in message


def test_unknown_top_level_key_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    data = minimal_policy(allow_everything=True)
    assert "allow_everything: Extra inputs are not permitted" in _error_for(write_policy, data)


def test_string_param_without_pattern_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    data = _with_rule(verb="set_image", params={"container": {"type": "str", "pattern": "[a-z]+"}})
    data["rules"][0]["params"]["image"] = {"type": "str"}
    data["rules"][0]["command"] = "kubectl set image deployment/{target} {container}={image}"
    assert "needs a `pattern` or `choices`" in _error_for(write_policy, data)


def test_high_risk_with_one_approval_breaks_two_person_rule(
    write_policy: Callable[[dict[str, Any]], Path],
) -> None:
    message = _error_for(write_policy, _with_rule(risk="high", approvals_required=1))
    assert "rules[0](id=scale).approvals_required" in message
    assert "two-person rule" in message


def test_missing_required_param_spec_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    data = minimal_policy()
    del data["rules"][0]["params"]["replicas"]
    assert "needs a spec for its required parameter 'replicas'" in _error_for(write_policy, data)


def test_unknown_approver_set_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    assert "'nobody' is not a set under `approvers:`" in _error_for(
        write_policy, _with_rule(approvers=["nobody"])
    )


def test_bad_slack_user_id_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    data = minimal_policy(approvers={"sre": {"users": ["alice"]}})
    assert "'alice' is not a Slack user id" in _error_for(write_policy, data)


def test_command_with_unknown_field_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    message = _error_for(write_policy, _with_rule(command="kubectl scale {target} --replicas={count}"))
    assert "{count} is not a parameter of this rule" in message


def test_command_with_attribute_access_is_refused(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    message = _error_for(
        write_policy, _with_rule(command="kubectl scale {target.__class__} --replicas={replicas}")
    )
    assert "must be a plain parameter name" in message


def test_optional_param_outside_optional_segment_is_refused(
    write_policy: Callable[[dict[str, Any]], Path],
) -> None:
    data = _with_rule(
        verb="rollout_undo",
        params={"to_revision": {"type": "int", "min": 1, "max": 9}},
        command="kubectl rollout undo deployment/{target} --to-revision={to_revision}",
    )
    assert "must sit inside a [ ] segment" in _error_for(write_policy, data)


def test_script_fields_must_be_js_quoted(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    policy = load_policy(None)
    rule = copy.deepcopy(next(r for r in policy.model_dump()["rules"] if r["verb"] == "mongo_grant_roles"))
    rule["script"] = "db.grantRolesToUser({user}, {roles:js})"
    data = minimal_policy(rules=[_strip_none(rule)])
    assert "must be written {user:js}" in _error_for(write_policy, data)


def test_cluster_scoped_verb_with_namespaces_is_refused(
    write_policy: Callable[[dict[str, Any]], Path],
) -> None:
    data = _with_rule(verb="uncordon", params={}, command="kubectl uncordon {target}")
    assert "leave it empty" in _error_for(write_policy, data)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path / "absent.yaml")


def test_invalid_yaml_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML") as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_a_key_given_twice_is_refused_not_silently_the_last(tmp_path: Path) -> None:
    """YAML keeps the last of two keys: a second ``users: []`` once emptied an approver set."""
    path = tmp_path / "twice.yaml"
    text = DEFAULT_TEXT.replace(
        "    users: [U0AOISRE01, U0AOISRE02]\n", "    users: [U0AOISRE01, U0AOISRE02]\n    users: []\n"
    )
    assert text != DEFAULT_TEXT
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match="duplicate key 'users'"):
        load_policy(path)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (  # a 14 KB alias bomb: 9 to the 9th values once walked for minutes
            "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
            "expands to more than 100,000 values",
        ),
        ("version: 1\nx: &x [*x]\n", "expands to more than 100,000 values"),  # an alias inside itself
        ("version: 1\nx: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ],
    ids=["alias-bomb", "self-alias", "deep-nesting"],
)
def test_hostile_yaml_is_a_policy_error_not_a_hang_or_a_traceback(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip_none(item) for item in value]
    return value
