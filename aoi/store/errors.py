"""Errors the store raises: each names what was wrong, what was expected and what to do about it."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for every error ``aoi.store`` raises on purpose."""


class NotFoundError(StoreError, LookupError):
    """A record asked for by id does not exist."""

    def __init__(self, kind: str, record_id: object) -> None:
        super().__init__(f"{kind} {record_id!r} does not exist in the store")
        self.kind = kind
        self.record_id = record_id


class InvalidValueError(StoreError, ValueError):
    """A value handed to a repository function is outside what the schema accepts."""


class InvalidTransitionError(StoreError):
    """A lifecycle change that the record's current status does not allow (e.g. finishing a queued run)."""


class DatabaseURLError(StoreError, ValueError):
    """``AOI_DATABASE_URL`` (or a ``--url``) is not a URL the store can open."""


class SchemaOutOfDateError(StoreError):
    """The database is not at the migration head this code expects: run ``aoi db upgrade``."""


class DatabaseUnavailableError(StoreError):
    """The database could not be reached or opened (wrong host, server down, unwritable file)."""
