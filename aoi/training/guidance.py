"""Evolver guidance in the store: file notes under an embedding, retrieve the closest for the Observer.

The Observer calls its guidance source with the incident text when an investigation starts, and again
with the error lines its probes have seen from its third probe on (``Observer(..., guidance=callable)``,
``Callable[[str], list[str]]``); the composition root builds that callable here, because ``agents``
may not import ``training``. Notes are embedded by their *symptoms* (``aoi.agents.symptoms``): the
incident text plus the error lines the failed run's probes saw. A query with the incident text alone
still lands near its incident's notes; a query that adds what the first probes showed tells apart
faults whose incident texts are alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from aoi.agents.probe_form import read_calls
from aoi.agents.symptoms import NO_INCIDENT
from aoi.store import repo
from aoi.store.db import Store
from aoi.store.models import Guidance
from aoi.training.embeddings import Embedder
from aoi.training.evolver import Evolution
from aoi.training.similarity import normalise_name

GuidanceSource = Callable[[str], list[str]]
DUPLICATE_SCORE = 0.97
TIE_SCORE = 0.01  # notes this much less close than the closest are as close as it
TIES = 5  # how many of the closest notes are compared for a tie


_POD_SUFFIX = re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$")  # a Deployment's pod: <name>-<rs hash>-<id>


def _lead(row: Guidance) -> str:
    """What a note's repaired plan does first: its first Diagnosis probe as the tool and the object it
    names (case, namespace, a pod's generated suffix and other arguments such as ``tail`` ignored, so
    two notes of one fault from different runs agree), else the step's or the note's text."""
    plan = row.repaired_plan if isinstance(row.repaired_plan, dict) else {}
    diagnosis = plan.get("diagnosis")
    if not isinstance(diagnosis, list) or not diagnosis:
        return row.note
    first = str(diagnosis[0])
    calls = read_calls(first)
    if not calls:
        return first
    tool, args = calls[0]
    name = args.get("name")
    target = _POD_SUFFIX.sub("", normalise_name(name)) if isinstance(name, str) else ""
    return f"{tool} {target}"


def ambiguous(found: list[tuple[Guidance, float]]) -> bool:
    """Whether notes as close as the closest of ``found`` (a search, best first; within
    ``TIE_SCORE``) lead with different probes (``_lead``): the symptoms do not single a plan out."""
    if not found:
        return False
    best = found[0][1]
    return len({_lead(row) for row, score in found if score >= best - TIE_SCORE}) > 1


@dataclass(frozen=True)
class FiledNote:
    """The outcome of filing one evolution: the stored row, or the existing near-duplicate."""

    guidance: Guidance
    duplicate: bool

    @property
    def removed(self) -> bool:
        """The note is a duplicate of one a reviewer removed: it stays out of retrieval."""
        return self.guidance.removed_at is not None


class GuidanceLibrary:
    """Store and retrieve guidance notes with one embedder (its ``name`` tags every vector)."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def _embed(self, text: str) -> list[float]:
        return self.embedder.embed([text.strip() or NO_INCIDENT])[0]  # as ``symptoms`` files it

    def file(self, evolution: Evolution) -> FiledNote:
        """Store the note; a note with the same text for near-identical symptoms is not stored twice.

        Removed notes count: a reviewer's ``aoi guidance rm`` must outlast the next Evolver pass over
        the same failures (the weekly job re-evolves a week), so the same note is not filed again
        (``FiledNote.removed``)."""
        vector = self._embed(evolution.symptoms)
        for row, _score in repo.find_similar_guidance(
            self.store,
            vector,
            k=5,
            min_score=DUPLICATE_SCORE,
            embedding_model=self.embedder.name,
            include_removed=True,
        ):
            if row.note == evolution.note:
                return FiledNote(row, duplicate=True)
        row = repo.add_guidance(
            self.store,
            symptoms=evolution.symptoms,
            note=evolution.note,
            repaired_plan={
                "patterns": evolution.patterns,
                "source": evolution.case.source,
                "reason": evolution.case.reason,
                **evolution.plan.to_json(),
            },
            embedding=vector,
            embedding_model=self.embedder.name,
            source_trajectory_id=evolution.case.trajectory.id,
            source_investigation_id=evolution.case.investigation_id,
        )
        return FiledNote(row, duplicate=False)

    def search(self, symptoms: str, k: int = 3, min_score: float = 0.35) -> list[tuple[Guidance, float]]:
        """The ``k`` closest live notes with their cosine scores, best first."""
        if k < 1:
            return []
        return repo.find_similar_guidance(
            self.store, self._embed(symptoms), k=k, min_score=min_score, embedding_model=self.embedder.name
        )

    def retrieve(
        self, symptoms: str, k: int = 3, min_score: float = 0.35, *, hide_ties: bool = True
    ) -> list[str]:
        """Just the note texts (what goes into ``PlannerContext.guidance``). With ``hide_ties``, none
        while the symptoms do not single a plan out: when notes as close as the closest (within
        ``TIE_SCORE``) lead with different probes, which one comes first is an accident of filing
        order, and a planner that follows a note as it is (the heuristic one) spends steps on another
        fault's probe. The Observer asks again once its probes have seen errors
        (``aoi.agents.symptoms``). A model planner that weighs notes against the evidence can be
        shown the tied notes instead (``hide_ties=False``)."""
        found = self.search(symptoms, max(k, TIES), min_score)
        if hide_ties and ambiguous(found):
            return []
        return [row.note for row, _ in found[:k]]

    def source(self, k: int = 3, min_score: float = 0.35, *, hide_ties: bool = True) -> GuidanceSource:
        """The callable handed to the Observer."""

        def retrieve_guidance(symptoms: str) -> list[str]:
            return self.retrieve(symptoms, k, min_score, hide_ties=hide_ties)

        return retrieve_guidance


def retrieve_guidance(store: Store, embedder: Embedder, symptoms: str, k: int = 3) -> list[str]:
    """One-shot retrieval: the ``k`` closest live guidance notes for ``symptoms``."""
    return GuidanceLibrary(store, embedder).retrieve(symptoms, k)
