"""The policy file format (``default.yaml``) and its loader.

A policy is the whitelist of writes AOI may ever propose or execute: rules, each allowing one verb
of the catalogue (``verbs.yaml``) in some namespaces, on some targets, within parameter bounds, at a
risk level, with named approver sets and a number of distinct approvals (the two-person rule: a
high-risk rule needs at least two). It also fixes the exact command shown to humans and the patch
body or database script the executor sends. Loading validates everything against the catalogue, so
a policy that loads can always be evaluated and rendered; any problem is a ``PolicyError`` naming the
file and the key.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from aoi.policies.catalogue import Catalogue, VerbSpec, load_catalogue
from aoi.policies.errors import PolicyError, problems_from
from aoi.policies.params import IntParam, ParamSpec
from aoi.policies.templates import (
    BUILTIN_FIELDS,
    TemplateError,
    command_fields,
    script_fields,
    structure_fields,
)

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.yaml")
Risk = Literal["low", "medium", "high"]

_SLACK_USER = r"[UW][A-Z0-9]{2,20}"
_SLACK_GROUP = r"S[A-Z0-9]{2,20}|@?[a-z0-9][a-z0-9._-]{0,79}"
_GLOB = r"[A-Za-z0-9*?._-]{1,253}"


class ApproverSet(BaseModel):
    """Who may approve: Slack user ids (``U…``/``W…``) and user groups (ids ``S…`` or handles)."""

    model_config = ConfigDict(extra="forbid")

    users: list[str] = Field(default_factory=list)
    usergroups: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids(self) -> ApproverSet:
        for user in self.users:
            if not re.fullmatch(_SLACK_USER, user):
                raise ValueError(f"{user!r} is not a Slack user id (expected e.g. U0123ABCD)")
        for group in self.usergroups:
            if not re.fullmatch(_SLACK_GROUP, group):
                raise ValueError(f"{group!r} is not a Slack user group id (S…) or handle (e.g. sre-oncall)")
        return self


class PatchTemplate(BaseModel):
    """The patch the executor sends for a ``patch`` verb (also rendered into the command as ``{patch}``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["merge", "strategic", "json"]
    body: Any


class Rule(BaseModel):
    """One allowed (verb, where, bounds, risk, approvers) combination."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    verb: str
    description: str = Field(min_length=1)
    namespaces: list[str] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    denied_targets: list[str] = Field(default_factory=list)
    risk: Risk
    approvers: list[str] = Field(min_length=1)
    approvals_required: int = Field(default=1, ge=1, le=5)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    command: str = Field(min_length=1)
    patch: PatchTemplate | None = None
    script: str | None = None
    exec: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _globs(self) -> Rule:
        for glob in [*self.namespaces, *self.targets, *self.denied_targets]:
            if not re.fullmatch(_GLOB, glob):
                raise ValueError(
                    f"{glob!r} is not a name glob (letters, digits, . _ - and the wildcards * ?)"
                )
        return self


PROTECTED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


class Policy(BaseModel):
    """A whole policy file. ``definitions`` is free-form (a place for YAML anchors)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    definitions: Any = None
    # in addition to PROTECTED_NAMESPACES, which no policy file can allow
    denied_namespaces: list[str] = Field(default_factory=list)
    two_person_rule: bool = True
    requesters: ApproverSet | None = None
    approvers: dict[str, ApproverSet] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)

    _source: str = PrivateAttr(default="<memory>")

    @property
    def protected_namespaces(self) -> tuple[str, ...]:
        """Namespaces (globs) AOI never writes in: the control plane's, always, plus the file's own
        ``denied_namespaces``. A file that listed only its own once replaced the built-in three and
        let ``namespaces: ['*']`` scale CoreDNS in kube-system."""
        return tuple(dict.fromkeys([*PROTECTED_NAMESPACES, *self.denied_namespaces]))

    @property
    def source(self) -> str:
        """The file this policy was loaded from (for messages and ``aoi policy show``)."""
        return self._source

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def rules_for(self, verb: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.verb == verb]

    @property
    def verbs(self) -> list[str]:
        """Allowed verbs, in the order the policy first mentions them."""
        return list(dict.fromkeys(rule.verb for rule in self.rules))


