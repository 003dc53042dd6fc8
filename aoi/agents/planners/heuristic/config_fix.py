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


def _rewrites(
    host: str, port: int | None, right: tuple[str, int | None]
) -> list[tuple[re.Pattern[str], str]]:
    """Ways the wrong address can be written in a config file, with their corrections."""
    out = []
    if port is not None and right[1] is not None:
        out.append(
            (re.compile(rf"(?<![-\w.]){re.escape(f'{host}:{port}')}(?![-\w])"), f"{right[0]}:{right[1]}")
        )
    if right[0] != host:
        out.append((re.compile(rf"(?<=[\"']){re.escape(host)}(?=[\"'])"), right[0]))
    return out


REDACTED = "[REDACTED:"


def wrong_text(host: str, port: int | None) -> str:
    return f"{host}:{port}" if port is not None else host


def caller_fix(facts: Facts, finding: Finding) -> list[dict[str, Any]]:
    """Correct the address in the ConfigMap the caller reads it from, then restart the caller so it
    reloads it; when no ConfigMap holds the wrong address it came with the image: roll back. Empty
    when the only fix would write redacted text back (the finding's detail then says what to edit)."""
    undo: list[dict[str, Any]] = [{"verb": "rollout_undo", "target": finding.target, "params": {}}]
    if finding.address is None:
        return undo
    host, port = finding.address
    right = corrected_address(facts, host, port)
    if right is None or (right[0], right[1]) == (host, port):
        return undo
    for name in mounted_configmaps(facts, finding.target):
        data = facts.configmaps.get(name) or {}
        changed = {}
        for key, text in data.items():
            fixed = text
            for pattern, replacement in _rewrites(host, port, right):
                fixed = pattern.sub(replacement, fixed)
            if fixed != text:
                changed[key] = fixed
        if any(REDACTED in text for text in changed.values()):
            # Writing the key back would replace a secret with its redaction marker: a human edits it.
            finding.detail += (
                f"; correct {wrong_text(host, port)} in ConfigMap {name} by hand (it holds secrets)"
            )
            return []
        if changed:
            return [
                {"verb": "patch_configmap", "target": name, "params": {"data": changed}},
                {"verb": "rollout_restart", "target": finding.target, "params": {}},
            ]
    return undo
