"""Policy patterns that can backtrack exponentially are refused at load, with the way to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoi.policies import DEFAULT_POLICY_PATH, PolicyError, load_policy
from aoi.policies.regex_safety import backtracking_risk

EXPONENTIAL = [
    r"(a+)+b",  # the textbook case
    r"(\w+\s?)+$",  # words and optional spaces
    r"(.*a){12}",  # a greedy wildcard inside a counted repeat
    r"(a*b*)*c",
    r"(a|a)+b",  # alternatives that start alike
    r"(a|aa)+b",  # parsed as a(|a): the empty alternative is followed by another round's a
    r"^(([a-z])+.)+[A-Z]([a-z])+$",  # OWASP's ReDoS example
    r"(\d+)*$",
]

SAFE = [
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",  # a DNS label
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",  # a DNS subdomain
    r"[a-z]+(-[a-z]+)*",  # each round starts with a hyphen the inner repeat cannot eat
    r"v[0-9]+(\.[0-9]+){0,2}",
    r"(a+b)+",  # the inner repeat is closed by a character it cannot eat
    r"(a|ab)+c",
    r"(foo|bar)+",
    r"(a++)+b",  # possessive: never backtracks
    r"(?>a+)+b",  # atomic group: never backtracks
    r"\d+\d+x",  # polynomial, bounded by the 253-character cap
]


@pytest.mark.parametrize("pattern", EXPONENTIAL)
def test_patterns_with_exponential_backtracking_are_named(pattern: str) -> None:
    risk = backtracking_risk(pattern)
    assert risk is not None and "ReDoS" in risk and "possessive" in risk


@pytest.mark.parametrize("pattern", SAFE)
def test_common_safe_patterns_pass(pattern: str) -> None:
    assert backtracking_risk(pattern) is None


def test_a_policy_with_a_redos_pattern_does_not_load_and_says_which_and_how_to_fix(tmp_path: Path) -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        "k8s_name: &k8s_name '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'", "k8s_name: &k8s_name '([a-z0-9]+)+'"
    )
    assert "([a-z0-9]+)+" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "pattern '([a-z0-9]+)+'" in message and "exponential time" in message
    assert "params.container" in message  # the rule and the key that use it


def test_the_packaged_policy_and_catalogue_pass_the_check() -> None:
    assert load_policy(None).rules
