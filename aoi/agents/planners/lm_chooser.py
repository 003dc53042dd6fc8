"""The transformers side of constrained decoding: score candidate continuations with one KV cache.

Why a cache: the prompt is ~1,000 tokens and a step has a dozen choice points with up to ~80
candidates each; re-reading the prompt per candidate would cost minutes on 2 CPU cores. The prompt
is run once; each candidate then costs a forward over its own few tokens (the cache is cropped back
after each), so a whole constrained step costs about what greedy decoding of the same JSON does.

Scores are exact sequence log-probabilities of the *canonical* tokenization — the text so far plus
the candidate is re-tokenized as a whole, as the training rows were — from the first token where the
candidates diverge. A candidate that must end a JSON string adds the log-probability that the next
token starts with a quote (the model's "the name ends here"); one that must end a bare value, the
probability of ``,`` ``}`` ``]``. That is what separates ``user`` from ``user-service``.

This module uses only tensor methods (``log_softmax``, indexing) and the model's own cache object,
never ``import torch`` — the agents layer stays importable without the training stack.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aoi.agents.planners.step_grammar import End


class LmChooser:
    """``LmChooser(model, tokenizer, prompt_ids)`` scores continuations of one prompt (one step)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt_ids: Any,
        reuse: LmChooser | None = None,
        *,
        sampler: random.Random | None = None,
        temperature: float = 1.0,
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.sampler = sampler  # None: greedy (the exact arg-max); else sample with ``temperature``
        self.temperature = temperature
        self.model = model
        self.tokenizer = tokenizer
        self._prompt_ids = prompt_ids  # tensor [1, n]
        self._tokens: list[int] = []  # completion tokens held in the cache
        self._logprobs: list[Any] = []  # [i] = log-probs of completion token i (after prompt + tokens[:i])
        self._cache: Any = None
        self.forwards = 0
        self._best: tuple[int, float] = (0, float("-inf"))
        classes = _token_classes(tokenizer)
        self._ends = classes.ends
        self._digit_ids = classes.digit_ids
        self._banned_in_strings = classes.banned_in_strings
        self._quote_ids = classes.quote_ids
        self._eos = tokenizer.eos_token_id
        # transformers ≥ 5.2x names the cache argument ``cache`` (``past_key_values`` is deprecated)
        parameters = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self._logprobs = [self._read_prompt(reuse)]

    def _read_prompt(self, reuse: LmChooser | None) -> Any:
        """Run the prompt; with ``reuse`` (the previous step's chooser on the same model) only the
        part after the prompts' common prefix — within an investigation the system text, tools,
        schema and incident repeat, so that is about half of every prompt."""
        prompt = self._prompt_ids[0].tolist()
        start = 0
        if reuse is not None and reuse.model is self.model and reuse._cache is not None:
            held = reuse._prompt_ids[0].tolist() + reuse._tokens
            start = min(_common_prefix(held, prompt), len(prompt) - 1)
            if start > 0:
                self._cache = reuse._cache
                excess = int(self._cache.get_seq_length()) - start
                if excess > 0:
                    self._cache.crop(-excess)
            reuse._cache = None  # handed over: the old chooser can no longer use it
        rest = self._prompt_ids[:, start:]
        if start > 0:
            out = self.model(input_ids=rest, use_cache=True, **{self._cache_arg: self._cache})
        else:
            out = self.model(input_ids=rest, use_cache=True)
        self.forwards += 1
        self._cache = _cache_of(out)
        return out.logits[0, -1].float().log_softmax(-1)

    # ------------------------------------------------------------------ cache bookkeeping
    @property
    def completion_tokens(self) -> int:
        return len(self._tokens)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _crop(self, length: int) -> None:
        """Keep the first ``length`` completion tokens in the cache."""
        if length < len(self._tokens):
            self._truncate(length)
            del self._tokens[length:]
            del self._logprobs[length + 1 :]

    def _truncate(self, completion_length: int) -> None:
        """Drop cached positions after the prompt + ``completion_length`` tokens (a negative ``crop``
        removes that many tokens in every transformers version that has ``crop``)."""
        excess = int(self._cache.get_seq_length()) - int(self._prompt_ids.shape[-1]) - completion_length
        if excess > 0:
            self._cache.crop(-excess)

    def _extend(self, tokens: Sequence[int]) -> Any:
        """Run ``tokens`` after the cache; returns their per-position log-probs (for the next token)."""
        ids = self._prompt_ids.new_tensor([list(tokens)])
        out = self.model(input_ids=ids, use_cache=True, **{self._cache_arg: self._cache})
        self.forwards += 1
        self._cache = _cache_of(out)
        return out.logits[0].float().log_softmax(-1)

    def _sync(self, tokens: list[int]) -> None:
        """Make the cache hold exactly ``tokens`` as the completion."""
        common = _common_prefix(self._tokens, tokens)
        self._crop(common)
        if len(tokens) > common:
            logprobs = self._extend(tokens[common:])
            self._tokens.extend(tokens[common:])
            self._logprobs.extend(logprobs[i] for i in range(logprobs.shape[0]))

    # ------------------------------------------------------------------ Chooser
    def choose(self, text: str, candidates: Sequence[tuple[str, End]]) -> int:
        encoded = [self._encode(text + candidate) for candidate, _ in candidates]
        base = self._encode(text)
        shared = min(_common_prefix(base, tokens) for tokens in encoded)
        self._sync(base[:shared])
        trie = _Trie()
        for index, ((_, end), tokens) in enumerate(zip(candidates, encoded, strict=True)):
            trie.add(tokens[shared:], index, end)
        if self.sampler is not None:
            return self._sample(trie, self._logprobs[shared], shared)
        self._best = (0, float("-inf"))
        self._search(trie, self._logprobs[shared], 0.0, shared)
        return self._best[0]

    def _sample(self, node: _Trie, logprobs: Any, depth: int) -> int:
        """Walk the trie token by token, drawing each branch (or the end of a candidate) from the
        model's distribution restricted to what the grammar allows — constrained sampling, for k>1
        runs that differ the way a sampling LLM's do."""
        assert self.sampler is not None
        start = depth
        try:
            while True:
                options: list[tuple[float, int | None, Any]] = []  # (log-weight, token | None, payload)
                for index, end in node.leaves:
                    weight = float(logprobs[self._ends[end]].logsumexp(-1)) if end else 0.0
                    options.append((weight, None, index))
                for token, child in node.children.items():
                    options.append((float(logprobs[token]), token, child))
                weight, token, payload = self._draw(options)
                if token is None:
                    return int(payload)
                node = payload
                if not node.children and all(end is None for _, end in node.leaves):
                    return node.leaves[0][0]
                logprobs = self._extend([token])[-1]
                depth += 1
        finally:
            self._truncate(start)

    def _draw(self, options: Sequence[tuple[float, Any, Any]]) -> tuple[float, Any, Any]:
        assert self.sampler is not None
        top = max(weight for weight, _, _ in options)
        weights = [math.exp((weight - top) / self.temperature) for weight, _, _ in options]
        return self.sampler.choices(list(options), weights=weights)[0]

    def _search(self, node: _Trie, logprobs: Any, partial: float, depth: int) -> None:
        """Branch and bound over the candidates' token trie, most likely branch first.

        Every further token only lowers a score, so a branch whose partial score is already below the
        best complete candidate cannot win and is skipped: the result is the exact arg-max, usually
        after one forward per token of the winner."""
        for index, end in node.leaves:
            score = partial + (float(logprobs[self._ends[end]].logsumexp(-1)) if end else 0.0)
            if score > self._best[1]:
                self._best = (index, score)
        ranked = sorted(node.children.items(), key=lambda item: -float(logprobs[item[0]]))
        for token, child in ranked:
            score = partial + float(logprobs[token])
            if score <= self._best[1]:
                break
            if not child.children and all(end is None for _, end in child.leaves):
                self._search(child, None, score, depth + 1)  # leaves only: nothing more to read
                continue
            following = self._extend([token])[-1]
            self._search(child, following, score, depth + 1)
            self._truncate(depth)

    def generate(self, text: str, kind: Literal["string", "digits"], max_tokens: int) -> str:
        """Free text — a string's content up to its closing quote, or an integer's digits — greedy, or
        sampled from the 40 most likely allowed tokens when the chooser samples."""
        self._sync(self._encode(text))
        produced: list[int] = []
        for _ in range(max_tokens):
            logprobs = self._logprobs[len(self._tokens)]
            if self.sampler is not None:
                token = self._sample_token(logprobs, kind, bool(produced))
                if token is None:
                    break
                produced.append(token)
                self._sync([*self._tokens, token])
                continue
            if kind == "digits":
                allowed = logprobs[self._digit_ids]
                best = self._digit_ids[int(allowed.argmax())]
                ends = float(logprobs[self._ends["value"]].logsumexp(-1))
                if produced and ends > float(logprobs[best]):
                    break
            else:
                scores = logprobs.clone()
                scores[self._banned_in_strings] = float("-inf")
                best = int(scores.argmax())
                if (
                    best == self._eos
                    or best in self._quote_ids
                    or float(logprobs[self._ends["string"]].logsumexp(-1)) > float(logprobs[best])
                ):
                    break
            produced.append(best)
            self._sync([*self._tokens, best])
        return self.tokenizer.decode(produced, skip_special_tokens=True)

    def _sample_token(self, logprobs: Any, kind: Literal["string", "digits"], started: bool) -> int | None:
        """One sampled token of free text, or None for "the value ends here"."""
        scores = logprobs.clone()
        if kind == "digits":
            ends = float(logprobs[self._ends["value"]].logsumexp(-1))
            allowed = logprobs[self._digit_ids]
            values, positions = allowed.topk(min(10, allowed.shape[0]))
            options: list[tuple[float, int | None, None]] = [
                (float(v), self._digit_ids[int(i)], None) for v, i in zip(values, positions, strict=True)
            ]
            if started:
                options.append((ends, None, None))
            return self._draw(options)[1]
        scores[self._banned_in_strings] = float("-inf")
        values, positions = scores.topk(40)
        pairs = zip(values, positions, strict=True)
        token = self._draw([(float(v), int(i), None) for v, i in pairs if float(v) > -1e30])[1]
        return None if token == self._eos or token in self._quote_ids else token


