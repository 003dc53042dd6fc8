"""The policy file as it is *now*: edits apply without restarting the bot and its workers.

Why: the policy is the safety boundary. An admin who revokes an approver, protects a namespace or
raises a rule to two approvers during an incident must not also have to restart every process (and
remember the workers) before the change holds; until this module, each process kept the policy it
started with.

Two ways an edit is seen, so that every process follows every valid version of the file:
- on each call, one ``stat``: a changed modification/change time, size or inode (a Kubernetes
  ConfigMap update swaps a symlink, which changes the inode) means the file is read again at once;
- a background thread reads the file every ``poll_s`` seconds whatever its ``stat`` says, so a process
  with no traffic still moves on to each valid version (otherwise an idle worker could sit on an old
  policy through a revocation and a later typo), and an edit that kept size and timestamps (coarse
  file-system clocks, tools that preserve mtimes) is still found.
The file's *content* decides: its SHA-256 is compared with the last text tried, so a ``touch`` or a
save of the same text changes nothing and logs nothing.

A bad edit (a typo, a half-written file, the file removed) does not take effect: the last policy that
loaded stays in force, the problem is logged once and kept in ``problem`` for status pages — the way
Prometheus and Alertmanager treat a failed reload. An unreadable file is tried again at the next poll
(a transient EMFILE must not pin the old policy). The first load is not forgiving: a process with no
valid policy at all refuses to start (``PolicyError``).

Not seen: a file mounted with Kubernetes ``subPath`` or a single-file Docker bind mount never changes
inside the container; mount the ConfigMap's directory instead.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from pathlib import Path

from aoi.policies.errors import PolicyError
from aoi.policies.schema import (
    DEFAULT_POLICY_PATH,
    Policy,
    load_policy_digested,
    parse_policy_bytes,
    policy_digest,
)

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int, int] | None
DEFAULT_POLL_S = 2.0


def _stamp(path: Path) -> _Stamp:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)


class LivePolicy:
    """Call it for the policy in force; ``path`` None is the packaged default, which never changes.

    ``poll_s`` None turns the background reader off (one-shot commands, tests of the ``stat`` path).
    """

    def __init__(self, path: str | Path | None, *, poll_s: float | None = DEFAULT_POLL_S) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        file = self.path or DEFAULT_POLICY_PATH
        self._stamp = _stamp(file)
        self._policy, self.digest = load_policy_digested(file)  # none valid at the start: refuse
        self._tried = self.digest  # the content last parsed, good or bad
        self.problem: str | None = None
        self._stop = threading.Event()
        if self.path is not None and poll_s is not None:
            _start_poller(self, poll_s)

    def __call__(self) -> Policy:
        if self.path is None:
            return self._policy
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:  # another thread may have looked meanwhile
                    self._refresh(stamp)
        return self._policy

    def refresh(self) -> None:
        """Read the file now, whatever its ``stat`` says (the poller calls this)."""
        if self.path is not None:
            with self._lock:
                self._refresh(_stamp(self.path))

    def close(self) -> None:
        """Stop the background reader (the policy keeps answering from the last version)."""
        self._stop.set()

    def _refresh(self, stamp: _Stamp) -> None:
        """Under the lock: load the file if its content is new. ``_stamp`` is set last, so a caller
        that sees the new stamp also sees the policy it belongs to."""
        assert self.path is not None
        try:
            raw = self.path.read_bytes()
        except OSError as exc:  # not recorded as tried: the next call or poll reads it again
            reason = exc.strerror or str(exc)
            self._report(f"cannot read the file: {reason}", missing=isinstance(exc, FileNotFoundError))
            return
        digest = policy_digest(raw)
        if digest != self._tried:
            self._tried = digest
            try:
                policy = parse_policy_bytes(raw, self.path)
            except PolicyError as error:
                self._report(str(error), missing=False)
            except Exception as error:  # a loader bug must not turn every decision into a crash
                log.exception("loading policy %s failed", self.path)
                self._report(f"{type(error).__name__}: {error}", missing=False)
            else:
                changed = digest != self.digest
                self._policy, self.digest = policy, digest
                if changed:
                    log.warning(
                        "policy %s reloaded (digest %s, %d rules)", self.path, digest, len(policy.rules)
                    )
        if digest == self.digest and self.problem is not None:
            log.warning("policy %s is readable and valid again (digest %s)", self.path, digest)
            self.problem = None
        self._stamp = stamp

    def _report(self, reason: str, *, missing: bool) -> None:
        problem = f"the edit to {self.path} was not applied; still enforcing {self.digest}: {reason}"
        if problem != self.problem:  # once per distinct problem, not once per decision
            # a file briefly missing is an editor's rename-and-write; it is an error if it stays
            log.log(logging.WARNING if missing else logging.ERROR, "%s", problem)
        self.problem = problem


def _start_poller(policy: LivePolicy, poll_s: float) -> None:
    """A daemon thread that refreshes ``policy`` every ``poll_s`` seconds until it is closed or
    garbage-collected (it holds only a weak reference)."""
    ref = weakref.ref(policy)
    stop = policy._stop

    def poll() -> None:
        while not stop.wait(poll_s):
            live = ref()
            if live is None:
                return
            try:
                live.refresh()
            except Exception:  # the poller must never die: the per-call check still works
                log.exception("policy poll failed")
            del live

    threading.Thread(target=poll, name="aoi-policy-poll", daemon=True).start()
