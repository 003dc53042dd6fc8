"""The probe form of plans and notes: a tool's name, a space, its arguments as one JSON object.

``get_logs {"name": "cart", "namespace": "shop", "tail": 100}`` — how the Evolver writes the steps of a
repaired plan, how a guidance note names the probes a planner may act on, and how an operator writes
one by hand. One writer (:func:`format_call`) and one reader (:func:`read_calls`) so that the three
readers that once had their own regular expressions (the heuristic planner's guidance, the library's
tie rule, the bench's guidance follower) agree on what a probe is.

The reader knows no tool schemas: a caller that runs what it reads checks the tool and its arguments
itself (``heuristic.guidance.parse_probes``).
"""

from __future__ import annotations

import json
import re
from typing import Any

# a lower-case name not glued to a word or a dash before it, then one space and an opening brace
_NAME = re.compile(r"(?<![\w-])([a-z][a-z0-9_]*) (?=\{)")


def format_call(tool: str, args: dict[str, Any]) -> str:
    """``tool {json}`` with sorted keys: the same call always reads the same."""
    return f"{tool} {json.dumps(args, sort_keys=True)}"


def read_calls(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Every well-formed ``tool {json}`` in ``text``, in order, each once.

    Prose around and between calls is ignored; a call whose JSON does not parse (cut off by a
    length limit, or not JSON at all) or is not an object is skipped."""
    decoder = json.JSONDecoder()
    found: list[tuple[str, dict[str, Any]]] = []
    for match in _NAME.finditer(text):
        try:
            args, _end = decoder.raw_decode(text, match.end())
        except json.JSONDecodeError:
            continue
        if isinstance(args, dict) and (match.group(1), args) not in found:
            found.append((match.group(1), args))
    return found
