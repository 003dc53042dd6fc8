"""The live policy: an edit to AOI_POLICY_FILE holds at once; a broken edit keeps the last good one."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aoi.policies import LivePolicy, PolicyError, evaluate
from tests.policies.conftest import minimal_policy

REQUEST = {"verb": "scale", "target": "cart", "namespace": "shop", "params": {"replicas": 3}}


def _bump_mtime(path: Path) -> None:
    """Editors and ConfigMaps always change the modification time; make sure a fast test does too."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


def _rewrite(path: Path, data: dict[str, Any] | str) -> None:
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    _bump_mtime(path)


def test_an_edit_applies_to_the_next_decision_without_a_restart(
    write_policy: Callable[[dict[str, Any]], Path],
) -> None:
    path = write_policy(minimal_policy())
    live = LivePolicy(path)
    assert evaluate(live(), REQUEST).allowed
    first_digest = live.digest
    _rewrite(path, minimal_policy(denied_namespaces=["shop"]))
    decision = evaluate(live(), REQUEST)
    assert not decision.allowed and "shop" in decision.reason
    assert live.digest != first_digest and live.problem is None


def test_a_broken_edit_keeps_the_last_good_policy_and_says_why(
    write_policy: Callable[[dict[str, Any]], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_policy(minimal_policy(denied_namespaces=["shop"]))
    live = LivePolicy(path)
    digest = live.digest
    with caplog.at_level(logging.ERROR, logger="aoi.policies.live"):
        _rewrite(path, "rules: [this is: not: yaml")
        assert not evaluate(live(), REQUEST).allowed  # still the tightened policy, not "no policy"
        live()  # the same broken file is reported once, not on every decision
    assert live.digest == digest
    assert live.problem is not None and "not applied" in live.problem and "not valid YAML" in live.problem
    assert len([r for r in caplog.records if "not applied" in r.getMessage()]) == 1
    _rewrite(path, minimal_policy())  # fixed: the new policy holds and the problem clears
    assert evaluate(live(), REQUEST).allowed and live.problem is None


def test_a_removed_file_keeps_the_policy_in_force(write_policy: Callable[[dict[str, Any]], Path]) -> None:
    path = write_policy(minimal_policy(denied_namespaces=["shop"]))
    live = LivePolicy(path)
    path.unlink()
    assert not evaluate(live(), REQUEST).allowed
    assert live.problem is not None and "cannot read the file" in live.problem


def test_a_configmap_style_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    """Kubernetes updates a mounted ConfigMap by pointing a symlink at a new directory."""
    for name, data in (("v1", minimal_policy()), ("v2", minimal_policy(denied_namespaces=["shop"]))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "policy.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "data").symlink_to("v1")
    live = LivePolicy(tmp_path / "data" / "policy.yaml")
    assert evaluate(live(), REQUEST).allowed
    (tmp_path / "data.new").symlink_to("v2")
    os.replace(tmp_path / "data.new", tmp_path / "data")
    assert not evaluate(live(), REQUEST).allowed


def test_no_valid_policy_at_start_refuses_to_start(tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: 1\nrules: 3\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy\.yaml"):
        LivePolicy(broken)


def test_the_packaged_default_is_served_without_a_file() -> None:
    live = LivePolicy(None)
    assert live() is live()
    assert len(live.digest) == 12 and int(live.digest, 16) >= 0  # the packaged file's digest