def required_params(rule: Rule, spec: VerbSpec) -> set[str]:
    """Parameters a request must carry: required by the rule, or by the catalogue unless overridden."""
    return {
        name
        for name, param in rule.params.items()
        if (param.required if param.required is not None else spec.params.get(name) == "required")
    }


def _rule_problems(rule: Rule, policy: Policy, catalogue: Catalogue) -> list[str]:
    """Cross-checks a rule against the catalogue and the rest of the policy (each a readable line)."""
    spec = catalogue.verbs.get(rule.verb)
    if spec is None:
        return [
            f"verb: {rule.verb!r} is not a verb AOI's executor implements; known: {sorted(catalogue.verbs)}"
        ]
    problems = []
    unknown = sorted(set(rule.params) - set(spec.params))
    if unknown:
        problems.append(
            f"params: {unknown} are not parameters of {rule.verb}; it takes {sorted(spec.params)}"
        )
    for name in spec.required_params:
        if name not in rule.params:
            problems.append(f"params: {rule.verb} needs a spec for its required parameter {name!r}")
        elif rule.params[name].required is False:
            problems.append(
                f"params.{name}.required: {rule.verb} always needs {name!r}; it cannot be optional"
            )
    for name, param in rule.params.items():
        if isinstance(param, IntParam) and param.max_ratio_of is not None:
            ref = rule.params.get(param.max_ratio_of)
            if not isinstance(ref, IntParam):
                problems.append(
                    f"params.{name}.max_ratio_of: {param.max_ratio_of!r} must be an int parameter"
                )
    if spec.scope == "cluster" and rule.namespaces:
        problems.append(f"namespaces: {rule.verb} acts on cluster-scoped {spec.target_kind}s; leave it empty")
    if spec.scope != "cluster" and not rule.namespaces:
        problems.append(f"namespaces: list where {rule.verb} is allowed (globs allowed)")
    for name in rule.approvers:
        if name not in policy.approvers:
            problems.append(
                f"approvers: {name!r} is not a set under `approvers:`; known: {sorted(policy.approvers)}"
            )
    if policy.two_person_rule and rule.risk == "high" and rule.approvals_required < 2:
        problems.append(
            "approvals_required: a high-risk rule needs at least 2 approvals (the two-person rule)"
        )
    problems += _template_problems(rule, spec)
    return problems


def _line_problems(
    key: str, template: str, rule: Rule, known: set[str], required: set[str], special: set[str]
) -> list[str]:
    """Problems of one command-syntax template (``command`` or ``exec``); raises TemplateError."""
    problems = []
    for name, spec, optional in command_fields(template):
        if name not in known and name not in special:
            problems.append(
                f"{key}: {{{name}}} is not a parameter of this rule; known: {sorted(known | special)}"
            )
        elif not optional and name in rule.params and name not in required:
            problems.append(f"{key}: optional parameter {{{name}}} must sit inside a [ ] segment")
        elif name == "exec" and spec:
            problems.append(f"{key}: {{exec}} is an already quoted command line; write it without a spec")
    return problems


