"""The one settings object: the only place in AOI that reads the environment or a config file.

Everything else receives a ``Settings`` instance (or the values it needs) from the composition root,
so tests can build one explicitly and nothing reads ``os.environ`` behind their back.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SIM_PROBLEM = "k8s_target_port-misconfig-mitigation-1"


def default_data_dir() -> Path:
    """Where AOI keeps its SQLite file, models and reports unless told otherwise."""
    return Path(user_data_dir("aoi", appauthor=False))


def normalise_database_url(url: str) -> str:
    """Rewrite the Heroku-style ``postgres://`` and bare ``postgresql://`` to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    """AOI configuration, from environment variables (and an optional ``.env`` file).

    Names follow DESIGN.md §6; Slack credentials are optional so that ``aoi demo`` and the simulator
    run with no workspace at all.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")

    data_dir: Path = Field(default_factory=default_data_dir, alias="AOI_DATA_DIR")
    database_url: str | None = Field(default=None, alias="AOI_DATABASE_URL")
    backend: Literal["sim", "kubernetes"] = Field(default="sim", alias="AOI_BACKEND")
    policy_file: Path | None = Field(default=None, alias="AOI_POLICY_FILE")
    incident_channel_pattern: str = Field(default=r"^(inc|incident)-", alias="AOI_INCIDENT_CHANNEL_PATTERN")
    alert_channel: str | None = Field(default=None, alias="AOI_ALERT_CHANNEL")
    announce_channel: str | None = Field(default=None, alias="AOI_ANNOUNCE_CHANNEL")

    planner: Literal["heuristic", "openai", "local"] = Field(default="heuristic", alias="AOI_PLANNER")
    llm_base_url: str | None = Field(default=None, alias="AOI_LLM_BASE_URL")
    llm_model: str | None = Field(default=None, alias="AOI_LLM_MODEL")
    llm_api_key: str | None = Field(default=None, alias="AOI_LLM_API_KEY")
    llm_timeout_s: float = Field(default=60.0, gt=0, alias="AOI_LLM_TIMEOUT_S")
    # completion tokens per step; reasoning models (Qwen3, DeepSeek-R1, o-series) think inside them
    llm_max_tokens: int = Field(default=512, ge=16, le=131_072, alias="AOI_LLM_MAX_TOKENS")
    local_model_path: Path | None = Field(default=None, alias="AOI_LOCAL_MODEL_PATH")
    local_adapter_path: Path | None = Field(default=None, alias="AOI_LOCAL_ADAPTER_PATH")
    # constrained: the step grammar picks what the model may write (always a valid step); free: plain
    # greedy decoding, parsed and re-asked like the openai planner (for comparison and debugging)
    local_decoding: Literal["constrained", "free"] = Field(default="constrained", alias="AOI_LOCAL_DECODING")
    # auto: a CUDA GPU when torch sees one, else the CPU; cpu / cuda / cuda:N pin it
    local_device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", alias="AOI_LOCAL_DEVICE")

    approvers: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="AOI_APPROVERS")
    sim_problem: str = Field(default=DEFAULT_SIM_PROBLEM, alias="AOI_SIM_PROBLEM")
    sim_suite: Path | None = Field(default=None, alias="AOI_SIM_SUITE")

    kubeconfig_read: Path | None = Field(default=None, alias="AOI_KUBECONFIG_READ")
    kubeconfig_write: Path | None = Field(default=None, alias="AOI_KUBECONFIG_WRITE")
    kube_context_read: str | None = Field(default=None, alias="AOI_KUBE_CONTEXT_READ")
    kube_context_write: str | None = Field(default=None, alias="AOI_KUBE_CONTEXT_WRITE")
    prometheus_url: str | None = Field(default=None, alias="AOI_PROMETHEUS_URL")
    jaeger_url: str | None = Field(default=None, alias="AOI_JAEGER_URL")

    queue_url: str | None = Field(default=None, alias="AOI_QUEUE_URL")
    alert_token: str | None = Field(default=None, alias="AOI_ALERT_TOKEN")
    worker_threads: int = Field(default=4, ge=1, le=64, alias="AOI_WORKER_THREADS")
    progress_interval_s: float = Field(default=2.0, ge=0.0, alias="AOI_PROGRESS_INTERVAL_S")
    # a proposed fix older than this is not approved (its evidence is stale); 0 = no limit
    proposal_ttl_minutes: float = Field(default=120.0, ge=0.0, alias="AOI_PROPOSAL_TTL_MINUTES")
    guidance_embedder: Literal["minilm", "hashing", "off"] = Field(
        default="minilm", alias="AOI_GUIDANCE_EMBEDDER"
    )
    port: int = Field(default=3000, ge=1, le=65535, alias="PORT")
    retrain_cron: str = Field(default="0 3 * * 1", alias="AOI_RETRAIN_CRON")
    retention_days: int = Field(default=365, alias="AOI_RETENTION_DAYS")
    log_level: str = Field(
        default="INFO", pattern=r"(?i)^(debug|info|warning|error|critical)$", alias="AOI_LOG_LEVEL"
    )

    @field_validator("incident_channel_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        """Checked at start-up: a bad pattern must not surface as the first channel_created event's error."""
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return value

    @field_validator("backend", mode="before")
    @classmethod
    def _library_only_backends(cls, value: object) -> object:
        """AWS and GCP exist as reader/writer libraries only: say so instead of a bare enum error."""
        name = value.strip().lower() if isinstance(value, str) else None
        if name in ("aws", "gcp"):
            raise ValueError(
                f"{name} is not served yet: aoi.agents.backends.{name} "
                "is a read backend library (tested against moto / a loopback gRPC server) that no "
                "Observer tool or executor route uses; AOI_BACKEND takes sim or kubernetes"
            )
        return value

    @field_validator("alert_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        """An empty AOI_ALERT_TOKEN is no token (alerts off, said so) rather than one no client sends."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("approvers", mode="before")
    @classmethod
    def _split_approvers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL to use: the configured one, normalised, or a SQLite file in data_dir."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'aoi.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process (the composition root calls this)."""
    return Settings()
