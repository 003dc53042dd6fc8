"""The store's tables (SQLModel), one class per table; the Alembic migrations are generated from these.

Conventions: string primary keys with a readable prefix for records people refer to (``inc_…``,
``inv_…``, ``prop_…``); integer keys for high-volume append-only rows (audit, feedback, messages);
every timestamp is ``UTCDateTime`` (aware UTC); JSON columns hold plain JSON only; enum-like columns
are short strings with a CHECK constraint (portable, and migrations never fight native enum types).
Instances returned by ``aoi.store.repo`` are detached copies: changing one does not write anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, MetaData, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

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
from aoi.store.types import UTCDateTime, check_in_sql, utcnow

# Named constraints keep Alembic's batch (copy-and-move) migrations on SQLite deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class StoreModel(SQLModel):
    """Base of every store table; its own MetaData so other SQLModel users never leak into migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _check(column: str, values: type[Any], name: str | None = None) -> CheckConstraint:
    return CheckConstraint(check_in_sql(column, [member.value for member in values]), name=name or column)


def _when() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _maybe_when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


def _json(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=JSON, nullable=True)
    return Field(default_factory=dict, sa_type=JSON, nullable=False)


class Incident(StoreModel, table=True):
    """An incident: one Slack thread, opened from a channel, a mention, an alert or the CLI."""

    __tablename__ = "incidents"
    __table_args__ = (
        _check("source", IncidentSource),
        _check("status", IncidentStatus),
        UniqueConstraint("channel", "thread_ts"),
        # At most one open incident per alert fingerprint: repeated alerts reuse its thread.
        Index(
            "uq_incidents_open_fingerprint",
            "alert_fingerprint",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    source: str = Field(max_length=16)
    status: str = Field(default=IncidentStatus.OPEN.value, max_length=16)
    title: str = Field(sa_type=Text)
    channel: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=32)
    summary_ts: str | None = Field(default=None, max_length=32)
    alert_fingerprint: str | None = Field(default=None, max_length=128)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    resolved_at: datetime | None = _maybe_when()


class Investigation(StoreModel, table=True):
    """One Observer run: what it was asked, how it went (trajectory) and what it concluded (diagnosis)."""

    __tablename__ = "investigations"
    __table_args__ = (_check("status", InvestigationStatus),)

    id: str = Field(primary_key=True, max_length=40)
    incident_id: str | None = Field(default=None, foreign_key="incidents.id", index=True, max_length=40)
    incident_text: str = Field(default="", sa_type=Text)
    status: str = Field(default=InvestigationStatus.QUEUED.value, max_length=16, index=True)
    planner: str = Field(max_length=32)
    model_version: str | None = Field(default=None, max_length=128)
    worker: str | None = Field(default=None, max_length=128)
    trajectory: dict[str, Any] | None = _json(nullable=True)
    diagnosis: dict[str, Any] | None = _json(nullable=True)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    started_at: datetime | None = _maybe_when()
    finished_at: datetime | None = _maybe_when()


class Proposal(StoreModel, table=True):
    """A proposed fix (an ActionRequest as data) and its single decision and execution."""

    __tablename__ = "proposals"
    __table_args__ = (
        _check("status", ProposalStatus),
        _check("risk", Risk),
        CheckConstraint("approvals_required >= 1", name="approvals_required"),
    )

    id: str = Field(primary_key=True, max_length=40)
    investigation_id: str = Field(foreign_key="investigations.id", index=True, max_length=40)
    action: dict[str, Any] = _json()
    risk: str = Field(max_length=8)
    rule_id: str | None = Field(default=None, max_length=128)
    command: str = Field(default="", sa_type=Text)
    status: str = Field(default=ProposalStatus.PENDING.value, max_length=16, index=True)
    approvals_required: int = Field(default=1)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = _maybe_when()
    reason: str | None = Field(default=None, sa_type=Text)
    executed_by: str | None = Field(default=None, max_length=128)
    execution_started_at: datetime | None = _maybe_when()
    finished_at: datetime | None = _maybe_when()
    result: dict[str, Any] | None = _json(nullable=True)
    created_at: datetime = _when()


class ProposalApproval(StoreModel, table=True):
    """One approver's vote on a proposal; the unique pair makes the two-person rule count people."""

    __tablename__ = "proposal_approvals"
    __table_args__ = (UniqueConstraint("proposal_id", "approver"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: str = Field(foreign_key="proposals.id", index=True, max_length=40)
    approver: str = Field(max_length=64)
    # the Slack user groups the approver was resolved to when voting (re-checked at execution)
    groups: list[str] | None = _json(nullable=True)
    created_at: datetime = _when()


class AuditEntry(StoreModel, table=True):
    """Append-only audit log. No foreign keys: it must outlive the records it describes."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    proposal_id: str | None = Field(default=None, max_length=40, index=True)
    investigation_id: str | None = Field(default=None, max_length=40)
    before: dict[str, Any] | None = _json(nullable=True)
    after: dict[str, Any] | None = _json(nullable=True)
    details: dict[str, Any] = _json()


class Feedback(StoreModel, table=True):
    """A preference signal about an investigation (and maybe one proposal): training data for KTO."""

    __tablename__ = "feedback"
    __table_args__ = (_check("kind", FeedbackKind), _check("source", FeedbackSource))

    id: int | None = Field(default=None, primary_key=True)
    investigation_id: str = Field(foreign_key="investigations.id", index=True, max_length=40)
    proposal_id: str | None = Field(default=None, foreign_key="proposals.id", max_length=40)
    kind: str = Field(max_length=24)
    source: str = Field(max_length=16)
    actor: str = Field(max_length=128)
    reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class SlackMessage(StoreModel, table=True):
    """Every message AOI writes to Slack (updated in place on edits), so reactions map to records."""

    __tablename__ = "slack_messages"
    __table_args__ = (UniqueConstraint("channel", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    ts: str = Field(max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = _json()
    incident_id: str | None = Field(default=None, foreign_key="incidents.id", max_length=40)
    investigation_id: str | None = Field(
        default=None, foreign_key="investigations.id", index=True, max_length=40
    )
    proposal_id: str | None = Field(default=None, foreign_key="proposals.id", max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    updated_at: datetime = _when()


class ProcessedEvent(StoreModel, table=True):
    """A Slack event id already handled; the primary key is what makes de-duplication cross-process."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=128)
    source: str = Field(default="slack", max_length=16)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class Guidance(StoreModel, table=True):
    """An Evolver note: symptoms → guidance and a repaired plan, retrievable by embedding similarity."""

    __tablename__ = "guidance"

    id: str = Field(primary_key=True, max_length=40)
    symptoms: str = Field(sa_type=Text)
    note: str = Field(sa_type=Text)
    repaired_plan: list[Any] | dict[str, Any] = Field(default_factory=list, sa_type=JSON, nullable=False)
    embedding: list[float] = Field(default_factory=list, sa_type=JSON, nullable=False)
    embedding_model: str | None = Field(default=None, max_length=128)
    source_trajectory_id: str | None = Field(default=None, max_length=64)
    source_investigation_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = _when()
    removed_at: datetime | None = _maybe_when()
    removed_by: str | None = Field(default=None, max_length=128)


class TrainingRun(StoreModel, table=True):
    """One GRPO/KTO/SFT run: what it trained on (dataset hash, config) and how it went (metrics)."""

    __tablename__ = "training_runs"
    __table_args__ = (_check("kind", TrainingKind), _check("status", TrainingStatus))

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=8)
    status: str = Field(default=TrainingStatus.RUNNING.value, max_length=16)
    dataset_hash: str = Field(max_length=128)
    base_model: str | None = Field(default=None, max_length=256)
    config: dict[str, Any] = _json()
    metrics: dict[str, Any] = _json()
    output_dir: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = _when()
    finished_at: datetime | None = _maybe_when()


class ModelVersion(StoreModel, table=True):
    """The model registry: adapters AOI trained, and which one (per name) is promoted for serving."""

    __tablename__ = "model_registry"
    __table_args__ = (
        _check("status", ModelStatus),
        UniqueConstraint("name", "version"),
        Index(
            "uq_model_registry_promoted_name",
            "name",
            unique=True,
            sqlite_where=text("status = 'promoted'"),
            postgresql_where=text("status = 'promoted'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=128)
    version: str = Field(max_length=64)
    base_model: str = Field(max_length=256)
    adapter_path: str | None = Field(default=None, sa_type=Text)
    dataset_hash: str | None = Field(default=None, max_length=128)
    training_run_id: str | None = Field(default=None, foreign_key="training_runs.id", max_length=40)
    metrics: dict[str, Any] = _json()
    status: str = Field(default=ModelStatus.CANDIDATE.value, max_length=16)
    created_at: datetime = _when()
    promoted_at: datetime | None = _maybe_when()
    retired_at: datetime | None = _maybe_when()


ALL_TABLES = [
    Incident,
    Investigation,
    Proposal,
    ProposalApproval,
    AuditEntry,
    Feedback,
    SlackMessage,
    ProcessedEvent,
    Guidance,
    TrainingRun,
    ModelVersion,
]
