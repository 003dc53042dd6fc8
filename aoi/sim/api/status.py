"""Kubernetes ``Status`` objects for errors, shaped exactly like the real API server's.

kubectl and the Python client print ``message`` and branch on ``reason``/``code`` (``NotFound`` makes
``kubectl delete`` finish waiting, ``Forbidden`` tells an operator which RBAC verb is missing), so the
text follows the real server's wording.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from aoi.sim.api.resources import Resource

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
}


class ApiError(Exception):
    """Raised inside a handler; rendered as a ``Status`` response with ``code``."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        resource: Resource | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.resource = resource
        self.name = name

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.resource is not None:
            details["kind"] = self.resource.plural
            if self.resource.group:
                details["group"] = self.resource.group
        if details:
            body["details"] = details
        return body

    def response(self) -> Response:
        return json_response(self.status(), self.code)


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, f'{resource.api_resource} "{name}" not found', resource=resource, name=name)


def forbidden(
    user: str, verb: str, resource: Resource, sub: str | None, name: str, namespace: str | None
) -> ApiError:
    what = f"{resource.plural}/{sub}" if sub else resource.plural
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (
        (
            f'{resource.api_resource} "{name}" is forbidden: User "{user}" cannot {verb} resource "{what}" '
            f'in API group "{resource.group}"{where}'
        )
        if name
        else (
            f'{resource.api_resource} is forbidden: User "{user}" cannot {verb} resource "{what}" '
            f'in API group "{resource.group}"{where}'
        )
    )
    return ApiError(403, message, resource=resource, name=name or None)


def json_response(body: Any, code: int = 200, content_type: str = "application/json") -> Response:
    """Compact JSON; the hot path of every read, so no indentation and no re-validation."""
    return Response(json.dumps(body, separators=(",", ":")), status_code=code, media_type=content_type)
