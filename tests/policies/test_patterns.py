"""Policy patterns are RE2: catastrophic shapes cost nothing, and what RE2 cannot run is refused at load."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aoi.policies import DEFAULT_POLICY_PATH, PolicyError, load_policy
from aoi.policies.patterns import check_pattern, fullmatch

# each takes Python's re longer than a test run (most, longer than the universe) on its input
CATASTROPHIC = [
    (r"(a+)+b", "a" * 253),
    (r"(\w+\s?)+$!", "word " * 50),
    (r"(a|aa)+b", "a" * 253),
    (r"(?:a?a)+b", "a" * 253),
    (r"[A-Za-z]+[A-Za-z0-9_]*(?:\.[A-Za-z]+[A-Za-z0-9_]*)*!", "a" + ".aaaa" * 50),
    (r"[a-z]*(?:,([a-z]*)?)*!", "a," * 126),
    (r"(?i)(?:a+A+)+b", "aA" * 126),
    (r".*.*.*.*.*x", "y" * 253),
]


@pytest.mark.parametrize(("pattern", "value"), CATASTROPHIC)
def test_patterns_that_backtrack_exponentially_in_python_match_in_linear_time(
    pattern: str, value: str
) -> None:
    started = time.perf_counter()
    assert not fullmatch(pattern, value + "#")  # no pattern accepts "#": every split is tried
    assert time.perf_counter() - started < 2.0  # microseconds in RE2; forever under Python's re


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(\w+)-\1", "invalid escape sequence"),  # backreference
        (r"(?=a)a", "invalid perl operator"),  # lookahead
        (r"a++", "bad repetition operator"),  # possessive
        (r"(?>a+)", "invalid perl operator"),  # atomic group
        (r"a{0,2000}", "invalid repetition size.*bound the length with max_length"),  # RE2 counts to 1000
    ],
)
def test_what_re2_cannot_run_is_refused_saying_so(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        check_pattern(pattern)
    assert "RE2" in str(caught.value)


def test_common_name_patterns_work_as_before() -> None:
    dns = r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}"
    assert fullmatch(dns, "api.example.com") and not fullmatch(dns, "api..example.com")
    ipv4 = r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    assert fullmatch(ipv4, "10.0.255.1") and not fullmatch(ipv4, "10.0.256.1")
    assert fullmatch(r"v[0-9]+(\.[0-9]+){0,2}", "v1.2.3") and not fullmatch(r"v[0-9]+", "v1.2")


def test_a_policy_pattern_re2_cannot_run_does_not_load_and_names_the_rule(tmp_path: Path) -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        "k8s_name: &k8s_name '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'", "k8s_name: &k8s_name '([a-z0-9]+)-\\1'"
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "is not an RE2 expression" in message and "params.container" in message


def test_control_and_separator_characters_never_reach_a_pattern_in_a_str_parameter() -> None:
    """RE2's \\S and [^\\s…] are wider than Python's: \\v, \\x1f or \\u2028 would pass them."""
    from aoi.policies.params import StrParam, check_value

    spec = StrParam(type="str", pattern=r"\S*")
    assert check_value(spec, "v1.2.3", "params.value") is None
    for sneaky in ("a\x0bb", "x\u2028--set-y", "a\x1fb", "a\x85b", "tab\there"):
        problem = check_value(spec, sneaky, "params.value")
        assert problem is not None and "control or line-separator" in problem


def test_text_that_is_not_valid_unicode_matches_nothing() -> None:
    assert not fullmatch(r".*", "lone \ud800 surrogate")


def test_control_characters_in_a_map_key_are_refused_too() -> None:
    from aoi.policies.params import MapParam, check_value

    spec = MapParam.model_validate(
        {"type": "map", "key_pattern": r"\S{1,63}", "values": {"type": "str", "pattern": r"[a-z]*"}}
    )
    assert check_value(spec, {"app": "web"}, "params.labels") is None
    problem = check_value(spec, {"app\u2028evil": "web"}, "params.labels")
    assert problem is not None and "control or line-separator" in problem
