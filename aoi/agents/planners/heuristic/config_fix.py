"""Repairing a caller that dials a wrong address: fix the ConfigMap it read the address from, or roll
back the Deployment when the address does not come from any ConfigMap (it is baked into the image)."""

from __future__ import annotations

import difflib
import re
from typing import Any

from aoi.agents.planners.heuristic.analysis import Finding
from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.probes import mounted_configmaps


def corrected_address(facts: Facts, host: str, port: int | None) -> tuple[str, int | None] | None:
    """The address the caller most likely meant: the closest Service name and one of its ports."""
    names = [s["name"] for s in facts.services or []]
    svc = facts.service(host)
    if svc is None:
        close = difflib.get_close_matches(host, names, n=1, cutoff=0.6)
        if not close:
            return None
        svc = facts.service(close[0])
        assert svc is not None
    ports = [int(p) for p in svc.get("ports") or []]
    fixed_port = port if port in ports or port is None else (ports[0] if len(ports) == 1 else None)
    if port is not None and fixed_port is None:
        return None
    return str(svc["name"]), fixed_port


def caller_fix(facts: Facts, finding: Finding) -> dict[str, Any]:
    """``patch_configmap`` with the address corrected where the caller's ConfigMap holds the wrong one,
    else ``rollout_undo`` of the caller (the wrong address came with its last rollout)."""
    undo: dict[str, Any] = {"verb": "rollout_undo", "target": finding.target, "params": {}}
    if finding.address is None:
        return undo
    host, port = finding.address
    wrong = f"{host}:{port}" if port is not None else host
    right = corrected_address(facts, host, port)
    if right is None or (right[0], right[1]) == (host, port):
        return undo
    replacement = f"{right[0]}:{right[1]}" if right[1] is not None else right[0]
    pattern = re.compile(rf"(?<![-\w.]){re.escape(wrong)}(?![-\w])")
    for name in mounted_configmaps(facts, finding.target):
        data = facts.configmaps.get(name) or {}
        changed = {key: pattern.sub(replacement, text) for key, text in data.items() if pattern.search(text)}
        if changed:
            return {"verb": "patch_configmap", "target": name, "params": {"data": changed}}
    return undo
