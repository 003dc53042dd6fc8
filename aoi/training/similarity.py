"""Deterministic text and structure similarity for the reward judge and the purifier.

Why not an LLM judge: rewards are computed for every sampled completion of every GRPO step, so they
must be cheap, pure and reproducible. Lexical overlap (token F1 blended with character-trigram
cosine, which tolerates inflections and typos) is a good enough proxy for "says the same thing" on
short SRE texts. All functions return a float in [0, 1]; two empty inputs are identical (1.0).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; resource names such as ``geo-7f9c`` or ``user_db`` stay whole."""
    return _TOKEN.findall(text.lower())


def token_f1(a: str, b: str) -> float:
    """F1 of the two token multisets (order-insensitive)."""
    ta, tb = Counter(tokens(a)), Counter(tokens(b))
    if not ta and not tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    common = sum((ta & tb).values())
    if common == 0:
        return 0.0
    precision = common / sum(ta.values())
    recall = common / sum(tb.values())
    return 2 * precision * recall / (precision + recall)


def _trigrams(text: str) -> Counter[str]:
    padded = f"  {' '.join(tokens(text))}  "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def trigram_cosine(a: str, b: str) -> float:
    """Cosine similarity of character-trigram count vectors."""
    ca, cb = _trigrams(a), _trigrams(b)
    if not tokens(a) and not tokens(b):
        return 1.0
    if not tokens(a) or not tokens(b):
        return 0.0
    dot = sum(count * cb[gram] for gram, count in ca.items())
    norm = math.sqrt(sum(v * v for v in ca.values())) * math.sqrt(sum(v * v for v in cb.values()))
    return dot / norm if norm else 0.0


def text_similarity(a: str, b: str) -> float:
    """The judge's default text similarity: mean of token F1 and trigram cosine."""
    return 0.5 * token_f1(a, b) + 0.5 * trigram_cosine(a, b)


def normalise_name(name: str) -> str:
    """Resource names compare case-insensitively, ignoring a ``kind/`` prefix and surrounding space."""
    name = name.strip().lower()
    return name.split("/", 1)[1] if "/" in name else name


def set_f1(predicted: Iterable[str], expected: Iterable[str]) -> float:
    """F1 between two sets of resource names (normalised with :func:`normalise_name`)."""
    p = {normalise_name(x) for x in predicted if str(x).strip()}
    e = {normalise_name(x) for x in expected if str(x).strip()}
    if not p and not e:
        return 1.0
    if not p or not e:
        return 0.0
    common = len(p & e)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(e)
    return 2 * precision * recall / (precision + recall)


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts/lists → ``{"a.b[0]": "text"}`` so that arguments compare key by key."""
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in value):
            out[prefix] = " ".join(sorted(str(item).lower() for item in value))
        else:
            for index, item in enumerate(value):
                out.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix] = "" if value is None else str(value).lower()
    return out


def args_similarity(predicted: Mapping[str, Any], expected: Mapping[str, Any]) -> float:
    """Key-wise agreement of two argument dicts, as an F1 over keys weighted by value similarity.

    Each key present in both contributes the similarity of its values (exact match 1.0, otherwise
    :func:`text_similarity`); keys present in only one side count as misses for precision/recall.
    """
    p, e = _flatten(dict(predicted)), _flatten(dict(expected))
    if not p and not e:
        return 1.0
    if not p or not e:
        return 0.0
    matched = 0.0
    for key in p.keys() & e.keys():
        matched += 1.0 if p[key] == e[key] else text_similarity(p[key], e[key])
    if matched == 0.0:
        return 0.0
    precision, recall = matched / len(p), matched / len(e)
    return 2 * precision * recall / (precision + recall)