class _Trie:
    """Candidates' token suffixes as a prefix tree; ``leaves`` end at this node."""

    __slots__ = ("children", "leaves")

    def __init__(self) -> None:
        self.children: dict[int, _Trie] = {}
        self.leaves: list[tuple[int, End]] = []

    def add(self, tokens: Sequence[int], index: int, end: End) -> None:
        node = self
        for token in tokens:
            node = node.children.setdefault(token, _Trie())
        node.leaves.append((index, end))


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class _TokenClasses:
    """The vocabulary sorted into what the grammar needs, computed once per tokenizer (a pass over
    ~49k decoded tokens is too slow to repeat on every step)."""

    tokenizer: Any  # held so that the id() key below cannot be reused by another object
    ends: dict[str, Any]  # "string": ids starting with a quote; "value": starting with , } ] (tensors)
    quote_ids: frozenset[int]
    digit_ids: list[int]
    banned_in_strings: list[int]  # a backslash, a newline or a quote after the first character


_TOKEN_CLASSES: dict[int, _TokenClasses] = {}


def _token_classes(tokenizer: Any) -> _TokenClasses:
    key = id(tokenizer)
    if key not in _TOKEN_CLASSES:
        vocab = [(i, tokenizer.decode([i], skip_special_tokens=False)) for i in range(len(tokenizer))]
        quote = [i for i, text in vocab if text.startswith('"')]
        value = [i for i, text in vocab if text[:1] in (",", "}", "]")]
        ids = tokenizer("x", return_tensors="pt")["input_ids"]  # a tensor to build index tensors from
        _TOKEN_CLASSES[key] = _TokenClasses(
            tokenizer=tokenizer,
            ends={"string": ids.new_tensor(quote), "value": ids.new_tensor(value)},
            quote_ids=frozenset(quote),
            digit_ids=[i for i, text in vocab if text and text.isdigit()],
            banned_in_strings=[i for i, text in vocab if "\\" in text or "\n" in text or '"' in text[1:]],
        )
    return _TOKEN_CLASSES[key]
