"""Training runs and the model registry, with promotion and rollback as single transactions.

At most one model per name is ``promoted`` (a partial unique index enforces it); ``promote_model``
retires the current one and promotes the new one atomically, and ``rollback_model`` re-promotes the
most recently promoted earlier version, so serving never sees zero or two promoted models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from aoi.store.db import Store
from aoi.store.enums import ModelStatus, TrainingKind, TrainingStatus
from aoi.store.errors import InvalidTransitionError
from aoi.store.models import ModelVersion, TrainingRun
from aoi.store.repo_audit import add_audit_in
from aoi.store.sql import checked_text, get_or_raise, optional_text
from aoi.store.types import json_value, new_id, parse_enum, utcnow


def start_training_run(
    store: Store,
    *,
    kind: TrainingKind | str,
    dataset_hash: str,
    config: dict[str, Any],
    base_model: str | None = None,
    output_dir: str | None = None,
) -> TrainingRun:
    """Record that a training run started (status ``running``)."""
    run = TrainingRun(
        id=new_id("run"),
        kind=parse_enum(TrainingKind, kind, "training kind").value,
        status=TrainingStatus.RUNNING.value,
        dataset_hash=checked_text(dataset_hash, "dataset hash", 128),
        base_model=optional_text(base_model, "base model", 256),
        config=json_value(config, "training config"),
        metrics={},
        output_dir=output_dir,
        started_at=utcnow(),
    )
    with store.transaction(write=True) as session:
        session.add(run)
    return run


def finish_training_run(
    store: Store, run_id: str, *, succeeded: bool, metrics: dict[str, Any], error: str | None = None
) -> TrainingRun:
    """Record a run's outcome and metrics; only a ``running`` run can finish."""
    with store.transaction(write=True) as session:
        run = get_or_raise(session, TrainingRun, run_id, "training run", lock=True)
        if run.status != TrainingStatus.RUNNING:
            raise InvalidTransitionError(f"training run {run_id} already finished as {run.status!r}")
        run.status = (TrainingStatus.SUCCEEDED if succeeded else TrainingStatus.FAILED).value
        run.metrics = json_value(metrics, "training metrics")
        run.error = error
        run.finished_at = utcnow()
        session.add(run)
        return run


def list_training_runs(
    store: Store, *, kind: TrainingKind | str | None = None, limit: int = 50
) -> list[TrainingRun]:
    """Newest first."""
    statement = select(TrainingRun)
    if kind is not None:
        statement = statement.where(TrainingRun.kind == parse_enum(TrainingKind, kind, "training kind").value)
    with store.transaction() as session:
        return list(session.exec(statement.order_by(col(TrainingRun.started_at).desc()).limit(limit)).all())


def register_model(
    store: Store,
    *,
    name: str,
    version: str,
    base_model: str,
    adapter_path: str | None = None,
    dataset_hash: str | None = None,
    training_run_id: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """Add a ``candidate`` model version (``IntegrityError`` if name+version already exists)."""
    row = ModelVersion(
        id=new_id("mdl"),
        name=checked_text(name, "model name", 128),
        version=checked_text(version, "model version", 64),
        base_model=checked_text(base_model, "base model", 256),
        adapter_path=adapter_path,
        dataset_hash=optional_text(dataset_hash, "dataset hash", 128),
        training_run_id=training_run_id,
        metrics=json_value(metrics or {}, "model metrics"),
        status=ModelStatus.CANDIDATE.value,
        created_at=utcnow(),
    )
    with store.transaction(write=True) as session:
        if training_run_id is not None:
            get_or_raise(session, TrainingRun, training_run_id, "training run")
        session.add(row)
    return row


def get_model(store: Store, model_id: str) -> ModelVersion:
    """One registry row by id (``NotFoundError`` if none)."""
    with store.transaction() as session:
        return get_or_raise(session, ModelVersion, model_id, "model")


def find_model(store: Store, name: str, version: str) -> ModelVersion | None:
    """The registry row for ``name`` at ``version``, if any."""
    with store.transaction() as session:
        statement = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
        return session.exec(statement).first()


def promoted_model(store: Store, name: str) -> ModelVersion | None:
    """The model currently promoted (served) under ``name``, if any."""
    with store.transaction() as session:
        return _promoted(session, name)


def _promoted(session: Session, name: str) -> ModelVersion | None:
    statement = select(ModelVersion).where(
        ModelVersion.name == name, ModelVersion.status == ModelStatus.PROMOTED.value
    )
    return session.exec(statement.with_for_update()).first()


def list_models(store: Store, *, name: str | None = None, limit: int | None = None) -> list[ModelVersion]:
    """Registry rows, newest first (all of them unless ``limit``)."""
    statement = select(ModelVersion)
    if name is not None:
        statement = statement.where(ModelVersion.name == name)
    statement = statement.order_by(col(ModelVersion.created_at).desc())
    if limit is not None:
        statement = statement.limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())


def promote_model(store: Store, model_id: str, *, actor: str = "retrain-job") -> ModelVersion:
    """Promote a model, retiring the one currently promoted under the same name, atomically."""
    with store.transaction(write=True) as session:
        row = get_or_raise(session, ModelVersion, model_id, "model", lock=True)
        if row.status == ModelStatus.PROMOTED:
            return row
        current = _promoted(session, row.name)
        _switch(session, current, row, actor, "model.promoted")
        return row


def rollback_model(
    store: Store, name: str, *, actor: str = "cli", check: Callable[[ModelVersion], None] | None = None
) -> ModelVersion:
    """Retire the promoted model of ``name`` and re-promote the newest earlier-registered version
    that was ever promoted. Repeated rollbacks walk further back in time, never ping-pong.

    ``check`` sees the version about to be re-promoted inside the transaction; raising refuses the
    rollback with nothing changed (the registry checks its adapter folder is still on disk)."""
    with store.transaction(write=True) as session:
        current = _promoted(session, name)
        if current is None:
            raise InvalidTransitionError(f"no model named {name!r} is promoted; nothing to roll back")
        previous = session.exec(
            select(ModelVersion)
            .where(ModelVersion.name == name, ModelVersion.id != current.id)
            .where(col(ModelVersion.created_at) < current.created_at)
            .where(col(ModelVersion.promoted_at).is_not(None))
            .order_by(col(ModelVersion.promoted_at).desc())
            .with_for_update()
        ).first()
        if previous is None:
            raise InvalidTransitionError(
                f"model {name!r} has no earlier promoted version to roll back to (current: {current.version})"
            )
        if check is not None:
            check(previous)
        _switch(session, current, previous, actor, "model.rolled_back")
        return previous


def _switch(session: Session, old: ModelVersion | None, new: ModelVersion, actor: str, action: str) -> None:
    now = utcnow()
    if old is not None:
        old.status = ModelStatus.RETIRED.value
        old.retired_at = now
        session.add(old)
        session.flush()  # the partial unique index must see the old one retired first
    new.status = ModelStatus.PROMOTED.value
    new.promoted_at = now
    new.retired_at = None
    session.add(new)
    session.flush()
    add_audit_in(
        session,
        actor=actor,
        action=action,
        details={"name": new.name, "from": old.version if old else None, "to": new.version},
    )
