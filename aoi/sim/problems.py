"""Problems: an app, a task, an optional fault, a seed and a split — and the suites that hold them.

File format (JSON or YAML; a list, or ``{"problems": [...]}``)::

    {id, app, task, fault: {type, target, params} | null, seed?, split, expected?, noise?}

``seed`` defaults to a stable hash of the id. When ``expected`` is present it must equal what the
grader derives for the task, or loading fails showing both. ``noise`` adds log lines to services,
events to objects and annotations to objects (``{"logs": {service: [line]}, "events": [{"object",
"reason", "message"}], "annotations": {"Kind/name": {key: value}}}``) — robustness and red-team text
through every channel an investigator reads.
Suites: ``aiopslab`` (the 86 AIOpsLab tasks), ``train`` and ``test`` (its splits), or a file path.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aoi.sim.apps import load_app
from aoi.sim.errors import ProblemError, SimError
from aoi.sim.kube.store import canonical_kind

DATA_DIR = Path(__file__).parent / "data"
BUILTIN_SUITES = {"aiopslab": DATA_DIR / "aiopslab_problems.json"}
Task = Literal["detection", "localization", "analysis", "mitigation"]
TASKS: tuple[str, ...] = ("detection", "localization", "analysis", "mitigation")


class FaultRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    target: str | None = None
    params: dict[str, Any] = {}


class NoiseEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    object: str = Field(description="'kind/name' (e.g. 'pod/geo-abc', 'deployment/geo') or a service name")
    reason: str
    message: str
    type: Literal["Normal", "Warning"] = "Warning"


_OBJECT_REF = re.compile(r"[A-Za-z]+/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_ANNOTATION_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
ANNOTATIONS_MAX_BYTES = 256 * 1024  # the API server's limit on one object's annotations


class Noise(BaseModel):
    """Text planted where an investigator reads: log lines, events, object annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    logs: dict[str, list[str]] = {}
    events: list[NoiseEvent] = []
    annotations: dict[str, dict[str, str]] = Field(
        default={}, description="'Kind/name' (e.g. 'deployment/geo') -> {annotation key: value}"
    )

    @model_validator(mode="after")
    def _annotations_valid(self) -> Noise:
        for ref, planted in self.annotations.items():
            if not _OBJECT_REF.fullmatch(ref):
                raise ValueError(f"annotations: {ref!r} must be 'Kind/name' (e.g. 'deployment/geo')")
            try:
                canonical_kind(ref.split("/", 1)[0])
            except SimError as exc:
                raise ValueError(f"annotations: {ref!r}: {exc}") from exc
            for key in planted:
                if len(key) > 316 or not _ANNOTATION_KEY.fullmatch(key):
                    raise ValueError(
                        f"annotations[{ref!r}]: {key!r} is not a Kubernetes annotation key "
                        "([prefix/]name: name ≤ 63 of [-A-Za-z0-9_.], prefix a DNS subdomain)"
                    )
            size = sum(len(k.encode()) + len(v.encode()) for k, v in planted.items())
            if size > ANNOTATIONS_MAX_BYTES:
                raise ValueError(f"annotations[{ref!r}]: {size} bytes, more than the API's limit of 256 KiB")
        return self


