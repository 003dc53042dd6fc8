"""Evolver guidance: corrective notes learned from failed investigations, retrieved by similarity.

Notes are soft-deleted (``removed_at``) so a reviewer's removal is itself on record; retrieval and
listing skip removed notes unless asked. Similarity is cosine over the stored embedding vectors,
computed here in Python: the store has hundreds of notes, not millions, and needs no vector index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select

from aoi.store.db import Store
from aoi.store.errors import InvalidValueError
from aoi.store.models import Guidance
from aoi.store.sql import checked_text, get_or_raise, optional_text
from aoi.store.types import json_value, new_id, utcnow


def _vector(embedding: Sequence[float], what: str) -> list[float]:
    try:
        vector = [float(x) for x in embedding]
    except (TypeError, ValueError):
        raise InvalidValueError(f"{what} must be a sequence of numbers") from None
    if not vector or not all(math.isfinite(x) for x in vector):
        raise InvalidValueError(f"{what} must be a non-empty list of finite floats")
    return vector


def add_guidance(
    store: Store,
    *,
    symptoms: str,
    note: str,
    repaired_plan: list[Any] | dict[str, Any],
    embedding: Sequence[float],
    embedding_model: str | None = None,
    source_trajectory_id: str | None = None,
    source_investigation_id: str | None = None,
) -> Guidance:
    """Store a guidance note with the embedding of its symptoms (a list of floats)."""
    row = Guidance(
        id=new_id("gd"),
        symptoms=checked_text(symptoms, "guidance symptoms", 100_000),
        note=checked_text(note, "guidance note", 100_000),
        repaired_plan=json_value(repaired_plan, "repaired plan"),
        embedding=_vector(embedding, "guidance embedding"),
        embedding_model=optional_text(embedding_model, "embedding model", 128),
        source_trajectory_id=optional_text(source_trajectory_id, "source trajectory id", 64),
        source_investigation_id=optional_text(source_investigation_id, "source investigation id", 40),
        created_at=utcnow(),
    )
    with store.transaction(write=True) as session:
        session.add(row)
    return row


def get_guidance(store: Store, guidance_id: str) -> Guidance:
    """One note by id, removed or not (``NotFoundError`` if none)."""
    with store.transaction() as session:
        return get_or_raise(session, Guidance, guidance_id, "guidance")


def list_guidance(store: Store, *, include_removed: bool = False, limit: int = 1000) -> list[Guidance]:
    """Notes, newest first."""
    statement = select(Guidance)
    if not include_removed:
        statement = statement.where(col(Guidance.removed_at).is_(None))
    statement = statement.order_by(col(Guidance.created_at).desc()).limit(limit)
    with store.transaction() as session:
        return list(session.exec(statement).all())


def remove_guidance(store: Store, guidance_id: str, *, actor: str) -> Guidance:
    """Take a note out of retrieval (kept on record with who removed it and when); idempotent."""
    with store.transaction(write=True) as session:
        row = get_or_raise(session, Guidance, guidance_id, "guidance", lock=True)
        if row.removed_at is None:
            row.removed_at = utcnow()
            row.removed_by = checked_text(actor, "actor", 128)
            session.add(row)
        return row


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity in [-1, 1]; 0 when either vector is all zeros."""
    if len(a) != len(b):
        raise InvalidValueError(f"embeddings differ in length ({len(a)} vs {len(b)}): same model expected")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def find_similar_guidance(
    store: Store,
    embedding: Sequence[float],
    *,
    k: int = 3,
    min_score: float = 0.0,
    embedding_model: str | None = None,
    include_removed: bool = False,
) -> list[tuple[Guidance, float]]:
    """The ``k`` live notes (and removed ones with ``include_removed``) whose symptom embedding is
    closest to ``embedding``, best first.

    Notes embedded with a different model (when ``embedding_model`` is given) or a different
    dimension are skipped rather than compared meaninglessly.
    """
    query = _vector(embedding, "query embedding")
    scored: list[tuple[Guidance, float]] = []
    for row in list_guidance(store, include_removed=include_removed, limit=100_000):
        if embedding_model is not None and row.embedding_model not in (None, embedding_model):
            continue
        if len(row.embedding) != len(query):
            continue
        score = cosine(query, row.embedding)
        if score >= min_score:
            scored.append((row, score))
    scored.sort(key=lambda pair: pair[1], reverse=True)
    return scored[:k]
