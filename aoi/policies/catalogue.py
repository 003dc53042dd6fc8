"""The verb catalogue (``verbs.yaml``): what each write verb AOI's executor implements *is*.

A policy decides which verbs are allowed, where, within which bounds and with whose approval; the
catalogue fixes the rest, so no policy file can widen it: the platform a verb acts on, the regex its
target and namespace must fullmatch (so wildcards and shell metacharacters never reach a write), the
``WriteBackend`` operation that performs it, its parameter names, and the Kubernetes RBAC / AWS IAM
it needs (``aoi policy rbac`` derives the executor's Roles from these).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aoi.policies import patterns
from aoi.policies.errors import PolicyError, problems_from

CATALOGUE_PATH = Path(__file__).with_name("verbs.yaml")

Platform = Literal["kubernetes", "aws"]
Scope = Literal["namespaced", "cluster", "ecs_cluster", "aws_region"]
Operation = Literal[
    "scale",
    "patch",
    "set_image",
    "rollout_restart",
    "rollout_undo",
    "delete_pod",
    "delete_object",
    "uncordon",
    "exec_db",
    "aws",
]

# Which name pattern the target and the namespace of each scope must match.
_TARGET_PATTERN = {"kubernetes": "k8s_name", "ecs_cluster": "ecs_service", "aws_region": "ec2_instance_id"}
_NAMESPACE_PATTERN = {"namespaced": "k8s_namespace", "ecs_cluster": "ecs_cluster", "aws_region": "aws_region"}


class RbacRule(BaseModel):
    """One Kubernetes PolicyRule (``apiGroups``/``resources``/``verbs``), exactly as in a Role."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_groups: list[str] = Field(alias="apiGroups", min_length=1)
    resources: list[str] = Field(min_length=1)
    verbs: list[Literal["get", "list", "watch", "create", "update", "patch", "delete"]] = Field(min_length=1)


class VerbSpec(BaseModel):
    """A verb the executor implements (see the header of ``verbs.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    scope: Scope
    target_kind: str
    operation: Operation
    params: dict[str, Literal["required", "optional"]] = Field(default_factory=dict)
    rbac: list[RbacRule] = Field(default_factory=list)
    iam: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _permissions_match_platform(self) -> VerbSpec:
        if self.platform == "kubernetes" and (not self.rbac or self.iam):
            raise ValueError("a kubernetes verb needs `rbac` rules and no `iam` actions")
        if self.platform == "aws" and (not self.iam or self.rbac):
            raise ValueError("an aws verb needs `iam` actions and no `rbac` rules")
        for action in self.iam:
            if not re.fullmatch(r"[a-z0-9]+:[A-Z][A-Za-z0-9]+", action):
                raise ValueError(f"IAM action {action!r} is not of the form service:Action")
        return self

    @property
    def required_params(self) -> list[str]:
        return [name for name, need in self.params.items() if need == "required"]


class Reader(BaseModel):
    """The investigator's read-only permissions: namespaced (Role) and cluster-wide (ClusterRole)."""

    model_config = ConfigDict(extra="forbid")

    namespaced: list[RbacRule]
    cluster: list[RbacRule]

    @model_validator(mode="after")
    def _read_only(self) -> Reader:
        for rule in [*self.namespaced, *self.cluster]:
            writes = sorted(set(rule.verbs) - {"get", "list", "watch"})
            if writes:
                raise ValueError(f"the reader must stay read-only; {rule.resources} has write verbs {writes}")
            if "secrets" in rule.resources:
                raise ValueError("the reader must never read secrets")
        return self


class Catalogue(BaseModel):
    """The whole of ``verbs.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name_patterns: dict[str, str]
    verbs: dict[str, VerbSpec]
    reader: Reader

    @model_validator(mode="after")
    def _patterns_compile(self) -> Catalogue:
        needed = set(_TARGET_PATTERN.values()) | set(_NAMESPACE_PATTERN.values())
        missing = sorted(needed - set(self.name_patterns))
        if missing:
            raise ValueError(f"name_patterns is missing {missing}")
        for key, pattern in self.name_patterns.items():
            patterns.check_pattern(pattern, f"name_patterns.{key}")
        return self

    def target_pattern(self, verb: str) -> str:
        """The regex a request's ``target`` must fullmatch for ``verb``."""
        spec = self.verbs[verb]
        key = _TARGET_PATTERN["kubernetes" if spec.platform == "kubernetes" else spec.scope]
        return self.name_patterns[key]

    def namespace_pattern(self, verb: str) -> str | None:
        """The regex a request's ``namespace`` must fullmatch, or None for cluster-scoped verbs."""
        key = _NAMESPACE_PATTERN.get(self.verbs[verb].scope)
        return None if key is None else self.name_patterns[key]


def parse_catalogue(data: Any, source: str | Path) -> Catalogue:
    """Validate already-parsed YAML as a catalogue; raises ``PolicyError`` naming ``source``."""
    if not isinstance(data, dict):
        raise PolicyError(source, [f"expected a mapping at the top level, got {type(data).__name__}"])
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, problems_from(exc, data)) from exc


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The packaged verb catalogue (read once per process)."""
    return parse_catalogue(yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8")), CATALOGUE_PATH)
