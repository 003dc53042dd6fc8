"""SQL helpers the repository modules share: dialect-portable upserts, checked lookups, input checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from aoi.store.errors import InvalidValueError, NotFoundError
from aoi.store.models import StoreModel

M = TypeVar("M", bound=StoreModel)


def insert_ignore(
    session: Session,
    model: type[StoreModel],
    values: dict[str, Any],
    keys: Sequence[str],
    *,
    index_where: str | None = None,
) -> bool:
    """``INSERT … ON CONFLICT (keys) DO NOTHING``; True when this call inserted the row.

    The database's unique constraint decides, so concurrent callers in different processes agree
    on exactly one winner without any lock held by us. ``index_where`` names the predicate of a
    partial unique index (PostgreSQL only matches such an index when it is repeated).
    """
    where = text(index_where) if index_where is not None else None
    statement = dialect_insert(session, model).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=list(keys), index_where=where)
    return rowcount(session, statement) == 1


def dialect_insert(session: Session, model: type[StoreModel]) -> Any:
    """The dialect's own INSERT construct (both have ``on_conflict_do_nothing/do_update``)."""
    table = model.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def rowcount(session: Session, statement: Executable) -> int:
    """Execute a DML statement and return how many rows it changed (the exactly-once check).

    ``preserve_rowcount`` matters: without it SQLAlchemy reports -1 for an INSERT on psycopg.
    """
    result = cast(
        CursorResult[Any], session.execute(statement, execution_options={"preserve_rowcount": True})
    )
    return int(result.rowcount)


def get_or_raise(session: Session, model: type[M], record_id: object, kind: str, *, lock: bool = False) -> M:
    """Load a row by primary key, optionally ``FOR UPDATE``; ``NotFoundError`` names what is missing."""
    statement = select(model).where(model.__table__.primary_key.columns.values()[0] == record_id)  # type: ignore[attr-defined]
    if lock:
        statement = statement.with_for_update()
    row = session.exec(statement).first()
    if row is None:
        raise NotFoundError(kind, record_id)
    return row


def checked_text(value: str, what: str, max_len: int, *, allow_empty: bool = False) -> str:
    """Refuse empty or over-long identifiers (PostgreSQL would reject them late, SQLite never)."""
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidValueError(f"{what} must not be empty")
    if len(value) > max_len:
        raise InvalidValueError(f"{what} is {len(value)} characters long; at most {max_len} are stored")
    return value


def optional_text(value: str | None, what: str, max_len: int) -> str | None:
    """``checked_text`` for optional columns."""
    return None if value is None else checked_text(value, what, max_len)
