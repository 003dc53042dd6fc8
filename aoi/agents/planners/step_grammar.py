"""Grammar-constrained decoding of one Observer step: the model fills every slot, the grammar keeps it valid.

Why: a 135M-parameter model writes the step JSON wrong often enough (a misplaced quote, an invented
tool, the prompt example's namespace copied verbatim, an argument name that does not exist) that the
investigation dies on format, not on judgement. Serving stacks solve this with constrained decoding
(llama.cpp grammars, vLLM guided JSON): the model may only emit text the schema allows. This module
is that grammar for the step schema, written against the context the Observer gives the planner:

- ``action_type`` is one of probe / submit, and propose only on tasks that may change the cluster
  (mitigation or untyped incidents); with one step left only submit is allowed — the budget line of
  the prompt says so, the grammar enforces it;
- a probe's ``tool`` is one the Observer holds, its argument *names* come from that tool's JSON
  schema (required ones always, optional ones where the model chooses them), booleans are
  true/false, integers are digits;
- names (namespaces, pods, services, deployments — in arguments, ``faulty_components``, remediation
  targets) are chosen among the names the investigation has *seen*: the incident text, earlier
  arguments and earlier tool outputs. A name the cluster never showed could not be right, and
  restricting to seen names is what stops a small model from copying names out of the prompt's
  examples. Free text (the summary, a PromQL query, a grep pattern) is generated freely up to the
  closing quote;
- ``system_level`` / ``fault_type`` come from the AIOpsLab taxonomy the graders use; remediation
  verbs and their parameters from the policy's whitelist;
- an exact repeat of an earlier probe is refused (the prompt's "never repeat a probe" rule) by
  decoding the tool again without it.

The text is laid out exactly as the training rows' completions (``aoi.training.datasets.step_json``:
``json.dumps`` key order and separators), so what SFT/GRPO taught the model is what is scored here.

Contract: ``decode_step(chooser, grammar, context) -> str`` returns the step's JSON text. All the
model work goes through a ``Chooser`` (``choose`` among candidate continuations, ``generate`` free
text), so this module is pure Python and is tested with scripted choosers; the transformers one is
``aoi.agents.planners.lm_chooser``. Every decision is the model's (the highest-scoring candidate);
nothing here looks at what the answer should be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from aoi.agents.planners.base import PlannerContext
from aoi.sim.faults.catalogue import FaultType, SystemLevel

End = Literal["string", "value"] | None
"""How a chosen candidate must end: ``"string"`` — the model must be about to close a JSON string
(next token starts with a quote); ``"value"`` — about to end a bare value (``,`` ``}`` ``]``); None —
the candidate is complete text."""

# the taxonomy the graders use, from the fault catalogue that defines it (one source of truth)
SYSTEM_LEVELS: tuple[str, ...] = get_args(SystemLevel)
FAULT_TYPES: tuple[str, ...] = get_args(FaultType)
CONFIDENCES = ("0.3", "0.5", "0.7", "0.9")
PROPOSING_TASKS = (None, "mitigation")
MAX_COMPONENTS = 3
MAX_REMEDIATIONS = 2
MAX_NAMES = 80
SUMMARY_TOKENS = 24
FREE_TEXT_TOKENS = 64
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_NAME_IN_TEXT = re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)+\b")
_NAMESPACE_IN_TEXT = re.compile(r"namespace[s]?\s+[\"'`]?([a-z0-9][a-z0-9-]*[a-z0-9])")
_LABEL_VALUE = re.compile(r'\b(?:service|peer_service|deployment|pod|container|name|job|app)="([^"]+)"')
_NAME_ARGS = ("name", "service", "object_name", "target", "container")


class Chooser(Protocol):
    """The model side of constrained decoding (``lm_chooser.LmChooser`` is the real one)."""

    def choose(self, text: str, candidates: Sequence[tuple[str, End]]) -> int:
        """Index of the candidate the model rates most likely to follow ``text``."""
        ...

    def generate(self, text: str, kind: Literal["string", "digits"], max_tokens: int) -> str:
        """Free continuation of ``text``: a JSON string's content (stops before the closing quote)
        or an integer's digits."""
        ...


@dataclass(frozen=True)
class Param:
    """One argument of a tool or a verb: its name, JSON type and whether it must be given."""

    name: str
    type: Literal["string", "integer", "boolean", "other"]
    required: bool


