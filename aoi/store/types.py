"""Column types and small value helpers shared by the tables and the repository functions.

Every timestamp the store writes or returns is timezone-aware UTC: ``UTCDateTime`` refuses naive
datetimes on the way in (a naive value is ambiguous, and silently assuming local time corrupts audit
order) and re-attaches UTC on the way out, because SQLite keeps no zone information.

``utcnow`` is the store's only clock; :func:`use_clock` swaps it for a replay of simulated time
(``bench/bench_week.py`` spreads a simulated week's rows over the days the weekly export reads).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from aoi.store.errors import InvalidValueError

E = TypeVar("E", bound=StrEnum)


_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only clock the store uses; see :func:`use_clock`)."""
    clock = _clock
    return datetime.now(UTC) if clock is None else ensure_utc(clock(), "the store clock's time")


@contextmanager
def use_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Within the block, every timestamp the store writes in this process is ``clock()`` (aware UTC).

    For replaying simulated time (benchmarks, backfills), never for serving: the override is
    process-wide (every thread sees it) and blocks do not nest.
    """
    global _clock
    if _clock is not None:
        raise RuntimeError("a store clock is already in use; use_clock blocks do not nest")
    _clock = clock
    try:
        yield
    finally:
        _clock = None


def new_id(prefix: str) -> str:
    """A short, unique, prefixed id (``inc_…``, ``inv_…``, ``prop_…``): readable in Slack and logs."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def ensure_utc(value: datetime, what: str = "timestamp") -> datetime:
    """Return ``value`` converted to UTC; refuse a naive datetime with an actionable message."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidValueError(
            f"{what} {value.isoformat()} has no timezone; pass an aware datetime "
            "(e.g. datetime.now(UTC) or value.replace(tzinfo=UTC))"
        )
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that always round-trips as an aware UTC ``datetime``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = ensure_utc(value)
        # SQLite stores text without an offset: store the UTC wall time, re-attach UTC when reading.
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def parse_enum(enum_cls: type[E], value: str, what: str) -> E:
    """``enum_cls(value)`` with an error that lists the accepted values."""
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_cls)
        raise InvalidValueError(f"{what} {value!r} is not one of: {allowed}") from None


def check_in_sql(column: str, values: Iterable[str]) -> str:
    """The SQL text of a CHECK constraint keeping ``column`` within ``values`` (enum-like strings)."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def json_value(value: Any, what: str) -> Any:
    """A deep, JSON-only copy of ``value``; a clear error instead of a failure deep inside a flush.

    Callers hand records from other layers as ``model_dump(mode="json")`` dicts; anything that is
    not plain JSON (a datetime, a pydantic model, a set) is refused here with the field's name.
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{what} must be plain JSON (dicts, lists, str, numbers, bools, null) — "
            f"pass e.g. record.model_dump(mode='json'): {exc}"
        ) from None
