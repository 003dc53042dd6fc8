"""The fault catalogue (``catalogue.yaml``), validated on load, and which targets each fault accepts.

``valid_targets(fault_type, app)`` answers "for which services of this app is the fault meaningful",
from the service kinds and ``require`` predicates in the catalogue; ``check_fault`` turns an invalid
(fault, target, params) combination into a ``FaultError`` that names the valid choices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from aoi.sim.apps import APP_NAMES, AppSpec, ServiceSpec, load_app
from aoi.sim.errors import FaultError, SimError

SystemLevel = Literal["Hardware", "Operating System", "Virtualization", "Application"]
FaultType = Literal[
    "Misconfiguration",
    "Code Defect",
    "Authentication Issue",
    "Network/Storage Issue",
    "Operation Error",
    "Dependency Problem",
]


class TargetRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kinds: list[str]
    require: list[str] = []


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["number", "flag", "string"]
    default: float | str | None = None
    required: bool = False
    min: float | None = None
    max: float | None = None


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: Literal["aiopslab", "aoi"]
    description: str
    system_level: SystemLevel
    fault_type: FaultType
    targets: TargetRule | Literal["none"]
    apps: list[str] = list(APP_NAMES)
    params: dict[str, ParamSpec] = {}
    mitigation: str | None = None
    fixes: list[str]
    transient: bool = False
    # Who can see the fault's symptoms: ``anyone`` (the target's own pods, events, metrics) or only
    # ``callers`` (e.g. netem on the pod's interface: only whoever sends it traffic notices). The
    # problem generator draws a ``callers`` fault only on targets something inside the app calls.
    observed_by: Literal["anyone", "callers"] = "anyone"


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    faults: dict[str, FaultSpec]
    default_mitigation: str


def _calls(app: AppSpec) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for caller, callee in app.edges():
        out.setdefault(caller, set()).add(callee)
    return out


def _shared_image(app: AppSpec, s: ServiceSpec) -> bool:
    return any(
        o.name != s.name and o.image == s.image and o.command != s.command and o.kind == "app"
        for o in app.services
    )


def _defect_image(app: AppSpec, s: ServiceSpec) -> bool:
    return any(r.overrides and s.command and s.command[0] in r.binaries for r in app.registry)


def _config_deps(app: AppSpec, s: ServiceSpec) -> bool:
    called = _calls(app).get(s.name, set())
    via_config = {d for d, src in s.deps.items() if src.config} | (called if s.deps_from else set())
    return bool(called & via_config)


PREDICATES: dict[str, Callable[[AppSpec, ServiceSpec], bool]] = {
    "service": lambda app, s: s.port is not None,
    "shared_image": _shared_image,
    "has_clients": lambda app, s: any(callee == s.name for _, callee in app.edges()),
    "mongo_auth": lambda app, s: s.auth and "MONGO_INITDB_ROOT_USERNAME" in s.env_secrets,
    "defect_image": _defect_image,
    "env_secrets": lambda app, s: bool(s.env_secrets),
    "pvc": lambda app, s: bool(s.pvc),
    "config_deps": _config_deps,
    "flag": lambda app, s: any(f.service == s.name for f in app.feature_flags),
}


@functools.cache
def catalogue() -> Catalogue:
    """The validated catalogue; a malformed file fails with the path and pydantic's field errors."""
    path = Path(__file__).with_name("catalogue.yaml")
    try:
        cat = Catalogue.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        raise SimError(f"{path}: invalid fault catalogue:\n{exc}") from exc
    for name, spec in cat.faults.items():
        if isinstance(spec.targets, TargetRule):
            unknown = set(spec.targets.require) - set(PREDICATES)
            if unknown:
                raise SimError(
                    f"{path}: fault {name}: unknown target requirement(s) {sorted(unknown)}; "
                    f"known: {sorted(PREDICATES)}"
                )
    return cat


def fault_spec(fault_type: str) -> FaultSpec:
    spec = catalogue().faults.get(fault_type)
    if spec is None:
        raise FaultError(
            f"unknown fault type {fault_type!r}; known types: {', '.join(sorted(catalogue().faults))}"
        )
    return spec


@functools.cache
def _valid_targets(fault_type: str, app_name: str) -> tuple[str, ...]:
    spec = fault_spec(fault_type)
    if app_name not in spec.apps or spec.targets == "none":
        return ()
    app = load_app(app_name)
    rule = spec.targets
    assert isinstance(rule, TargetRule)
    return tuple(
        s.name
        for s in app.services
        if s.kind in rule.kinds and all(PREDICATES[r](app, s) for r in rule.require)
    )


def valid_targets(fault_type: str, app_name: str) -> list[str]:
    """Services of ``app_name`` that ``fault_type`` can target (empty for target-less faults)."""
    return list(_valid_targets(fault_type, app_name))


def has_caller_in_app(app: AppSpec, service: str) -> bool:
    """Whether a service of ``app`` sends ``service`` traffic (a call edge, or the app's own load client)."""
    if any(callee == service for caller, callee in app.edges() if caller != service):
        return True
    return app.client is not None and app.client.target == service


def observable_targets(fault_type: str, app_name: str) -> list[str]:
    """The valid targets whose symptoms someone inside the app could observe (see ``observed_by``)."""
    targets = valid_targets(fault_type, app_name)
    if fault_spec(fault_type).observed_by == "anyone":
        return targets
    app = load_app(app_name)
    return [t for t in targets if has_caller_in_app(app, t)]


def flag_names(app_name: str) -> list[str]:
    return [f.flag for f in load_app(app_name).feature_flags]


def check_fault(fault_type: str, target: str | None, params: dict[str, Any], app_name: str) -> dict[str, Any]:
    """Validate a fault for ``app_name``; returns params with defaults filled in, or raises FaultError."""
    spec = fault_spec(fault_type)
    if app_name not in spec.apps:
        raise FaultError(
            f"fault {fault_type} does not apply to app {app_name}; it applies to: {', '.join(spec.apps)}"
        )
    if spec.targets == "none":
        if target is not None:
            raise FaultError(f"fault {fault_type} takes no target (use null), got {target!r}")
    else:
        valid = valid_targets(fault_type, app_name)
        if target not in valid:
            raise FaultError(
                f"invalid target {target!r} for fault {fault_type} in app {app_name}; "
                f"valid targets: {', '.join(valid)}"
            )
    unknown = set(params) - set(spec.params)
    if unknown:
        allowed = ", ".join(spec.params) or "none"
        raise FaultError(f"fault {fault_type}: unknown parameter(s) {sorted(unknown)}; allowed: {allowed}")
    out: dict[str, Any] = {}
    for name, p in spec.params.items():
        value = params.get(name, p.default)
        if value is None:
            if p.required:
                raise FaultError(f"fault {fault_type} needs params.{name}")
            continue
        if p.type == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise FaultError(f"fault {fault_type}: params.{name} must be a number, got {value!r}")
            if (p.min is not None and value < p.min) or (p.max is not None and value > p.max):
                raise FaultError(f"fault {fault_type}: params.{name}={value} outside [{p.min}, {p.max}]")
        if p.type == "flag":
            flags = {f.flag: f for f in load_app(app_name).feature_flags}
            if value not in flags:
                raise FaultError(f"fault {fault_type}: unknown flag {value!r}; flags: {', '.join(flags)}")
            if flags[str(value)].service != target:
                raise FaultError(
                    f"fault {fault_type}: flag {value} affects service {flags[str(value)].service!r}, "
                    f"so the target must be {flags[str(value)].service!r}, not {target!r}"
                )
        out[name] = value
    return out
