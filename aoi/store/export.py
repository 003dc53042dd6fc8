"""Training export: investigations (with trajectories, proposals) and feedback rows as JSON Lines.

File format (one JSON object per line, each with a ``type``):
1. ``{"type": "export", "format": 1, "since": ..., "until": ..., "exported_at": ..., "counts": {...}}``
2. ``{"type": "investigation", "id", "incident_id", "incident_text", "status", "planner",
   "model_version", "trajectory", "diagnosis", "error", "created_at", "started_at", "finished_at",
   "proposals": [{"id", "action", "risk", "rule_id", "command", "status", "approvals_required",
   "decided_by", "decided_at", "reason", "result", "created_at", "finished_at"}]}`` — finished
   investigations (diagnosed or failed) created in ``[since, until)``.
3. ``{"type": "feedback", "id", "investigation_id", "proposal_id", "kind", "positive", "source",
   "actor", "reason", "created_at"}`` — feedback rows created in ``[since, until)``.
Timestamps are ISO 8601 with ``+00:00``. ``read_export`` validates a file back into records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlmodel import col, select

from aoi.store.db import Store
from aoi.store.enums import FeedbackKind, InvestigationStatus
from aoi.store.errors import InvalidValueError
from aoi.store.models import Feedback, Investigation, Proposal
from aoi.store.types import ensure_utc, utcnow

EXPORT_FORMAT = 1
_BATCH = 500


class ExportedProposal(BaseModel):
    id: str
    action: dict[str, Any]
    risk: str
    rule_id: str | None
    command: str
    status: str
    approvals_required: int
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    result: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


class ExportedInvestigation(BaseModel):
    type: Literal["investigation"] = "investigation"
    id: str
    incident_id: str | None
    incident_text: str
    status: str
    planner: str
    model_version: str | None
    trajectory: dict[str, Any] | None
    diagnosis: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    proposals: list[ExportedProposal]


class ExportedFeedback(BaseModel):
    type: Literal["feedback"] = "feedback"
    id: int
    investigation_id: str
    proposal_id: str | None
    kind: str
    positive: bool
    source: str
    actor: str
    reason: str | None
    created_at: datetime


class ExportHeader(BaseModel):
    type: Literal["export"] = "export"
    format: int
    since: datetime
    until: datetime
    exported_at: datetime
    counts: dict[str, int]


class ExportBundle(BaseModel):
    """A whole export file, parsed and validated."""

    header: ExportHeader
    investigations: list[ExportedInvestigation]
    feedback: list[ExportedFeedback]


def _investigations(store: Store, since: datetime, until: datetime) -> Iterator[ExportedInvestigation]:
    finished = [InvestigationStatus.DIAGNOSED.value, InvestigationStatus.FAILED.value]
    last: tuple[datetime, str] | None = None
    while True:  # keyset pagination: memory stays flat however large the table is
        statement = (
            select(Investigation)
            .where(col(Investigation.status).in_(finished))
            .where(col(Investigation.created_at) >= since, col(Investigation.created_at) < until)
        )
        if last is not None:
            statement = statement.where(
                (col(Investigation.created_at) > last[0])
                | ((col(Investigation.created_at) == last[0]) & (col(Investigation.id) > last[1]))
            )
        statement = statement.order_by(col(Investigation.created_at), col(Investigation.id)).limit(_BATCH)
        with store.transaction() as session:
            batch = list(session.exec(statement).all())
            ids = [row.id for row in batch]
            proposals = session.exec(
                select(Proposal)
                .where(col(Proposal.investigation_id).in_(ids))
                .order_by(col(Proposal.created_at))
            ).all()
        by_investigation: dict[str, list[ExportedProposal]] = {}
        for proposal in proposals:
            exported = ExportedProposal.model_validate(proposal.model_dump())
            by_investigation.setdefault(proposal.investigation_id, []).append(exported)
        for row in batch:
            yield ExportedInvestigation.model_validate(
                {**row.model_dump(), "proposals": by_investigation.get(row.id, [])}
            )
        if len(batch) < _BATCH:
            return
        last = (batch[-1].created_at, batch[-1].id)


def _feedback(store: Store, since: datetime, until: datetime) -> Iterator[ExportedFeedback]:
    last_id = 0
    while True:
        statement = (
            select(Feedback)
            .where(col(Feedback.created_at) >= since, col(Feedback.created_at) < until)
            .where(col(Feedback.id) > last_id)
            .order_by(col(Feedback.id))
            .limit(_BATCH)
        )
        with store.transaction() as session:
            batch = list(session.exec(statement).all())
        for row in batch:
            positive = FeedbackKind(row.kind).positive
            yield ExportedFeedback.model_validate({**row.model_dump(), "positive": positive})
        if len(batch) < _BATCH:
            return
        last_id = batch[-1].id or last_id


def export_training_data(
    store: Store, path: Path, *, since: datetime, until: datetime | None = None
) -> dict[str, int]:
    """Write the export file (see the module docstring) atomically; returns the row counts.

    The file is written next to ``path`` and renamed into place, so a reader never sees half a file.
    """
    since = ensure_utc(since, "since")
    until = ensure_utc(until, "until") if until is not None else utcnow()
    if since >= until:
        raise InvalidValueError(
            f"export window is empty: since {since.isoformat()} is not before {until.isoformat()}"
        )
    if path.is_dir():
        raise InvalidValueError(
            f"{path} is a folder: give the export a file name (e.g. {path / 'export.jsonl'})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    body = path.with_name(path.name + ".body.tmp")
    final = path.with_name(path.name + ".tmp")
    counts = {"investigations": 0, "feedback": 0}
    try:
        with body.open("w", encoding="utf-8") as out:
            for investigation in _investigations(store, since, until):
                out.write(investigation.model_dump_json() + "\n")
                counts["investigations"] += 1
            for feedback in _feedback(store, since, until):
                out.write(feedback.model_dump_json() + "\n")
                counts["feedback"] += 1
        header = ExportHeader(
            format=EXPORT_FORMAT, since=since, until=until, exported_at=utcnow(), counts=counts
        )
        with final.open("w", encoding="utf-8") as out, body.open("r", encoding="utf-8") as rows:
            out.write(header.model_dump_json() + "\n")
            for line in rows:
                out.write(line)
        final.replace(path)
    finally:  # a failed write leaves no half files behind
        body.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
    return counts


def read_export(path: Path) -> ExportBundle:
    """Parse and validate an export file; errors name the file, line and field."""
    header: ExportHeader | None = None
    investigations: list[ExportedInvestigation] = []
    feedback: list[ExportedFeedback] = []
    with path.open("r", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
                kind = record.get("type") if isinstance(record, dict) else None
                if kind == "export" and number == 1:
                    header = ExportHeader.model_validate(record)
                elif kind == "investigation":
                    investigations.append(ExportedInvestigation.model_validate(record))
                elif kind == "feedback":
                    feedback.append(ExportedFeedback.model_validate(record))
                else:
                    raise InvalidValueError(
                        f"{where}: expected an object with type 'investigation' or 'feedback' "
                        f"(and 'export' on line 1), got {kind!r}"
                    )
            except json.JSONDecodeError as exc:
                raise InvalidValueError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
            except ValidationError as exc:
                raise InvalidValueError(f"{where}: invalid {kind} record: {exc}") from None
    if header is None:
        raise InvalidValueError(
            f"{path}: missing the export header line (type 'export') — is this an AOI export?"
        )
    if header.format != EXPORT_FORMAT:
        raise InvalidValueError(f"{path}: export format {header.format} is not the supported {EXPORT_FORMAT}")
    return ExportBundle(header=header, investigations=investigations, feedback=feedback)
