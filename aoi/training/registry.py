"""The model registry: adapter folders on disk + ``training_runs``/``model_registry`` rows in the store.

Layout: ``<root>/<name>/<version>/`` holds the adapter (copied out of the run folder, so cleaning runs
never breaks serving) and ``run.json``. The store row records base model, dataset hash, metrics and
status (candidate → promoted → retired); the training-run row records the config. Promotion and
rollback are single store transactions (``aoi.store.repo``), so exactly one version per name is
promoted at any time. Versions sort by time: ``YYYYmmddTHHMMSS-<method>``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aoi.store import repo
from aoi.store.db import Store
from aoi.store.models import ModelVersion, TrainingRun
from aoi.training.runs import TrainResult

DEFAULT_MODEL_NAME = "aoi-observer"

T = TypeVar("T")


class RegistryError(RuntimeError):
    """A registry operation is impossible as asked; the message says what exists."""


@dataclass(frozen=True)
class RegisteredModel:
    """A registry row in plain JSON form (what ``aoi models list --json`` prints)."""

    id: str
    name: str
    version: str
    status: str
    base_model: str
    adapter_path: str | None
    dataset_hash: str | None
    training_run_id: str | None
    metrics: dict[str, Any]
    created_at: str
    promoted_at: str | None

    def trained_on(self, base: Path) -> bool:
        """Whether this version's adapter belongs to ``base`` (versions registered before base paths
        were resolved may hold a relative path or a symlink)."""
        return self.base_model == str(base) or Path(self.base_model).expanduser().resolve() == base.resolve()

    @classmethod
    def from_row(cls, row: ModelVersion) -> RegisteredModel:
        return cls(
            id=row.id,
            name=row.name,
            version=row.version,
            status=row.status,
            base_model=row.base_model,
            adapter_path=row.adapter_path,
            dataset_hash=row.dataset_hash,
            training_run_id=row.training_run_id,
            metrics=dict(row.metrics),
            created_at=row.created_at.isoformat(),
            promoted_at=row.promoted_at.isoformat() if row.promoted_at else None,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ModelRegistry:
    """Registry operations for one model ``name`` (default ``aoi-observer``)."""

    def __init__(
        self,
        store: Store,
        root: Path,
        name: str = DEFAULT_MODEL_NAME,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.root = Path(root)
        self.name = name
        self._clock = clock or (lambda: datetime.now(UTC))  # versions read the same on every host

    def track(
        self, method: str, dataset_hash: str, config: dict[str, Any], train: Callable[[], T]
    ) -> tuple[str, T]:
        """Run ``train`` inside a ``training_runs`` row: running → succeeded (metrics) | failed (error)."""
        run = repo.start_training_run(
            self.store,
            kind=method,
            dataset_hash=dataset_hash,
            config=config,
            base_model=str(config.get("base_model", "")) or None,
            output_dir=str(config.get("output_dir", "")) or None,
        )
        try:
            outcome = train()
        except BaseException as exc:
            repo.finish_training_run(self.store, run.id, succeeded=False, metrics={}, error=f"{exc!r}"[:2000])
            raise
        metrics = outcome.metrics if isinstance(outcome, TrainResult) else {}
        repo.finish_training_run(self.store, run.id, succeeded=True, metrics=metrics)
        return run.id, outcome

    def _version(self, method: str) -> str:
        stamp = self._clock().strftime("%Y%m%dT%H%M%S")
        version, n = f"{stamp}-{method}", 1
        while repo.find_model(self.store, self.name, version) is not None:
            n += 1
            version = f"{stamp}-{method}-{n}"
        return version

    def register(
        self,
        result: TrainResult,
        *,
        training_run_id: str | None = None,
        extra_metrics: dict[str, Any] | None = None,
    ) -> RegisteredModel:
        """Copy the run's adapter into the registry folder and add a ``candidate`` row.

        An adapter the registry already holds (same base, dataset and weights — a re-run into a
        finished ``--output`` folder resumes at its step cap and trains nothing) is not registered
        again: the existing version is returned, so the list shows no phantom candidate."""
        if not (result.adapter_dir / "adapter_config.json").is_file():
            raise RegistryError(f"{result.adapter_dir} holds no LoRA adapter (adapter_config.json missing)")
        weights = _weights_digest(result.adapter_dir)
        for known in self.versions() if weights is not None else []:
            same_run = (known.base_model, known.dataset_hash) == (result.base_model, result.dataset_hash)
            if same_run and known.adapter_path and _weights_digest(Path(known.adapter_path)) == weights:
                return known
        version = self._version(result.method)
        folder = self.root / self.name / version
        if folder.exists():
            raise RegistryError(f"registry folder {folder} already exists")
        shutil.copytree(result.adapter_dir, folder)
        run_json = result.adapter_dir.parent / "run.json"
        if run_json.is_file():
            shutil.copy2(run_json, folder / "run.json")
        row = repo.register_model(
            self.store,
            name=self.name,
            version=version,
            base_model=result.base_model,
            adapter_path=str(folder),
            dataset_hash=result.dataset_hash,
            training_run_id=training_run_id,
            metrics={**result.metrics, **(extra_metrics or {})},
        )
        return RegisteredModel.from_row(row)

    def versions(self) -> list[RegisteredModel]:
        """All versions of this model, newest first."""
        return [RegisteredModel.from_row(r) for r in repo.list_models(self.store, name=self.name)]

    def runs(self, limit: int = 50) -> list[TrainingRun]:
        return repo.list_training_runs(self.store, limit=limit)

    def current(self) -> RegisteredModel | None:
        """The promoted (served) version, if any."""
        row = repo.promoted_model(self.store, self.name)
        return RegisteredModel.from_row(row) if row else None

    def resolve(self, ref: str) -> RegisteredModel:
        """A version by registry id (``mdl_…``) or version string."""
        for model in self.versions():
            if ref in (model.id, model.version):
                return model
        known = ", ".join(m.version for m in self.versions()[:10]) or "(none registered)"
        raise RegistryError(f"no version {ref!r} of model {self.name!r}; known versions: {known}")

    def promote(self, ref: str, *, actor: str = "cli") -> RegisteredModel:
        """Make ``ref`` the served version (the previous one is retired)."""
        model = self.resolve(ref)
        _require_on_disk(model.adapter_path, model.version)
        return RegisteredModel.from_row(repo.promote_model(self.store, model.id, actor=actor))

    def rollback(self, *, actor: str = "cli") -> RegisteredModel:
        """Re-promote the previously promoted version (one command, one transaction); refused, with
        nothing changed, when that version's adapter folder is gone — serving it would fail."""
        row = repo.rollback_model(
            self.store, self.name, actor=actor, check=lambda r: _require_on_disk(r.adapter_path, r.version)
        )
        return RegisteredModel.from_row(row)


def _require_on_disk(adapter_path: str | None, version: str) -> None:
    if adapter_path and not Path(adapter_path).is_dir():
        raise RegistryError(f"adapter folder {adapter_path} of {version} is missing on disk")


def _weights_digest(folder: Path) -> str | None:
    """A digest of an adapter folder's weight files (None when it has none, or is gone)."""
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) if folder.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
