"""A scripted investigator for handler tests: a fixed diagnosis whose fixes the real policy annotates.

The Slack layer is what these tests exercise; the Observer is exercised end to end elsewhere (the
incident-flow test runs the real Observer and heuristic planner on the simulator).
"""

from __future__ import annotations

import time

from aoi.agents.proposals import policy_annotator
from aoi.agents.records import ActionRequest, Diagnosis, RootCause, Step, Trajectory, TrajectoryStep
from aoi.handlers.context import Investigator, StepCallback
from aoi.policies.schema import Policy

RESTART = ActionRequest(
    verb="rollout_restart",
    target="user-service",
    namespace="test-social-network",
    rationale="pods are wedged",
)
SET_IMAGE = ActionRequest(
    verb="set_image",
    target="user-service",
    namespace="test-social-network",
    params={"container": "user-service", "image": "deathstarbench/social-network-microservices:latest"},
    rationale="roll back to the known-good image",
)


def scripted_investigator(policy: Policy, fixes: list[ActionRequest], delay_s: float = 0.0) -> Investigator:
    """An investigator that reports one probe step and returns a diagnosis proposing ``fixes``."""

    def investigate(incident: str, on_step: StepCallback) -> Trajectory:
        on_step(TrajectoryStep(index=1, step=Step(action_type="probe", tool="get_pods", summary="list pods")))
        time.sleep(delay_s)
        diagnosis = Diagnosis(
            detected=True,
            faulty_components=["user-service"],
            root_cause=RootCause(
                system_level="Application", fault_type="Misconfiguration", summary="bad rollout"
            ),
            remediations=policy_annotator(policy)(fixes),
            confidence=0.8,
            steps=2,
            planner="scripted",
        )
        return Trajectory(incident=incident, planner="scripted", diagnosis=diagnosis)

    return investigate
