"""Bearer-token identities of the simulated API server: a reader and a writer.

DESIGN.md §3 separates investigation and execution *by credentials*. The simulated server enforces
that split like a real cluster's RBAC would: the reader token may only ``get``/``list`` (and read
logs), and not Secrets; anything else is refused with a real ``Forbidden`` Status naming the missing
verb, so a test can prove the Observer's client cannot change the cluster even if asked to.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from aoi.sim.api.status import ApiError

READER_USER = "aoi-sim-reader"
WRITER_USER = "aoi-sim-writer"
# The documented minimal read-only RBAC (aoi/agents/backends/kubernetes.py) grants no Secrets: an
# investigation sees which secret a pod references, never its values.
READER_DENIED_RESOURCES = frozenset({"secrets"})


@dataclass(frozen=True)
class Credentials:
    """The two bearer tokens the server accepts (fresh random ones unless given)."""

    read_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    write_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def identify(self, authorization: str | None) -> tuple[str, bool]:
        """``(user, may_write)`` for an ``Authorization`` header; 401 Status when missing or unknown."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(
                401, "Unauthorized: a bearer token is required (use the kubeconfig aoi sim serve wrote)"
            )
        token = authorization[len("Bearer ") :].strip()
        if hmac.compare_digest(token, self.write_token):
            return WRITER_USER, True
        if hmac.compare_digest(token, self.read_token):
            return READER_USER, False
        raise ApiError(401, "Unauthorized: unknown bearer token")
