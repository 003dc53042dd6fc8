"""The three AIOpsLab applications as validated data (``*.yaml`` next to this module).

Why data: service names, ports, images, call graphs, databases and configuration are facts about the
real apps (``../shared/apps.md``); keeping them in YAML lets a reviewer check them against the real
manifests and lets tests add apps without code. ``load_app(name)`` validates a file once and caches
the immutable result; a bad file fails with the file, the field and what was expected.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aoi.sim.errors import SimError

APP_DIR = Path(__file__).parent
APP_NAMES: tuple[str, ...] = ("social-network", "hotel-reservation", "astronomy-shop")
ServiceKind = Literal["app", "infra", "mongodb", "redis", "memcached", "kafka"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DepSource(_Model):
    """Where a service reads a dependency's address: an env var (optionally a port env var) or a
    JSON document in a ConfigMap (``configmap/key#field``). Absent: ``<service>:<port>`` via DNS."""

    env: str | None = None
    port_env: str | None = None
    config: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DepSource:
        if (self.env is None) == (self.config is None):
            raise ValueError("a dependency source needs exactly one of 'env' or 'config'")
        if self.config is not None and ("/" not in self.config or "#" not in self.config):
            raise ValueError(f"config source {self.config!r} must look like 'configmap/key#field'")
        return self


class Mount(_Model):
    configmap: str
    key: str
    path: str


class ServiceSpec(_Model):
    name: str
    kind: ServiceKind
    image: str
    command: list[str]
    args: list[str] = []
    port: int | None
    target_port: int | None = None
    extra_ports: list[int] = []
    log_style: str = "generic"
    latency_ms: float = 1.0
    cpu_m: float = 10.0
    mem_mi: float = 32.0
    replicas: int = 1
    workload: Literal["Deployment", "StatefulSet"] = "Deployment"
    resources: dict[str, dict[str, str]] = {}
    env: dict[str, str] = {}
    env_secrets: dict[str, str] = {}
    mounts: list[Mount] = []
    deps: dict[str, DepSource] = {}
    deps_from: str | None = None
    init_deps: list[str] = []
    database: str | None = None
    auth: bool = True
    pvc: str | None = None

    @property
    def container_port(self) -> int | None:
        """The port the process listens on (the Service's targetPort when healthy)."""
        return self.target_port if self.target_port is not None else self.port


class CallNode(_Model):
    svc: str
    op: str
    critical: bool = True
    calls: list[CallNode] = []


class Operation(_Model):
    name: str
    weight: float = Field(gt=0)
    root: CallNode


class RegistryImage(_Model):
    image: str
    binaries: list[str] = []
    overrides: dict[str, str] = {}


class SecretSpec(_Model):
    name: str
    type: str = "Opaque"
    data: dict[str, str]


class ConfigMapSpec(_Model):
    name: str
    data: dict[str, str]


class FlagSpec(_Model):
    flag: str
    service: str
    effect: Literal["fail", "cpu", "gc", "latency", "lag", "flood", "address", "leak"]
    op: str | None = None
    rate: float | None = None
    rate_from_variant: bool = False
    delay_ms_from_variant: bool = False
    error: str | None = None
    cpu_factor: float = 1.0
    latency_factor: float = 1.0
    memory_factor: float = 1.0
    rps_factor: float = 1.0
    op_weight: str | None = None
    dep: str | None = None
    address: str | None = None


class ClientSpec(_Model):
    service: str
    target: str


class AppSpec(_Model):
    name: str
    namespace: str
    label_key: str
    container_prefix: str = ""
    name_labels: list[str] = []
    pod_labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    protocol: Literal["grpc", "thrift", "http"]
    rps: float = Field(gt=0)
    client: ClientSpec | None = None
    registry: list[RegistryImage]
    secrets: list[SecretSpec] = []
    configmaps: list[ConfigMapSpec] = []
    feature_flags: list[FlagSpec] = []
    services: list[ServiceSpec]
    operations: list[Operation]

    @model_validator(mode="after")
    def _references_resolve(self) -> AppSpec:
        names = {s.name for s in self.services}
        images = {r.image for r in self.registry}
        cms = {c.name: c for c in self.configmaps}
        secrets = {s.name: s for s in self.secrets}
        problems: list[str] = []
        for s in self.services:
            if s.image not in images:
                problems.append(f"service {s.name}: image {s.image!r} is not in the registry")
            for dep in [*s.deps, *s.init_deps]:
                if dep not in names:
                    problems.append(f"service {s.name}: dependency {dep!r} is not a service of the app")
            for m in s.mounts:
                if m.configmap not in cms or m.key not in cms[m.configmap].data:
                    problems.append(f"service {s.name}: mount {m.configmap}/{m.key} does not exist")
            for var, ref in s.env_secrets.items():
                secret, _, key = ref.partition("/")
                if secret not in secrets or key not in secrets[secret].data:
                    problems.append(f"service {s.name}: env {var} refers to missing secret key {ref!r}")
            if s.kind == "mongodb" and not s.database:
                problems.append(f"service {s.name}: a mongodb needs 'database'")
        for op in self.operations:
            stack = [op.root]
            while stack:
                node = stack.pop()
                if node.svc not in names:
                    problems.append(f"operation {op.name}: unknown service {node.svc!r}")
                stack.extend(node.calls)
        for f in self.feature_flags:
            if f.service not in names:
                problems.append(f"feature flag {f.flag}: unknown service {f.service!r}")
        if self.client and {self.client.service, self.client.target} - names:
            problems.append(f"client {self.client}: unknown service")
        if len(names) != len(self.services):
            problems.append("service names must be unique")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def service(self, name: str) -> ServiceSpec:
        for s in self.services:
            if s.name == name:
                return s
        raise SimError(f"app {self.name} has no service {name!r}; services: {', '.join(self.service_names)}")

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    def edges(self) -> set[tuple[str, str]]:
        """Caller → callee service pairs, from the operations' call trees."""
        out: set[tuple[str, str]] = set()
        for op in self.operations:
            stack = [op.root]
            while stack:
                node = stack.pop()
                for child in node.calls:
                    if child.svc != node.svc:
                        out.add((node.svc, child.svc))
                stack.extend(node.calls)
        return out


_KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "mongodb": {
        "log_style": "mongodb",
        "latency_ms": 0.6,
        "cpu_m": 20,
        "mem_mi": 160,
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
    },
}


def _merge_defaults(raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Apply ``service_defaults`` to ``kind: app`` services (env and deps merge key by key)."""
    kind_defaults = _KIND_DEFAULTS.get(str(raw.get("kind")), {})
    base = dict(defaults) if raw.get("kind") == "app" else {}
    merged = {**kind_defaults, **base, **raw}
    for key in ("env", "deps"):
        if key in base and key in raw and raw[key] is not None:
            merged[key] = {**base[key], **raw[key]}
    return merged


@functools.cache
def load_app(name: str) -> AppSpec:
    """The validated spec of app ``name`` (one of ``APP_NAMES``); raises ``SimError`` otherwise."""
    if name not in APP_NAMES:
        raise SimError(f"unknown app {name!r}; expected one of: {', '.join(APP_NAMES)}")
    path = APP_DIR / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    defaults = raw.pop("service_defaults", {}) or {}
    raw.pop("mongo_anchors", None)  # YAML anchors only
    raw["services"] = [_merge_defaults(s, defaults) for s in raw.get("services", [])]
    try:
        return AppSpec.model_validate(raw)
    except ValidationError as exc:
        raise SimError(f"{path}: invalid app definition:\n{exc}") from exc
