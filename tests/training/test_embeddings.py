"""Symptom embeddings: the hashing fallback is deterministic and lexical; MiniLM is semantic."""

from __future__ import annotations

import pytest

from aoi.training.embeddings import HashingEmbedder, MiniLMEmbedder, make_embedder


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_hashing_embedder_is_deterministic_normalised_and_lexical() -> None:
    embedder = HashingEmbedder(dim=256)
    a, b, c = embedder.embed(
        [
            "geo pods CrashLoopBackOff, connection refused to mongodb-geo",
            "connection refused to mongodb-geo from geo pods",
            "frontend latency p99 above 2s",
        ]
    )
    assert a == embedder.embed(["geo pods CrashLoopBackOff, connection refused to mongodb-geo"])[0]
    assert _dot(a, a) == pytest.approx(1.0)
    assert _dot(a, b) > 0.5 > _dot(a, c)
    assert embedder.name == "hashing-bow-256"


def test_empty_text_embeds_to_zero_vector() -> None:
    assert set(HashingEmbedder(dim=32).embed([""])[0]) == {0.0}


def test_unknown_embedder_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'minilm' or 'hashing'"):
        make_embedder("bert")


@pytest.mark.slow
def test_minilm_embedder_puts_paraphrases_closer_than_unrelated_text() -> None:
    embedder = MiniLMEmbedder()
    a, b, c = embedder.embed(
        [
            "the service cannot connect to its database",
            "database connection refused",
            "disk is full on node 3",
        ]
    )
    assert len(a) == 384
    assert _dot(a, b) > _dot(a, c)
