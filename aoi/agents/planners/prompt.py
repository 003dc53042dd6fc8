"""The Observer prompt for model-driven planners: a validated template (data) rendered from a context.

Why a data file: the wording is tuned often (and by the Evolver's reviewers), while the code that fills
it in must not change; ``aoi/agents/prompts/observer.yaml`` holds the role, the strict rules, the step
schema, examples, per-task instructions and the re-ask text. It is validated on load — missing keys,
unknown or missing ``$placeholders`` fail with the file and the key named.

What the model sees (``render_messages``): a system message (role + rules) and one user message with
the incident, the read tools with their JSON argument schemas, the allowed remediation verbs, the step
schema, guidance notes, a memory of earlier steps (one line each), the latest tool result in full and
the budget left. Text copied from the cluster is wrapped in ``<untrusted>`` markers (and any marker
inside it is defused), so the rules can tell the model it is evidence, never instructions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml

from aoi.agents.memory import crosscheck_lines, notable_line, summary_line
from aoi.agents.planners.base import HistoryItem, PlannerContext
from aoi.agents.tools.base import ToolSpec

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
DEFAULT_TEMPLATE_PATH = PROMPTS_DIR / "observer.yaml"
SMALL_TEMPLATE_PATH = PROMPTS_DIR / "observer_small.yaml"
REQUIRED_KEYS = ("version", "system", "reask", "step_schema", "examples", "native_tools", "tasks", "user")
NATIVE_TOOLS = ("propose_action", "submit_diagnosis")
PLACEHOLDERS = frozenset(
    {
        "incident",
        "task",
        "tools",
        "verbs",
        "step_schema",
        "examples",
        "guidance",
        "memory",
        "latest",
        "budget",
    }
)
REQUIRED_PLACEHOLDERS = frozenset({"incident", "tools", "latest"})
TASK_KEYS = ("detection", "localization", "analysis", "mitigation", "none")
LATEST_CHARS = 4000
ToolFormat = Literal["json", "compact", "signature"]
TOOL_FORMATS: tuple[ToolFormat, ...] = ("json", "compact", "signature")
RENDER_KEYS = ("tool_format", "latest_chars", "verbs_for_tasks", "squeeze_columns")
_COLUMN_GAP = re.compile(r"(?<=\S) {3,}(?=\S)")
Message = dict[str, str]


class PromptTemplateError(ValueError):
    """The prompt template file is missing, unreadable or does not have the documented shape."""


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded, validated prompt template (see ``observer.yaml`` for what each part is)."""

    source: str
    system: str
    reask: Template
    step_schema: str
    examples: str
    tasks: dict[str, str]
    user: Template
    native_tools: dict[str, dict[str, Any]]
    # ``render`` (optional in the file): how the template wants to be filled in
    tool_format: ToolFormat | None = None  # None: the planner's choice
    latest_chars: int = LATEST_CHARS
    verbs_for_tasks: frozenset[str] | None = None  # None: every task sees the verbs
    squeeze_columns: bool = False  # table padding (3+ spaces) → 2 spaces: more rows per character


def _fail(source: str, message: str) -> PromptTemplateError:
    return PromptTemplateError(f"{source}: {message}")


