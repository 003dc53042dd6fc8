"""Load and validate the heuristic planner's rule data (``rules.yaml``)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

RULES_PATH = Path(__file__).with_name("rules.yaml")


class RulesError(ValueError):
    """The rule file is invalid; the message names the file and the offending key."""


class LogSignal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["mongo", "tls", "network", "start", "config", "resource", "app"]
    issue: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


class VerdictSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system_level: str
    fault_type: str
    summary: str = Field(min_length=1)


class MetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    roles: list[str] = Field(min_length=1)
    minutes: int = Field(ge=0, le=1440)
    step_seconds: int = Field(default=60, ge=1, le=3600)
    promql: str


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(gt=0)
    latency_ratio: float = Field(gt=1)
    memory_ratio: float = Field(gt=1)
    throttled_share: float = Field(gt=0, le=1)
    cpu_saturation: float = Field(gt=0, le=1)
    network_gap_ms: float = Field(gt=0)
    young_pod_ratio: float = Field(gt=0, lt=1)


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    system_namespaces: list[str]
    address_patterns: list[str] = Field(min_length=1)
    dns_name_pattern: str
    log_signals: list[LogSignal] = Field(min_length=1)
    log_grep: str
    flag_off_variants: list[str]
    verdicts: dict[str, VerdictSpec]
    metric_roles: dict[str, str]
    metric_queries: list[MetricQuery]
    thresholds: Thresholds

    def role_of(self, metric: str) -> str | None:
        return next(
            (role for role, pattern in self.metric_roles.items() if _compiled(pattern).match(metric)), None
        )

    def query(self, query_id: str) -> MetricQuery:
        return next(q for q in self.metric_queries if q.id == query_id)

    def addresses(self, line: str) -> list[tuple[str, int]]:
        """(host, port) pairs named in ``line``, in order of appearance."""
        found: list[tuple[int, str, int]] = []
        for pattern in self.address_patterns:
            found += [
                (m.start(), m.group("host"), int(m.group("port"))) for m in _compiled(pattern).finditer(line)
            ]
        return [(host, port) for _, host, port in sorted(found)]

    @property
    def dns_name(self) -> re.Pattern[str]:
        return _compiled(self.dns_name_pattern)

    def classify(self, line: str) -> LogSignal | None:
        """The first signal whose pattern matches ``line``."""
        return next((s for s in self.log_signals if s.regex.search(line)), None)


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


REQUIRED_VERDICTS = frozenset(
    {
        "scaled_to_zero",
        "service_target_port",
        "service_selector",
        "node_selector",
        "node_unavailable",
        "volume_missing",
        "bad_image",
        "caller_misconfigured",
        "wrong_binary",
        "mongo_unauthorized",
        "mongo_user_missing",
        "mongo_auth_mismatch",
        "config_missing",
        "out_of_memory",
        "bad_probe",
        "feature_flag",
        "pod_failure",
        "network_degraded",
        "app_errors",
        "latency",
        "healthy",
    }
)


def parse_rules(data: object, source: str) -> Rules:
    """Validate parsed YAML; raises ``RulesError`` naming ``source`` and the keys at fault."""
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RulesError(f"{source}: {problems}") from exc
    missing = sorted(REQUIRED_VERDICTS - set(rules.verdicts))
    if missing:
        raise RulesError(f"{source}: verdicts is missing {missing}")
    for index, query in enumerate(rules.metric_queries):
        unknown = sorted(set(query.roles) - set(rules.metric_roles))
        if unknown:
            raise RulesError(
                f"{source}: metric_queries[{index}](id={query.id}).roles: unknown roles {unknown}"
            )
    for index, pattern in enumerate(rules.address_patterns):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise RulesError(
                f"{source}: address_patterns[{index}] is not a valid regular expression: {exc}"
            ) from exc
        if {"host", "port"} - set(compiled.groupindex):
            raise RulesError(f"{source}: address_patterns[{index}] needs named groups host and port")
    return rules


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> Rules:
    """The packaged rules (or those at ``path``), validated once per process."""
    source = Path(path) if path else RULES_PATH
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{source}: cannot read rules: {exc}") from exc
    return parse_rules(data, str(source))
