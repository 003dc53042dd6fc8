"""Reading fields of Slack payloads that may be missing or of the wrong type.

Slack's payloads are signed but not schema-checked by Bolt: a listener must not crash (and leave only
a traceback in the logs) on a payload whose ``channel`` is missing or whose ``user`` is a list. These
helpers return the field when it has the expected type and an empty value otherwise, so a listener
can drop an unusable payload with one clear log line naming what was missing.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def text(payload: object, key: str) -> str:
    """``payload[key]`` when ``payload`` is a dict and the value a string (or a number: Slack ts
    values are strings, but a number means the same); ``""`` otherwise."""
    if not isinstance(payload, dict):
        return ""
    value = payload.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def mapping(payload: object, key: str) -> dict[str, Any]:
    """``payload[key]`` when both are dicts; ``{}`` otherwise."""
    if not isinstance(payload, dict):
        return {}
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def missing(payload: object, *keys: str) -> list[str]:
    """The ``keys`` whose value in ``payload`` is not a non-empty string."""
    return [key for key in keys if not text(payload, key)]


def drop(kind: str, absent: list[str]) -> None:
    """Log (once per payload, at WARNING) that a ``kind`` payload was ignored and why."""
    log.warning("ignored a %s payload without %s (expected non-empty strings)", kind, ", ".join(absent))