@dataclass(frozen=True)
class StepGrammar:
    """What a step may contain for one Observer: tools and verbs with their parameters."""

    tools: Mapping[str, tuple[Param, ...]]
    verbs: Mapping[str, tuple[Param, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, tool_schemas: Mapping[str, Mapping[str, Any]], verbs: Mapping[str, Sequence[Param]]
    ) -> StepGrammar:
        return cls(
            tools={name: schema_params(schema) for name, schema in tool_schemas.items()},
            verbs={verb: tuple(params) for verb, params in verbs.items() if _decodable(params)},
        )


def _decodable(params: Sequence[Param]) -> bool:
    """A verb whose required parameters include a map or list cannot be written by this grammar."""
    return all(p.type != "other" for p in params if p.required)


def schema_params(schema: Mapping[str, Any]) -> tuple[Param, ...]:
    """A tool's JSON schema → its parameters in schema order (the order the training rows use)."""
    required = set(schema.get("required", []))
    params = []
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        json_type: Literal["string", "integer", "boolean", "other"] = (
            kind if kind in ("string", "integer", "boolean") else "other"
        )
        params.append(Param(name, json_type, name in required))
    return tuple(params)


def policy_verb_params(policy: Any) -> dict[str, tuple[Param, ...]]:
    """Verbs of a policy (duck-typed: ``rules`` with ``verb`` and ``params`` specs) → their parameters.

    int specs are integers, str/text/quantity specs strings, maps and lists ``other`` (a verb needing
    one is left out of the grammar)."""
    kinds = {"int": "integer", "str": "string", "text": "string", "quantity": "string"}
    verbs: dict[str, tuple[Param, ...]] = {}
    for rule in getattr(policy, "rules", []):
        if rule.verb in verbs:
            continue
        params = []
        for name, spec in (getattr(rule, "params", {}) or {}).items():
            kind = kinds.get(getattr(spec, "type", ""), "other")
            required = bool(getattr(spec, "required", False)) and getattr(spec, "default", None) is None
            params.append(Param(name, kind, required))  # type: ignore[arg-type]
        verbs[rule.verb] = tuple(params)
    return verbs


# ----------------------------------------------------------------------------- names seen so far
@dataclass(frozen=True)
class SeenNames:
    """Names the investigation has seen, most recent evidence first."""

    namespaces: tuple[str, ...]
    entities: tuple[str, ...]


def seen_names(context: PlannerContext) -> SeenNames:
    """Namespaces and resource names from the incident, earlier arguments and earlier tool outputs.

    Table outputs (``kubectl get``) contribute their first column, metric and trace outputs their
    ``service="…"``-style label values; an incident contributes its ``namespace X`` and its
    hyphenated words. Nothing else is read (no ground truth exists in a context)."""
    namespaces: list[str] = []
    entities: list[str] = []
    for item in reversed(context.history):
        args = item.step.args or {}
        if isinstance(args.get("namespace"), str):
            namespaces.append(args["namespace"])
        for key in _NAME_ARGS:
            if isinstance(args.get(key), str):
                entities.append(args[key])
        result = item.result
        if result is None or result.status != "ok" or not result.output:
            continue
        names = list(_table_names(result.output)) + _LABEL_VALUE.findall(result.output)
        if item.step.tool == "get_namespaces":
            namespaces.extend(names)
        else:
            entities.extend(names)
    namespaces.extend(_NAMESPACE_IN_TEXT.findall(context.incident))
    entities.extend(_NAME_IN_TEXT.findall(context.incident.lower()))
    clean_namespaces = _unique(n for n in namespaces if _NAME.match(n))
    if not clean_namespaces:
        clean_namespaces = [w for w in _unique(entities) if "-" in w][:5]
    clean_entities = [n for n in _unique(entities) if _NAME.match(n) and n not in clean_namespaces]
    return SeenNames(tuple(clean_namespaces), tuple(clean_entities[:MAX_NAMES]))


def _table_names(output: str) -> Iterable[str]:
    """First column of each row of a ``kubectl get``-style table (the header row starts with NAME)."""
    lines = output.splitlines()
    header = next((i for i, line in enumerate(lines) if re.match(r"^(NAMESPACE\s+)?NAME\s", line)), None)
    if header is None:
        return
    namespaced = lines[header].startswith("NAMESPACE")
    for line in lines[header + 1 :]:
        cells = line.split()
        if len(cells) > (1 if namespaced else 0):
            yield cells[1] if namespaced else cells[0]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


# ----------------------------------------------------------------------------- the decoder
class _Text:
    """The step text being built."""

    def __init__(self) -> None:
        self.value = ""

    def add(self, piece: str) -> None:
        self.value += piece


def decode_step(chooser: Chooser, grammar: StepGrammar, context: PlannerContext) -> str:
    """The model's next step as JSON text, valid by construction (module docstring)."""
    names = seen_names(context)
    text = _Text()
    text.add('{"summary": "')
    text.add(_escape(chooser.generate(text.value, "string", SUMMARY_TOKENS)))
    text.add('", "action_type": "')
    actions = ["probe", "submit"]
    if context.task in PROPOSING_TASKS and grammar.verbs:
        actions.insert(1, "propose")
    if context.budget_left.steps <= 1:
        actions = ["submit"]
    tools = [name for name in grammar.tools if name in set(context.tool_names())]
    if not tools and "probe" in actions and len(actions) > 1:
        actions.remove("probe")
    action = actions[_choose(chooser, text, [(a, "string") for a in actions])]
    text.add(action + '", ')
    if action == "probe":
        return _probe(chooser, grammar, context, names, text, tools)
    if action == "propose":
        target = _remediation(chooser, grammar, names, text, opening='"args": {"namespace": "')
        return _finish(chooser, text, [target])
    return _submit(chooser, grammar, context, names, text)


def _choose(chooser: Chooser, text: _Text, candidates: Sequence[tuple[str, End]]) -> int:
    if len(candidates) == 1:
        return 0
    index = chooser.choose(text.value, candidates)
    if not 0 <= index < len(candidates):
        raise ValueError(f"chooser returned {index} for {len(candidates)} candidates")
    return index


def _pick(chooser: Chooser, text: _Text, options: Sequence[str], end: End = "string") -> str:
    """Choose one of ``options`` as the next text and append it."""
    choice = options[_choose(chooser, text, [(o, end) for o in options])]
    text.add(choice)
    return choice


def _probe(
    chooser: Chooser,
    grammar: StepGrammar,
    context: PlannerContext,
    names: SeenNames,
    text: _Text,
    tools: list[str],
) -> str:
    earlier = {(item.step.tool, _canonical(item.step.args)) for item in context.history if item.step.tool}
    start = text.value
    banned: set[str] = set()
    while True:
        text.value = start
        text.add('"tool": "')
        options = [t for t in tools if t not in banned] or tools
        tool = _pick(chooser, text, options)
        text.add('", "args":')
        args = _arguments(chooser, grammar.tools[tool], names, text, closing_key="targets")
        if (tool, _canonical(args)) not in earlier or len(banned) >= len(tools) - 1:
            break
        banned.add(tool)
    target = next((args[k] for k in ("name", "service", "object_name") if isinstance(args.get(k), str)), None)
    if target is None:
        target = args.get("namespace", "")
    text.add(" " + json.dumps([target], ensure_ascii=False) + ', "confidence":')
    return _confidence(chooser, text)


def _canonical(args: Mapping[str, Any] | None) -> str:
    return json.dumps(args or {}, sort_keys=True)


def _arguments(
    chooser: Chooser,
    params: Sequence[Param],
    names: SeenNames,
    text: _Text,
    closing_key: str,
) -> dict[str, Any]:
    """An arguments object after ``"args":`` (or ``"params":``), then ``, "<closing_key>":``.

    Keys follow the schema's order; at each point the model chooses the next key among those after
    the last one written (never past a required one still missing) or closes the object."""
    usable = [p for p in params if p.type != "other"]
    written: dict[str, Any] = {}
    position = 0
    pending_quote = ""  # a string value is closed by the next choice (its quote ends the string)
    while True:
        remaining = usable[position:]
        first_required = next((i for i, p in enumerate(remaining) if p.required), None)
        allowed = remaining if first_required is None else remaining[: first_required + 1]
        opener = ' {"' if not written else pending_quote + ', "'
        candidates: list[tuple[str, End]] = [(f'{opener}{p.name}":', None) for p in allowed]
        if first_required is None:
            close = " {}" if not written else pending_quote + "}"
            candidates.append((f'{close}, "{closing_key}":', None))
        index = _choose(chooser, text, candidates)
        text.add(candidates[index][0])
        if index == len(allowed):
            return written
        param = allowed[index]
        position = usable.index(param) + 1
        written[param.name] = _value(chooser, param, names, text)
        pending_quote = '"' if param.type == "string" else ""


def _value(chooser: Chooser, param: Param, names: SeenNames, text: _Text) -> Any:
    if param.type == "boolean":
        return _pick(chooser, text, [" true", " false"], "value") == " true"
    if param.type == "integer":
        text.add(" ")
        digits = _digits(chooser.generate(text.value, "digits", 6))
        text.add(digits)
        return int(digits)
    text.add(' "')
    options = _name_options(param.name, names)
    if options:
        return _pick(chooser, text, options)
    value = _escape(chooser.generate(text.value, "string", FREE_TEXT_TOKENS))
    text.add(value)
    return json.loads(f'"{value}"')


def _name_options(param: str, names: SeenNames) -> list[str]:
    if param in ("namespace", "claim_namespace"):
        return list(names.namespaces or names.entities)
    if param in _NAME_ARGS:
        return list(names.entities or names.namespaces)
    return []


def _digits(generated: str) -> str:
    digits = "".join(ch for ch in generated if ch.isdigit()).lstrip("0")[:6]
    return digits or "0"


def _submit(
    chooser: Chooser, grammar: StepGrammar, context: PlannerContext, names: SeenNames, text: _Text
) -> str:
    text.add('"args": {"detected":')
    detected = _pick(chooser, text, [" true", " false"], "value") == " true"
    text.add(', "faulty_components": [')
    components: list[str] = []
    options = list(names.entities)
    # The list's shape is decided before its names, each by its total probability, as a greedy
    # decoder does: a model sure that *something* is faulty but split between names would otherwise
    # lose every single name to the empty list (no anomaly: nothing is faulty).
    more = detected and bool(options) and _choose(chooser, text, [('"', None), ("]", None)]) == 0
    while more:
        text.add('"')
        name = _pick(chooser, text, options)
        components.append(name)
        text.add('"')
        options = [n for n in options if n not in components]
        if len(components) >= MAX_COMPONENTS or not options:
            break
        more = _choose(chooser, text, [(', "', None), ("]", None)]) == 0
        if more:
            text.add(", ")
    text.add('], "system_level": "')
    _pick(chooser, text, SYSTEM_LEVELS)
    text.add('", "fault_type": "')
    _pick(chooser, text, FAULT_TYPES)
    closers: list[tuple[str, End]] = [('"}, "targets":', None)]
    if context.task in PROPOSING_TASKS and grammar.verbs:
        closers.append(('", "remediations": [{"namespace": "', None))
    for count in range(MAX_REMEDIATIONS + 1):
        index = _choose(chooser, text, closers if count < MAX_REMEDIATIONS else closers[:1])
        text.add(closers[index][0])
        if index == 0:
            break
        _remediation(chooser, grammar, names, text, opening="")
        closers = [('"}]}, "targets":', None), ('"}, {"namespace": "', None)]
    return _finish(chooser, text, components)


def _remediation(chooser: Chooser, grammar: StepGrammar, names: SeenNames, text: _Text, opening: str) -> str:
    """An action request ``{"namespace", "verb", "target", "params", "rationale"}``; the text is left
    inside the rationale string (the caller closes it). Returns the target."""
    text.add(opening)
    _pick(chooser, text, list(names.namespaces or names.entities) or ["default"])
    text.add('", "verb": "')
    verb = _pick(chooser, text, list(grammar.verbs))
    text.add('", "target": "')
    target = _pick(chooser, text, list(names.entities or names.namespaces) or ["unknown"])
    text.add('", "params":')
    _arguments(chooser, grammar.verbs[verb], names, text, closing_key="rationale")
    text.add(' "')
    return target


def _finish(chooser: Chooser, text: _Text, targets: list[str]) -> str:
    """Close a propose/submit step: ``targets`` and the model's confidence."""
    if text.value.endswith(' "'):  # a propose step: close the (empty) rationale and the args
        text.add('"}, "targets":')
    text.add(" " + json.dumps(targets, ensure_ascii=False) + ', "confidence":')
    return _confidence(chooser, text)


def _confidence(chooser: Chooser, text: _Text) -> str:
    _pick(chooser, text, [" " + c for c in CONFIDENCES], "value")
    text.add("}")
    return text.value


def _escape(generated: str) -> str:
    """Free text as the inside of a JSON string (the chooser stops before a quote; be safe anyway)."""
    return json.dumps(generated.replace("\n", " ").strip(), ensure_ascii=False)[1:-1]
