"""Errors raised by the simulator, shaped like the Kubernetes API's so callers can map them to HTTP.

Every message says what was wrong, what was expected and where, so an agent or a user can act on it.
"""

from __future__ import annotations


class SimError(ValueError):
    """Base class; ``code`` is the HTTP status the Kubernetes API would answer with."""

    code = 400
    reason = "BadRequest"


class NotFound(SimError, KeyError):
    """The named object does not exist (HTTP 404)."""

    code = 404
    reason = "NotFound"

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "not found"


class Invalid(SimError):
    """A write was rejected by validation (HTTP 422), e.g. a negative replica count."""

    code = 422
    reason = "Invalid"


class Conflict(SimError):
    """A write conflicts with the object's state (HTTP 409), e.g. an immutable field changed."""

    code = 409
    reason = "Conflict"


class ProblemError(SimError):
    """A problem file or problem definition is invalid; the message names the problem and field."""


class FaultError(ProblemError):
    """A fault cannot be applied as specified (unknown type, invalid target or parameters)."""