def _template_problems(rule: Rule, spec: VerbSpec) -> list[str]:
    known = set(rule.params) | BUILTIN_FIELDS
    defaulted = {
        name
        for name, param in rule.params.items()
        if isinstance(param, IntParam) and param.default is not None
    }
    required = required_params(rule, spec) | defaulted | BUILTIN_FIELDS
    operation = spec.operation
    problems = []
    if (operation == "patch") != (rule.patch is not None):
        problems.append("patch: required for (and only for) verbs the executor performs as a patch")
    if (operation == "exec_db") != (rule.script is not None):
        problems.append("script: required for (and only for) verbs the executor performs by exec")
    if rule.exec is not None and rule.script is None:
        problems.append("exec: only for exec verbs, together with their script")
    special = {
        name
        for name, present in (("patch", rule.patch), ("script", rule.script), ("exec", rule.exec))
        if present is not None
    }
    try:
        problems += _line_problems("command", rule.command, rule, known, required, special)
        if rule.exec is not None:
            problems += _line_problems("exec", rule.exec, rule, known, required, special & {"script"})
            if "script" not in {name for name, _, _ in command_fields(rule.exec)}:
                problems.append("exec: must hand the database script to the shell as {script}")
        for name in script_fields(rule.script or ""):
            if name not in required:
                problems.append(f"script: {{{name}:js}} must be a required parameter of this rule")
        for name in sorted(structure_fields(rule.patch.body if rule.patch else None)):
            if name not in known:
                problems.append(f"patch: {{{name}}} is not a parameter of this rule; known: {sorted(known)}")
    except TemplateError as exc:
        problems.append(f"command/exec/script/patch: {exc}")
    return problems


def parse_policy(data: Any, source: str | Path, catalogue: Catalogue | None = None) -> Policy:
    """Validate already-parsed YAML as a policy; raises ``PolicyError`` naming ``source`` and keys."""
    if not isinstance(data, dict):
        raise PolicyError(source, [f"expected a mapping at the top level, got {type(data).__name__}"])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, problems_from(exc, data)) from exc
    catalogue = catalogue or load_catalogue()
    problems: list[str] = []
    seen: set[str] = set()
    for index, rule in enumerate(policy.rules):
        where = f"rules[{index}](id={rule.id})"
        if rule.id in seen:
            problems.append(f"{where}.id: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        problems += [f"{where}.{problem}" for problem in _rule_problems(rule, policy, catalogue)]
    if problems:
        raise PolicyError(source, problems)
    policy._source = str(source)
    return policy


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (``None``: the packaged ``default.yaml``).

    Raises ``PolicyError`` — with the path and each offending key — when the file is missing, is not
    YAML, or breaks the schema or the verb catalogue.
    """
    return load_policy_digested(path)[0]


def load_policy_digested(path: str | Path | None = None) -> tuple[Policy, str]:
    """``load_policy`` and the digest of what it loaded: the first 12 hex digits of the file's SHA-256
    (read once, so the digest is of the text that was parsed, even if the file changes meanwhile)."""
    file = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError(file, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return parse_policy_bytes(raw, file), policy_digest(raw)


def policy_digest(raw: bytes) -> str:
    """The policy file's content digest: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(raw).hexdigest()[:12]


def parse_policy_bytes(raw: bytes, file: Path) -> Policy:
    """A policy file's bytes → ``Policy`` (``file`` names it in errors): UTF-8, size, strict YAML."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(file, [f"not UTF-8 text (byte {exc.start}): is this the policy file?"]) from exc
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(file, [f"{len(text):,} characters; a policy file is at most {MAX_POLICY_CHARS:,}"])
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PolicyError(file, [f"not valid YAML: {exc}"]) from exc
    except RecursionError:
        raise PolicyError(file, ["nested too deeply (or an alias that contains itself)"]) from None
    if _expands_beyond(data, MAX_POLICY_VALUES):
        raise PolicyError(
            file,
            [f"expands to more than {MAX_POLICY_VALUES:,} values: aliases repeated inside aliases?"],
        )
    return parse_policy(data, file)


MAX_POLICY_CHARS = 1_000_000
MAX_POLICY_VALUES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """``safe_load`` that refuses a mapping with a key twice: YAML keeps the last silently, so a
    second ``users: []`` once emptied an approver set and the file still loaded."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` keys may be overridden by the mapping's own, as YAML means
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expands_beyond(data: Any, limit: int) -> bool:
    """Whether walking ``data`` visits more than ``limit`` values, aliases counted each time they are
    used (as every later walk over the policy would): a 14 KB alias bomb expands to 9⁹ values, and a
    self-referencing alias never ends. Stops counting at ``limit``."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
