"""Alembic environment: the store's metadata, AOI's engine settings, batch mode for SQLite.

Run through ``aoi.store.migrate`` (``aoi db upgrade``), which builds the Alembic ``Config`` in code
and passes the database URL (or an open connection) in ``config.attributes`` — no alembic.ini needed,
so migrations work from an installed wheel.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from aoi.store.db import make_engine
from aoi.store.models import StoreModel
from aoi.store.types import UTCDateTime

config = context.config
target_metadata = StoreModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our UTC column type as plain ``sa.DateTime(timezone=True)``: migrations stay
    independent of application code (the type's behaviour is Python-side only)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


# Any constant: serialises concurrent `aoi db upgrade` runs (web and worker starting together).
MIGRATION_LOCK_KEY = 0x414F4931  # "AOI1"


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


def run_migrations_offline() -> None:
    """``--sql`` mode: emit the DDL as text for a DBA to review."""
    _configure(url=config.attributes["url"], literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.attributes["url"], sqlite_foreign_keys=False, pool_size=1)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
