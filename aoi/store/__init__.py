"""Durable state: SQLModel tables, the repository API and Alembic migrations (DESIGN.md §7).

Use: ``store = Store.open(url, migrate=True)`` (or ``Store(make_engine(url))`` after ``aoi db
upgrade``), then ``aoi.store.repo`` functions. SQLite by default, PostgreSQL in production; every
decision that must happen once (approving, claiming an execution, handling a Slack event) is a
conditional write the database arbitrates, so it holds across processes.
"""

from __future__ import annotations

from aoi.store.db import Store, make_engine
from aoi.store.enums import (
    FeedbackKind,
    FeedbackSource,
    IncidentSource,
    IncidentStatus,
    InvestigationStatus,
    ModelStatus,
    ProposalStatus,
    Risk,
    TrainingKind,
    TrainingStatus,
)
from aoi.store.errors import (
    DatabaseUnavailableError,
    DatabaseURLError,
    InvalidTransitionError,
    InvalidValueError,
    NotFoundError,
    SchemaOutOfDateError,
    StoreError,
)

__all__ = [
    "DatabaseURLError",
    "DatabaseUnavailableError",
    "FeedbackKind",
    "FeedbackSource",
    "IncidentSource",
    "IncidentStatus",
    "InvalidTransitionError",
    "InvalidValueError",
    "InvestigationStatus",
    "ModelStatus",
    "NotFoundError",
    "ProposalStatus",
    "Risk",
    "SchemaOutOfDateError",
    "Store",
    "StoreError",
    "TrainingKind",
    "TrainingStatus",
    "make_engine",
]
