"""Plumbing shared by the AWS reader and writer: sessions, per-region clients, error translation.

Each ``AwsClients`` wraps exactly one boto3 session, so the reader and the writer can never share
credentials by accident. boto3 errors become ``BackendError`` subclasses carrying the full AWS text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aoi.agents.backends.base import BackendError, ForbiddenError, NotFoundError

_NOT_FOUND = {
    "ResourceNotFoundException",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "InvalidInstanceID.NotFound",
}
_FORBIDDEN = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}
_RETRIES = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20)


def unix_seconds(value: Any) -> float | None:
    """boto3 datetimes (and epoch milliseconds from Logs) as unix seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    return None if value is None else float(value)


def utc_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class AwsClients:
    """Shared plumbing: one session, clients per (service, region), error translation."""

    name = "aws"

    def __init__(
        self, session: boto3.session.Session, *, region: str | None = None, endpoint_url: str | None = None
    ):
        self._session = session
        self._region = region or session.region_name
        if not self._region:
            raise BackendError("no AWS region: pass region= or set one in the profile (AWS_DEFAULT_REGION)")
        self._endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_profile(
        cls, profile: str | None, *, region: str | None = None, endpoint_url: str | None = None
    ) -> Self:
        """Build from a named AWS profile (``None``: the default credential chain)."""
        return cls(boto3.session.Session(profile_name=profile, region_name=region), endpoint_url=endpoint_url)

    def _client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self._region)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service, region_name=key[1], endpoint_url=self._endpoint_url, config=_RETRIES
            )
        return self._clients[key]

    def _call(self, service: str, operation: str, /, region: str | None = None, **kwargs: Any) -> Any:
        try:
            return getattr(self._client(service, region), operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(service, operation, kwargs, exc) from exc

    def _pages(
        self, service: str, operation: str, key: str, limit: int, /, region: str | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Items under ``key`` across pages, at most ``limit`` of them."""
        paginator = self._client(service, region).get_paginator(operation)
        try:
            for page in paginator.paginate(**kwargs, PaginationConfig={"MaxItems": limit}):
                yield from page.get(key, [])
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(service, operation, kwargs, exc) from exc


def translate_error(service: str, operation: str, kwargs: Mapping[str, Any], exc: Exception) -> BackendError:
    args = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    where = f"aws {service}.{operation}({args})"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{where}: {exc}"
        if code in _FORBIDDEN or status == 403:
            return ForbiddenError(message)
        if code in _NOT_FOUND:
            return NotFoundError(message)
        return BackendError(message)
    return BackendError(f"{where}: {type(exc).__name__}: {exc}")
