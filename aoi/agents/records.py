"""The records every layer above ``agents`` exchanges: steps, proposals, diagnoses, trajectories.

They are plain pydantic models so that they serialise to exactly the JSON of DESIGN.md §5 (what the
CLI prints, what the store keeps, what GRPO trains on) and validate whatever a model produced.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ActionType = Literal["probe", "propose", "submit"]
Risk = Literal["low", "medium", "high"]
ToolStatus = Literal["ok", "error", "no_data"]


def new_id(prefix: str) -> str:
    """A short, unique, prefixed id (``inv_…``, ``prop_…``, ``traj_…``)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Step(BaseModel):
    """One planner decision: the step schema that planners emit and GRPO trains on."""

    model_config = ConfigDict(extra="ignore")

    summary: str = ""
    action_type: ActionType
    reasoning: str = ""
    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    targets: list[str] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent_to_unit(cls, value: Any) -> Any:
        """Models often answer 0–100; accept that and scale it to 0–1."""
        if isinstance(value, int | float) and 1.0 < value <= 100.0:
            return float(value) / 100.0
        return value


class ActionRequest(BaseModel):
    """A proposed write, as data. Only the executor turns one into a call, after policy and approval."""

    verb: str
    target: str
    namespace: str
    params: dict[str, Any] = Field(default_factory=dict)
    rationale: str = ""


class Remediation(ActionRequest):
    """An ActionRequest as shown to a human: with its risk, the equivalent command and the rule."""

    risk: Risk = "medium"
    command: str = ""
    rule_id: str | None = None


class Evidence(BaseModel):
    tool: str
    invocation: str
    finding: str


class RootCause(BaseModel):
    system_level: str = ""
    fault_type: str = ""
    summary: str = ""


class TokenCount(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    in_: int = Field(default=0, alias="in")
    out: int = 0


class Diagnosis(BaseModel):
    """The Observer's answer (DESIGN.md §5); also what the grader is given."""

    model_config = ConfigDict(populate_by_name=True)

    detected: bool
    faulty_components: list[str] = Field(default_factory=list)
    root_cause: RootCause = Field(default_factory=RootCause)
    evidence: list[Evidence] = Field(default_factory=list)
    remediations: list[Remediation] = Field(default_factory=list)
    confidence: float = 0.0
    steps: int = 0
    tokens: TokenCount = Field(default_factory=TokenCount)
    seconds: float = 0.0
    trajectory_id: str = ""
    planner: str = ""
    model_version: str | None = None
    degraded: bool = False
    notes: list[str] = Field(default_factory=list)
    # Reads that failed (``tool(args): error``): a non-empty list makes this a partial diagnosis,
    # its confidence lowered accordingly (aoi.agents.coverage).
    unread: list[str] = Field(default_factory=list)
    # No read of the cluster succeeded: ``detected=False`` then means "not checked", never "healthy".
    undetermined: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        """The DESIGN.md JSON shape (``tokens`` as ``{"in", "out"}``)."""
        return self.model_dump(mode="json", by_alias=True)


class ToolResult(BaseModel):
    """What a read tool returns: status, the exact invocation, output (redacted, truncated) or error."""

    tool: str
    invocation: str
    status: ToolStatus
    output: str = ""
    error: str | None = None
    truncated: bool = False
    # Structured rows (redacted) for rule-based planners; not serialised, so stored trajectories and
    # prompts carry only the text above.
    data: Any = Field(default=None, exclude=True)


class TrajectoryStep(BaseModel):
    """A step as taken: the planner's Step plus what its tool returned and the context it saw."""

    index: int
    step: Step
    result: ToolResult | None = None
    planner: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Trajectory(BaseModel):
    """A whole investigation: the incident text, each step, and the final diagnosis."""

    id: str = Field(default_factory=lambda: new_id("traj"))
    problem_id: str | None = None
    incident: str = ""
    task: str | None = None
    planner: str = ""
    steps: list[TrajectoryStep] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None
