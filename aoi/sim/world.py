"""The simulated world behind the API objects: container processes, pod sandboxes and databases.

Why separate from the object store: in a real cluster the API objects are a *report* of this world
(kubelet writes pod status from what containers do; MongoDB keeps its users on its volume). Faults and
fixes change either; telemetry and object status are always derived from both. Nothing here is
observable directly — only through rendered objects, logs, metrics, traces and ``exec_db``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aoi.sim.apps import AppSpec
from aoi.sim.kube.store import ObjectStore

BACKOFF_CAP_S = 300.0


@dataclass
class Snapshot:
    """Configuration a process loaded when it started: resolved env vars and mounted files."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


@dataclass
class ContainerRun:
    """One container of a pod. ``state``: ``running`` | ``crashloop`` | ``waiting``."""

    name: str
    image: str
    state: str
    reason: str = ""
    message: str = ""
    started_at: float = 0.0
    restarts: int = 0
    crash_origin: float | None = None
    run_s: float = 2.0
    exit_code: int = 0
    term_reason: str = ""
    last_term: tuple[float, float, int, str] | None = None
    ready: bool = False
    persona: str | None = None
    listen_port: int | None = None
    snapshot: Snapshot = field(default_factory=Snapshot)
    fatal: list[str] = field(default_factory=list)
    last_fatal: list[str] = field(default_factory=list)
    probe_events: list[tuple[str, str]] = field(default_factory=list)

    def restart_count(self, now: float) -> int:
        if self.state != "crashloop" or self.crash_origin is None:
            return self.restarts
        return self.restarts + crash_cycles(self.crash_origin, self.run_s, now)[0]


def crash_cycles(origin: float, run_s: float, now: float) -> tuple[int, float, float]:
    """For a crash-looping container first started at ``origin``, each attempt living ``run_s``:
    (restarts so far, start of the latest attempt, end of it) at ``now`` with kubelet's back-off
    (10 s doubling, capped at 5 minutes)."""
    t, n = origin, 0
    while True:
        end = t + run_s
        nxt = end + min(10.0 * 2**n, BACKOFF_CAP_S)
        if now < nxt:
            return n, t, end
        t, n = nxt, n + 1


@dataclass
class PodRun:
    """A scheduled pod's sandbox: IP, node and its containers; network impairment lives here too."""

    uid: str
    node: str
    ip: str
    created_at: float
    containers: dict[str, ContainerRun] = field(default_factory=dict)
    net_loss: float = 0.0
    net_delay_ms: float = 0.0
    sandbox_failing: bool = False
    start_after: float = 0.0


@dataclass
class MongoUser:
    password: str
    roles: list[tuple[str, str]]


@dataclass
class MongoData:
    """What a MongoDB keeps on its volume: its users (database name → collections are implicit)."""

    users: dict[str, MongoUser] = field(default_factory=dict)


@dataclass
class State:
    """Everything a reconcile pass, a behaviour evaluation or a telemetry renderer may read."""

    store: ObjectStore
    apps: dict[str, AppSpec]
    seed: int
    now: float
    pods: dict[str, PodRun] = field(default_factory=dict)
    mongo: dict[tuple[str, str], MongoData] = field(default_factory=dict)
    cert_expiry: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def app_of(self, namespace: str) -> AppSpec | None:
        return self.apps.get(namespace)
