"""Filling in a MongoDB repair: which pod, database, user and password variable, read from what the
tools showed (client errors, the database's own log, its Deployment's environment)."""

from __future__ import annotations

import re
from typing import Any

from aoi.agents.planners.heuristic.analysis import Finding
from aoi.agents.planners.heuristic.facts import Facts

_DB_PATTERNS = (
    re.compile(r"not authorized on ([A-Za-z0-9_-]+)"),
    re.compile(r"""["']?(?:db|database|authenticationDatabase)["']?\s*[:=]\s*["']?([A-Za-z0-9_-]+-db)\b"""),
    re.compile(r"\b([a-z0-9]+(?:-[a-z0-9]+)*-db)\b"),
)
_USER_PATTERNS = (
    re.compile(r"""(?:principalName|user(?:name)?)["']?\s*[:=]\s*["']?([A-Za-z0-9_.-]+)"""),
    re.compile(r"""[Cc]ould not find user ["\\]*([A-Za-z0-9_.-]+)"""),
    re.compile(r"\bfor user ['\"]?([A-Za-z0-9_.-]+)"),
)


def _first(patterns: tuple[re.Pattern[str], ...], lines: list[str]) -> str | None:
    for pattern in patterns:
        for line in lines:
            match = pattern.search(line)
            if match:
                return match.group(1)
    return None


def _db_env(facts: Facts, db: str) -> dict[str, str]:
    containers = (facts.deployment_details.get(db) or {}).get("containers") or []
    return dict(containers[0].get("env") or {}) if containers else {}


def mongo_context(facts: Facts, db: str) -> dict[str, Any]:
    """What is known about database workload ``db``: pod, database name, user, password env var."""
    client_lines = [line for (w, _), lines in facts.logs.items() if w != db for line in lines]
    db_lines = facts.log_lines(db)
    env = _db_env(facts, db)
    database = _first(_DB_PATTERNS, client_lines) or _first(_DB_PATTERNS, db_lines)
    if database is None:
        database = next((v for k, v in env.items() if "DATABASE" in k and not v.startswith("<")), None)
    user = _first(_USER_PATTERNS, db_lines) or _first(_USER_PATTERNS, client_lines)
    if user is None:
        user = next(
            (v for k, v in env.items() if k.endswith(("USERNAME", "USER")) and not v.startswith("<")), None
        )
    password_env = next((k for k in env if "PASSWORD" in k and "FILE" not in k), None)
    pods = [p for p in facts.pods_of(db) if p["status"] == "Running"] or facts.pods_of(db)
    return {
        "pod": pods[0]["name"] if pods else None,
        "database": database,
        "user": user,
        "password_env": password_env,
    }


def complete_mongo_fix(facts: Facts, finding: Finding, fix: dict[str, Any]) -> dict[str, Any] | None:
    """For mongo verdicts build the repair (None when a required detail could not be observed)."""
    if finding.verdict not in ("mongo_unauthorized", "mongo_user_missing", "mongo_auth_mismatch"):
        return fix
    db = finding.target
    if finding.verdict == "mongo_auth_mismatch":
        return {**fix, "verb": "rollout_undo", "target": db, "params": {}}
    ctx = mongo_context(facts, db)
    if not ctx["pod"] or not ctx["database"] or not ctx["user"]:
        return None
    params: dict[str, Any] = {"database": ctx["database"], "user": ctx["user"], "roles": ["readWrite"]}
    if finding.verdict == "mongo_unauthorized":
        return {**fix, "verb": "mongo_grant_roles", "target": ctx["pod"], "params": params}
    if not ctx["password_env"]:
        return None
    params["password_env"] = ctx["password_env"]
    return {**fix, "verb": "mongo_create_user", "target": ctx["pod"], "params": params}