def parse_template(data: Any, source: str) -> PromptTemplate:
    """Validate the decoded YAML of a template; every problem names the key and what was expected."""
    if not isinstance(data, dict):
        raise _fail(source, f"expected a mapping with keys {list(REQUIRED_KEYS)}, got {type(data).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise _fail(source, f"missing key(s) {missing}; required: {list(REQUIRED_KEYS)}")
    if data["version"] != 1:
        raise _fail(source, f"version: expected 1, got {data['version']!r}")
    for key in ("system", "reask", "step_schema", "examples", "user"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise _fail(source, f"{key}: expected non-empty text")
    tasks = data["tasks"]
    if not isinstance(tasks, dict) or sorted(tasks) != sorted(TASK_KEYS):
        got = sorted(tasks) if isinstance(tasks, dict) else type(tasks).__name__
        raise _fail(source, f"tasks: expected exactly the keys {list(TASK_KEYS)}, got {got}")
    if not all(isinstance(text, str) and text.strip() for text in tasks.values()):
        raise _fail(source, "tasks: every task needs a non-empty instruction")
    user = Template(data["user"])
    if not user.is_valid():
        raise _fail(source, "user: malformed $placeholder (write $$ for a literal dollar sign)")
    used = set(user.get_identifiers())
    unknown = sorted(used - PLACEHOLDERS)
    if unknown:
        raise _fail(source, f"user: unknown placeholder(s) {unknown}; allowed: {sorted(PLACEHOLDERS)}")
    absent = sorted(REQUIRED_PLACEHOLDERS - used)
    if absent:
        raise _fail(source, f"user: must use the placeholder(s) {absent}")
    native = data["native_tools"]
    if not isinstance(native, dict) or sorted(native) != sorted(NATIVE_TOOLS):
        got = sorted(native) if isinstance(native, dict) else type(native).__name__
        raise _fail(source, f"native_tools: expected exactly the keys {list(NATIVE_TOOLS)}, got {got}")
    for name, tool in native.items():
        if not isinstance(tool, dict) or not isinstance(tool.get("description"), str):
            raise _fail(source, f"native_tools.{name}: expected a mapping with a 'description' text")
        parameters = tool.get("parameters")
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            raise _fail(source, f"native_tools.{name}.parameters: expected a JSON schema with type: object")
    render = _parse_render(data.get("render", {}), source)
    reask = Template(data["reask"])
    if not reask.is_valid() or set(reask.get_identifiers()) != {"error"}:
        raise _fail(source, "reask: must use exactly the placeholder $error")
    return PromptTemplate(
        source=source,
        system=data["system"].strip(),
        reask=reask,
        step_schema=data["step_schema"].strip(),
        examples=data["examples"].strip(),
        tasks={key: str(value).strip() for key, value in tasks.items()},
        user=user,
        native_tools={name: dict(tool) for name, tool in native.items()},
        **render,
    )


def _parse_render(render: Any, source: str) -> dict[str, Any]:
    """The optional ``render`` mapping: ``tool_format``, ``latest_chars``, ``verbs_for_tasks``,
    ``squeeze_columns`` (each validated; absent keys keep the dataclass defaults)."""
    if not isinstance(render, dict):
        raise _fail(source, f"render: expected a mapping with keys from {list(RENDER_KEYS)}")
    unknown = sorted(set(render) - set(RENDER_KEYS))
    if unknown:
        raise _fail(source, f"render: unknown key(s) {unknown}; allowed: {list(RENDER_KEYS)}")
    out: dict[str, Any] = {}
    if "tool_format" in render:
        if render["tool_format"] not in TOOL_FORMATS:
            raise _fail(source, f"render.tool_format: expected one of {list(TOOL_FORMATS)}")
        out["tool_format"] = render["tool_format"]
    if "latest_chars" in render:
        chars = render["latest_chars"]
        if not isinstance(chars, int) or isinstance(chars, bool) or chars < 200:
            raise _fail(source, "render.latest_chars: expected an integer >= 200")
        out["latest_chars"] = chars
    if "verbs_for_tasks" in render:
        tasks = render["verbs_for_tasks"]
        if not isinstance(tasks, list) or not set(tasks) <= set(TASK_KEYS):
            raise _fail(source, f"render.verbs_for_tasks: expected a list of keys from {list(TASK_KEYS)}")
        out["verbs_for_tasks"] = frozenset(tasks)
    if "squeeze_columns" in render:
        if not isinstance(render["squeeze_columns"], bool):
            raise _fail(source, "render.squeeze_columns: expected true or false")
        out["squeeze_columns"] = render["squeeze_columns"]
    return out


@lru_cache(maxsize=8)
def load_template(path: Path | None = None) -> PromptTemplate:
    """Load and validate a template file (default: the packaged ``prompts/observer.yaml``)."""
    source = Path(path) if path is not None else DEFAULT_TEMPLATE_PATH
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PromptTemplateError(f"{source}: prompt template not found") from error
    except yaml.YAMLError as error:
        raise PromptTemplateError(f"{source}: not valid YAML: {error}") from error
    return parse_template(data, str(source))


def untrusted(text: str) -> str:
    """Defuse ``<untrusted>`` markers inside cluster text so it cannot close its own fence."""
    return text.replace("<untrusted>", "<untrusted_>").replace("</untrusted>", "</untrusted_>")


def render_tools(tools: Sequence[ToolSpec], style: ToolFormat = "json") -> str:
    """One line per tool: ``json`` gives its full argument schema, ``compact`` a typed signature and its
    description, ``signature`` the names only (``get_logs(namespace, name, tail?)``: the smallest)."""
    lines: list[str] = []
    for spec in tools:
        props: dict[str, Any] = spec.parameters.get("properties", {})
        required = set(spec.parameters.get("required", []))
        if style == "signature":
            args = ", ".join(f"{name}{'' if name in required else '?'}" for name in props)
            lines.append(f"{spec.name}({args})")
        elif style == "compact":
            args = ", ".join(
                f"{name}{'' if name in required else '?'}: {schema.get('type', 'any')}"
                for name, schema in props.items()
            )
            lines.append(f"- {spec.name}({args}): {spec.description}")
        else:
            schema = {"properties": props, "required": sorted(required)}
            lines.append(f"- {spec.name}: {spec.description}\n  args schema: {json.dumps(schema)}")
    if style == "signature":
        return "; ".join(lines) if lines else "(no tools)"
    return "\n".join(lines) if lines else "(no tools)"


def describe_policy_verbs(policy: Any, compact: bool = False, signature: bool = False) -> list[str]:
    """Allowed verbs of a policy (duck-typed ``rules`` with ``verb``, ``description``, ``params``).

    ``compact`` gives ``- verb(param, ...): description`` only — shorter prompts for small models;
    ``signature`` gives ``verb(param, ...)`` alone (the small-model template).
    """
    lines: dict[str, str] = {}
    for rule in getattr(policy, "rules", []):
        params = ", ".join(sorted(getattr(rule, "params", {}) or {}))
        if signature:
            text = f"{rule.verb}({params})"
        elif compact:
            text = f"- {rule.verb}({params}): {rule.description}"
        else:
            namespaces = ", ".join(getattr(rule, "namespaces", []) or []) or "any allowed namespace"
            text = f"- {rule.verb}: {rule.description} (params: {params or 'none'}; namespaces: {namespaces})"
        lines.setdefault(text, text)
    return list(lines.values())


def render_memory(history: Sequence[HistoryItem]) -> str:
    """One line per step before the latest (the latest is shown in full under its own heading), then
    the cross-checks between listings (``aoi.agents.crosschecks``) over the whole history."""
    earlier = [summary_line(item) for item in history[:-1]]
    earlier += crosscheck_lines(history)
    return untrusted("\n".join(earlier)) if earlier else "(no earlier steps)"


def squeeze_columns(text: str) -> str:
    """Collapse the padding between table columns (``kubectl get`` output) to two spaces: the same
    rows in about half the characters, still one row per line and columns still apart."""
    return _COLUMN_GAP.sub("  ", text)


def render_latest(history: Sequence[HistoryItem], limit: int = LATEST_CHARS, squeeze: bool = False) -> str:
    """The newest step's call and its tool result (status, invocation, output or error), in full
    up to ``limit`` characters (``squeeze``: table padding collapsed first).

    A ``Notable:`` line (:func:`aoi.agents.memory.notable_line`, as the Observer's memory shows it)
    comes first. Why: the output may be cut at ``limit`` and a small model cannot divide columns of
    numbers; the line it is trained to read survives both."""
    if not history:
        return "(nothing yet: this is the first step)"
    item = history[-1]
    step, result = item.step, item.result
    if step.action_type == "propose":
        return untrusted(f"Step #{item.index} proposed {json.dumps(step.args, sort_keys=True)} (recorded).")
    if result is None:
        return f"Step #{item.index} ({step.tool}) returned nothing."
    lines = [f"Step #{item.index}: {result.tool} → {result.status}", f"$ {result.invocation}"]
    if result.status == "error":
        lines.append(f"ERROR: {result.error}")
    elif result.status == "no_data":
        lines.append("(no data)")
    else:
        notable = notable_line(result, step.tool or "")
        lines += [notable] if notable else []
        output = squeeze_columns(result.output) if squeeze else result.output
        lines.append(output if len(output) <= limit else output[:limit] + "\n[… cut for the prompt …]")
    return untrusted("\n".join(lines))


def render_guidance(notes: Iterable[str]) -> str:
    items = [f"- {note.strip()}" for note in notes if note.strip()]
    return "\n".join(items) if items else "(none)"


def render_verbs(template: PromptTemplate, task: str, verbs: Sequence[str], tool_format: ToolFormat) -> str:
    """The allowed verbs, laid out like the tools (``signature``: one line, ``;``-separated)."""
    if template.verbs_for_tasks is not None and task not in template.verbs_for_tasks:
        return "(none needed for this task)"
    if not verbs:
        return "(none: do not propose any action)"
    return ("; " if tool_format == "signature" else "\n").join(verbs)


def render_messages(
    template: PromptTemplate,
    context: PlannerContext,
    verbs: Sequence[str],
    tool_format: ToolFormat | None = None,
) -> list[Message]:
    """The chat messages for one step: the system rules and the filled-in user template.

    ``tool_format`` None means the template's own (``render.tool_format``), else ``json``.
    """
    budget = context.budget_left
    task = context.task or "none"
    tool_format = tool_format or template.tool_format or "json"
    values = {
        "incident": untrusted(context.incident.strip() or "(no description)"),
        "task": f"{context.task or 'investigation'} — {template.tasks[task]}",
        "tools": render_tools(context.tools, tool_format),
        "verbs": render_verbs(template, task, verbs, tool_format),
        "step_schema": template.step_schema,
        "examples": template.examples,
        "guidance": render_guidance(context.guidance),
        "memory": render_memory(context.history),
        "latest": render_latest(context.history, template.latest_chars, template.squeeze_columns),
        "budget": (
            f"{budget.steps} steps, {budget.tokens} tokens, {max(0.0, budget.seconds):.0f} seconds"
            + (" — submit now." if budget.steps <= 1 else "")
        ),
    }
    user = template.user.substitute(values).strip()
    if context.rejected:
        # in the same user message: some chat templates refuse two user turns in a row
        user += (
            f"\n\nYour previous step was not carried out: {context.rejected}. Reply with a different step."
        )
    return [
        {"role": "system", "content": template.system},
        {"role": "user", "content": user},
    ]


def reask_message(template: PromptTemplate, error: str) -> Message:
    """The follow-up user message after an invalid answer, carrying the validation error."""
    return {"role": "user", "content": template.reask.substitute(error=error).strip()}


def estimate_tokens(text: str) -> int:
    """A fallback token count (≈4 characters a token) when the endpoint reports no ``usage``."""
    return (len(text) + 3) // 4 if text else 0


def messages_text(messages: Sequence[Message]) -> str:
    return "\n".join(message["content"] for message in messages)
