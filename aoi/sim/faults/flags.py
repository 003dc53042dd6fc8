"""otel_flag: an OpenTelemetry-demo feature flag switched on in ConfigMap ``flagd-config`` and flagd
restarted to load it (how AIOpsLab drives AstronomyShop faults). The fix is the reverse: the flag's
``defaultVariant`` back to ``off`` and a restart of flagd."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aoi.sim.apps import AppSpec
from aoi.sim.faults.base import Injector, runs_of

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

CONFIGMAP, KEY = "flagd-config", "demo.flagd.json"


def flag_variant(doc: str, flag: str) -> str | None:
    """The variant flagd serves for ``flag`` from a flagd JSON document (None when disabled/absent)."""
    try:
        flags = json.loads(doc).get("flags", {})
    except (json.JSONDecodeError, AttributeError):
        return None
    spec = flags.get(flag)
    if not isinstance(spec, dict) or spec.get("state") != "ENABLED":
        return None
    return str(spec.get("defaultVariant"))


class FeatureFlag:
    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        flag = str(params["flag"])
        raw = c.get_object("ConfigMap", app.namespace, CONFIGMAP)["data"][KEY]
        doc = json.loads(raw)
        variants = doc["flags"][flag]["variants"]
        on = next(v for v in variants if v != "off")
        old = f'"{flag}": {json.dumps(doc["flags"][flag])}'
        doc["flags"][flag]["defaultVariant"] = on
        new = f'"{flag}": {json.dumps(doc["flags"][flag])}'
        if old not in raw:
            raise ValueError(f"{CONFIGMAP}/{KEY}: flag {flag} is not on one line as expected")
        c.patch_object("ConfigMap", app.namespace, CONFIGMAP, {"data": {KEY: raw.replace(old, new, 1)}})
        c.rollout_restart(app.namespace, "flagd")

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        flag = str(params["flag"])
        served = [
            flag_variant(ct.snapshot.files.get(f"{CONFIGMAP}/{KEY}", "{}"), flag)
            for r in runs_of(c, app, "flagd")
            for ct in r.containers.values()
            if ct.state == "running"
        ]
        ok = bool(served) and all(v in (None, "off") for v in served)
        return ok, f"flagd serves {flag} as {served or 'nothing (flagd is down)'}"


INJECTORS: dict[str, Injector] = {"otel_flag": FeatureFlag()}