class Problem(BaseModel):
    """One task on one app; ``fault`` is ground truth, read only by ``aoi.sim.faults``/``grader``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    app: Literal["social-network", "hotel-reservation", "astronomy-shop"]
    task: Task
    fault: FaultRef | None = None
    seed: int = -1
    split: Literal["train", "test"]
    expected: dict[str, Any] | None = None
    noise: Noise | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_seed(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("seed") is None and isinstance(data.get("id"), str):
            data = {**data, "seed": zlib.crc32(data["id"].encode()) % 100_000}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Problem:
        from aoi.sim.faults.catalogue import check_fault, fault_spec
        from aoi.sim.grader import expected_answer

        if self.fault is not None:
            check_fault(self.fault.type, self.fault.target, dict(self.fault.params), self.app)
        elif self.task in ("localization", "analysis", "mitigation"):
            raise ProblemError(
                f"task {self.task} needs a fault (only detection problems may have fault: null)"
            )
        if self.fault is not None and self.task == "mitigation" and fault_spec(self.fault.type).transient:
            raise ProblemError(f"fault {self.fault.type} heals by itself, so it cannot be a mitigation task")
        if self.fault is not None and self.task == "localization" and self.fault.target is None:
            raise ProblemError(f"fault {self.fault.type} has no target, so it cannot be a localization task")
        if self.noise is not None:
            services = set(load_app(self.app).service_names)
            unknown = sorted(set(self.noise.logs) - services)
            if unknown:
                raise ProblemError(f"noise.logs names unknown service(s) {unknown} of {self.app}")
        if self.expected is not None:
            derived = expected_answer(self)
            if self.expected != derived:
                diff = {
                    k: {"file": self.expected.get(k), "grader": derived.get(k)}
                    for k in sorted(set(self.expected) | set(derived))
                    if self.expected.get(k) != derived.get(k)
                }
                raise ProblemError(f"expected does not match what the grader derives: {json.dumps(diff)}")
        return self


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProblemError(f"cannot read problem file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ProblemError(f"problem file {path} is not UTF-8 text (byte {exc.start})") from exc
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ProblemError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc


def parse_problems(raw: Any, source: str) -> dict[str, Problem]:
    """Validate a list of problem dicts; errors name the source, the index and the id."""
    if isinstance(raw, dict) and "problems" in raw:
        raw = raw["problems"]
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ProblemError(
            f"{source}: expected a list of problems or {{'problems': [...]}}, got {type(raw).__name__}"
        )
    out: dict[str, Problem] = {}
    for i, item in enumerate(raw):
        where = f"{source}: problem #{i}" + (f" ({item.get('id')})" if isinstance(item, dict) else "")
        try:
            problem = Problem.model_validate(item)
        except ValidationError as exc:
            raise ProblemError(f"{where}: {exc}") from exc
        except SimError as exc:
            raise ProblemError(f"{where}: {exc}") from exc
        if problem.id in out:
            raise ProblemError(f"{where}: duplicate id {problem.id!r}")
        out[problem.id] = problem
    return out


_CACHE: dict[str, dict[str, Problem]] = {}


def load_suite(suite: str | Path = "aiopslab") -> dict[str, Problem]:
    """Problems by id: ``aiopslab``, ``train``, ``test`` or a JSON/YAML file path."""
    key = str(suite)
    if key in ("train", "test"):
        return {pid: p for pid, p in load_suite("aiopslab").items() if p.split == key}
    if key in _CACHE:
        return dict(_CACHE[key])
    path = BUILTIN_SUITES.get(key) or Path(key)
    if not path.exists():
        raise ProblemError(
            f"unknown suite {key!r}: expected 'aiopslab', 'train', 'test' or an existing JSON/YAML file"
        )
    problems = parse_problems(_read(path), str(path))
    if key in BUILTIN_SUITES:
        _CACHE[key] = problems
    return dict(problems)


def load_problem(problem_id: str | Path, suite: str | Path = "aiopslab") -> Problem:
    """One problem by id from ``suite``, or the single problem in the file ``problem_id``."""
    path = Path(problem_id)
    if path.suffix in (".json", ".yaml", ".yml") and path.exists():
        problems = parse_problems(_read(path), str(path))
        if len(problems) != 1:
            raise ProblemError(
                f"{path}: holds {len(problems)} problems; pass --suite {path} and an id instead"
            )
        return next(iter(problems.values()))
    problems = load_suite(suite)
    if str(problem_id) not in problems:
        close = [p for p in problems if str(problem_id).split("-")[0] in p][:5]
        hint = f"; similar ids: {', '.join(close)}" if close else ""
        raise ProblemError(f"no problem {problem_id!r} in suite {suite}{hint}")
    return problems[str(problem_id)]
