"""The vocabularies of the store's status and kind columns (enforced again by CHECK constraints)."""

from __future__ import annotations

from enum import StrEnum


class IncidentSource(StrEnum):
    SLACK = "slack"
    ALERT = "alert"
    CLI = "cli"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class InvestigationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DIAGNOSED = "diagnosed"
    FAILED = "failed"


class ProposalStatus(StrEnum):
    """pending → approved | rejected; approved → executing → succeeded | failed (each step once)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FeedbackKind(StrEnum):
    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTION_FAILED = "execution_failed"
    EXECUTION_VERIFIED = "execution_verified"

    @property
    def positive(self) -> bool:
        """Whether this kind counts as a desirable outcome (KTO's ``label``)."""
        return self in _POSITIVE


_POSITIVE = {
    FeedbackKind.THUMBS_UP,
    FeedbackKind.HELPFUL,
    FeedbackKind.APPROVED,
    FeedbackKind.EXECUTION_VERIFIED,
}


class FeedbackSource(StrEnum):
    REACTION = "reaction"
    BUTTON = "button"
    APPROVAL = "approval"
    EXECUTOR = "executor"
    EVAL = "eval"


class TrainingKind(StrEnum):
    GRPO = "grpo"
    KTO = "kto"
    SFT = "sft"


class TrainingStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"
    PROMOTED = "promoted"
    RETIRED = "retired"
