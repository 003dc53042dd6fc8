"""The policy file as it is *now*: edits apply without restarting the bot and its workers.

Why: the policy is the safety boundary. An admin who revokes an approver, protects a namespace or
raises a rule to two approvers during an incident must not also have to restart every process (and
remember the workers) before the change holds; until this module, each process kept the policy it
started with. ``LivePolicy()`` checks the file's identity (modification time, size, inode — a
Kubernetes ConfigMap update swaps a symlink, which changes the inode) on every call, which costs one
``stat``, and re-reads it when that changed.

A bad edit (a typo, a half-written file, the file removed) does not take effect: the last policy
that loaded stays in force, the error is logged once per version of the file and kept in
``problem`` for status pages — the way Prometheus and Alertmanager treat a failed reload. The first
load is not forgiving: a process with no valid policy at all refuses to start (``PolicyError``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from aoi.policies.errors import PolicyError
from aoi.policies.schema import Policy, load_policy_digested

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


class LivePolicy:
    """Call it for the policy in force; ``path`` None is the packaged default, which never changes."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._stamp = _stamp(self.path) if self.path is not None else None
        # no valid policy at the start: refuse to start
        self._policy, self.digest = load_policy_digested(self.path)
        self.problem: str | None = None

    def __call__(self) -> Policy:
        if self.path is None:
            return self._policy
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return self._policy
        with self._lock:
            if stamp != self._stamp:  # another thread may have reloaded it meanwhile
                self._reload(stamp)
            return self._policy

    def _reload(self, stamp: _Stamp) -> None:
        assert self.path is not None
        self._stamp = stamp  # tried once per version of the file, whatever the outcome
        try:
            policy, digest = load_policy_digested(self.path)
        except PolicyError as error:
            self.problem = f"the edit to {self.path} was not applied; still enforcing {self.digest}: {error}"
            log.error("%s", self.problem)
            return
        self._policy, self.digest = policy, digest
        self.problem = None
        log.warning("policy %s reloaded (digest %s, %d rules)", self.path, self.digest, len(policy.rules))
