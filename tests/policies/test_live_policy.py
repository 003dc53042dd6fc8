"""The live policy: an edit to AOI_POLICY_FILE holds at once; a broken edit keeps the last good one."""

from __future__ import annotations

import logging
import os
import threading
import time
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
    live = LivePolicy(path, poll_s=None)
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
    live = LivePolicy(path, poll_s=None)
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
    live = LivePolicy(path, poll_s=None)
    path.unlink()
    assert not evaluate(live(), REQUEST).allowed
    assert live.problem is not None and "cannot read the file" in live.problem


def test_a_configmap_style_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    """Kubernetes updates a mounted ConfigMap by pointing a symlink at a new directory."""
    for name, data in (("v1", minimal_policy()), ("v2", minimal_policy(denied_namespaces=["shop"]))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "policy.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "data").symlink_to("v1")
    live = LivePolicy(tmp_path / "data" / "policy.yaml", poll_s=None)
    assert evaluate(live(), REQUEST).allowed
    (tmp_path / "data.new").symlink_to("v2")
    os.replace(tmp_path / "data.new", tmp_path / "data")
    assert not evaluate(live(), REQUEST).allowed


def test_no_valid_policy_at_start_refuses_to_start(tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: 1\nrules: 3\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy\.yaml"):
        LivePolicy(broken, poll_s=None)


def test_the_packaged_default_is_served_without_a_file() -> None:
    live = LivePolicy(None)
    assert live() is live()
    assert len(live.digest) == 12 and int(live.digest, 16) >= 0  # the packaged file's digest


def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_idle_process_follows_each_valid_version_so_a_later_typo_cannot_pin_an_old_one(
    write_policy: Callable[[dict[str, Any]], Path],
) -> None:
    """No decision is made while V2 (a revocation) is on disk; V3 is a typo. The background reader
    has moved the process to V2, which is what stays in force — not V1."""
    path = write_policy(minimal_policy())
    live = LivePolicy(path, poll_s=0.05)
    try:
        first = live.digest
        _rewrite(path, minimal_policy(denied_namespaces=["shop"]))
        _eventually(lambda: live.digest != first)  # without a single call
        _rewrite(path, "rules: [broken")
        assert not evaluate(live(), REQUEST).allowed
        assert live.problem is not None
    finally:
        live.close()


def test_an_edit_that_keeps_size_and_modification_time_is_still_found(
    write_policy: Callable[[dict[str, Any]], Path],
) -> None:
    """Coarse file-system clocks and mtime-preserving tools: the periodic read compares content."""
    path = write_policy(minimal_policy(denied_namespaces=["shop"]))
    live = LivePolicy(path, poll_s=0.05)
    try:
        before = path.stat()
        text = path.read_text(encoding="utf-8")
        assert "denied_namespaces:\n- shop\n" in text
        path.write_text(
            text.replace("denied_namespaces:\n- shop\n", "denied_namespaces:\n- shoq\n"), encoding="utf-8"
        )
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = path.stat()
        assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
            before.st_size,
            before.st_mtime_ns,
            before.st_ino,
        )
        _eventually(lambda: evaluate(live(), REQUEST).allowed)
    finally:
        live.close()


def test_a_click_during_a_reload_waits_for_the_new_policy_instead_of_getting_the_old_one(
    write_policy: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import aoi.policies.live as live_module

    path = write_policy(minimal_policy())
    live = LivePolicy(path, poll_s=None)
    parsing = threading.Event()
    real_parse = live_module.parse_policy_bytes

    def slow_parse(raw: bytes, file: Path) -> Any:
        parsing.set()
        time.sleep(0.3)
        return real_parse(raw, file)

    monkeypatch.setattr(live_module, "parse_policy_bytes", slow_parse)
    _rewrite(path, minimal_policy(denied_namespaces=["shop"]))
    first = threading.Thread(target=live)
    first.start()
    assert parsing.wait(5)
    assert not evaluate(live(), REQUEST).allowed  # the second caller saw the edit too
    first.join()


def test_a_failed_read_is_tried_again_rather_than_pinning_the_old_policy(
    write_policy: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_policy(minimal_policy())
    live = LivePolicy(path, poll_s=None)
    real_read = Path.read_bytes
    failures = iter([OSError(24, "Too many open files")])

    def flaky_read(self: Path) -> bytes:
        failure = next(failures, None)
        if failure is not None and self == path:
            raise failure
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", flaky_read)
    _rewrite(path, minimal_policy(denied_namespaces=["shop"]))
    assert evaluate(live(), REQUEST).allowed  # the read failed: the old policy answers...
    assert live.problem is not None and "Too many open files" in live.problem
    assert not evaluate(live(), REQUEST).allowed  # ...and the next decision reads the file again
    assert live.problem is None


def test_touching_the_file_or_saving_the_same_text_logs_nothing(
    write_policy: Callable[[dict[str, Any]], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_policy(minimal_policy())
    live = LivePolicy(path, poll_s=None)
    digest = live.digest
    with caplog.at_level(logging.INFO, logger="aoi.policies.live"):
        _bump_mtime(path)
        live()
        _rewrite(path, path.read_text(encoding="utf-8"))
        live()
    assert live.digest == digest and caplog.records == []
