"""Shared fixtures: the packaged policy, and a writer for small hand-made policy files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aoi.policies import Policy, load_policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(None)


def minimal_policy(**overrides: Any) -> dict[str, Any]:
    """A valid one-rule policy as data; tests change one thing and expect one error."""
    data: dict[str, Any] = {
        "version": 1,
        "approvers": {"sre": {"users": ["U0SRE00001"], "usergroups": ["sre-oncall", "S0GROUP01"]}},
        "rules": [
            {
                "id": "scale",
                "verb": "scale",
                "description": "scale",
                "namespaces": ["team-*", "shop"],
                "risk": "low",
                "approvers": ["sre"],
                "params": {
                    "replicas": {"type": "int", "min": 1, "max": 10},
                    "current_replicas": {"type": "int", "min": 0, "max": 100},
                },
                "command": "kubectl -n {namespace} scale deployment/{target} --replicas={replicas}",
            }
        ],
    }
    data.update(overrides)
    return data


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write
