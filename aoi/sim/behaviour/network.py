"""Service discovery and reachability, derived from Services, Endpoints and the processes behind them.

A caller resolves a dependency's address from the configuration its process loaded (env var or
ConfigMap file, as the real app does), then DNS → Service → port → ready endpoints → a process
listening on the endpoint's port. Each link can break independently and produces the error a real
client would see: ``dns`` (no such host), ``timeout`` (no such Service port, packet loss), ``refused``
(no ready endpoints, or nothing listening on targetPort).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

from aoi.sim.apps import AppSpec, ServiceSpec
from aoi.sim.world import ContainerRun, Snapshot, State


@dataclass(frozen=True)
class Address:
    host: str
    port: int


@dataclass
class Reach:
    """What connecting to ``address`` yields: ``ok`` is the fraction of attempts that reach a process."""

    address: Address
    ok: float
    error: str | None
    service: str | None = None
    ip: str = ""
    target_port: int | None = None
    delay_ms: float = 0.0
    backends: list[tuple[str, ContainerRun]] = field(default_factory=list)


def parse_address(text: str, default_port: int | None = None) -> Address | None:
    """``host:port``, ``http://host:port/...`` or ``host`` (with ``default_port``)."""
    text = text.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, ""
    if not port:
        return Address(host, default_port) if host and default_port else None
    try:
        return Address(host, int(port))
    except ValueError:
        return None


def _config_value(snapshot: Snapshot, ref: str, key: str) -> object:
    doc = snapshot.files.get(ref)
    data = _parse_json(doc) if doc is not None else None
    return data.get(key) if isinstance(data, dict) else None


@functools.lru_cache(maxsize=256)
def _parse_json(doc: str) -> object:
    """Parsed config documents, memoised (callers must not mutate the result)."""
    try:
        return json.loads(doc)
    except json.JSONDecodeError:
        return None


def dependency_address(
    app: AppSpec, program: ServiceSpec, dep: str, snapshot: Snapshot, overrides: dict[str, str]
) -> Address | None:
    """Where ``program`` (running with ``snapshot``) thinks ``dep`` lives; None if unconfigured."""
    if dep in overrides:
        return parse_address(overrides[dep])
    dep_spec = app.service(dep)
    source = program.deps.get(dep)
    if source is not None and source.env is not None:
        raw = snapshot.env.get(source.env)
        if raw is None:
            return None
        port = None
        if source.port_env:
            try:
                port = int(snapshot.env.get(source.port_env, ""))
            except ValueError:
                return None
        return parse_address(raw, port or dep_spec.port)
    if source is not None and source.config is not None:
        ref, _, key = source.config.partition("#")
        value = _config_value(snapshot, ref, key)
    elif program.deps_from:
        value = _config_value(snapshot, program.deps_from, dep)
    else:
        return Address(dep, dep_spec.port or 0)
    if isinstance(value, dict) and "addr" in value:
        try:
            return Address(str(value["addr"]), int(value.get("port", dep_spec.port or 0)))
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        return parse_address(value, dep_spec.port)
    return None


def _service_name(host: str, namespace: str) -> tuple[str, str] | None:
    parts = host.split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[1], parts[0]
    return None


def reach(state: State, namespace: str, address: Address) -> Reach:
    """Follow DNS → Service → Endpoints → listening process for a connection to ``address``."""
    target = _service_name(address.host, namespace)
    svc = state.store.get("Service", target[0], target[1]) if target else None
    if svc is None or target is None:
        return Reach(address, 0.0, "dns")
    name = target[1]
    ip = svc["spec"].get("clusterIP", "")
    port_entry = next((p for p in svc["spec"].get("ports", []) if p.get("port") == address.port), None)
    if port_entry is None:
        return Reach(address, 0.0, "timeout", service=name, ip=ip)
    eps = state.store.get("Endpoints", target[0], name)
    backends: list[tuple[str, ContainerRun]] = []
    listening, total, delay, loss = 0, 0, 0.0, 0.0
    target_port: int | None = None
    for subset in (eps or {}).get("subsets", []) or []:
        ports = [p for p in subset.get("ports", []) if p.get("name") == port_entry.get("name")]
        if not ports:
            continue
        target_port = ports[0]["port"]
        for addr in subset.get("addresses", []) or []:
            total += 1
            ref = addr.get("targetRef", {})
            run = state.pods.get(ref.get("uid", ""))
            if run is None:
                continue
            process = next(
                (c for c in run.containers.values() if c.state == "running" and c.listen_port == target_port),
                None,
            )
            if process is None:
                continue
            listening += 1
            backends.append((ref.get("name", ""), process))
            delay += run.net_delay_ms
            loss += run.net_loss
    if total == 0:
        return Reach(address, 0.0, "refused", service=name, ip=ip, target_port=target_port)
    if listening == 0:
        return Reach(address, 0.0, "refused", service=name, ip=ip, target_port=target_port)
    mean_loss = loss / listening
    ok = (listening / total) * (1.0 - mean_loss)
    error = None if ok >= 1.0 else ("refused" if listening < total else "timeout")
    return Reach(
        address,
        ok,
        error,
        service=name,
        ip=ip,
        target_port=target_port,
        delay_ms=delay / listening,
        backends=backends,
    )
