"""Feature flags as the apps see them: the variants flagd serves from the config it loaded at start.

A service that cannot reach flagd falls back to the flag defaults compiled into the code (all off),
as the OpenFeature SDK does. Effects of active flags are data (``feature_flags`` in the app YAML).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aoi.sim.apps import AppSpec, FlagSpec
from aoi.sim.behaviour.network import Address, reach
from aoi.sim.world import State

FLAGD_FILE = "flagd-config/demo.flagd.json"


@dataclass
class FlagState:
    """Flag name → served value (numbers, booleans), plus whether flagd could be reached."""

    values: dict[str, object] = field(default_factory=dict)
    reachable: bool = True


def served_flags(state: State, app: AppSpec) -> FlagState:
    if not app.feature_flags:
        return FlagState()
    flagd = next((s for s in app.services if s.name == "flagd"), None)
    if flagd is None or flagd.port is None:
        return FlagState(reachable=False)
    r = reach(state, app.namespace, Address("flagd", flagd.port))
    if r.ok <= 0 or not r.backends:
        return FlagState(reachable=False)
    doc = r.backends[0][1].snapshot.files.get(FLAGD_FILE, "{}")
    try:
        flags = json.loads(doc).get("flags", {})
    except (json.JSONDecodeError, AttributeError):
        return FlagState(reachable=True)
    values: dict[str, object] = {}
    for name, spec in flags.items():
        if isinstance(spec, dict) and spec.get("state") == "ENABLED":
            values[name] = (spec.get("variants") or {}).get(spec.get("defaultVariant"))
    return FlagState(values=values)


def active_effects(app: AppSpec, flags: FlagState) -> list[tuple[FlagSpec, float]]:
    """(effect, strength) for every flag whose served value is on; strength is the numeric value."""
    out = []
    for spec in app.feature_flags:
        value = flags.values.get(spec.flag)
        if value in (None, False, 0, 0.0, "off"):
            continue
        strength = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 1.0
        out.append((spec, strength))
    return out
