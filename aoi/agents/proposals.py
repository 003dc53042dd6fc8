"""Proposed fixes as data: parsing a planner's ActionRequest and annotating it for humans.

A proposal is never a call (DESIGN.md §3). The Observer records it; ``annotate_remediations`` attaches
what a human needs to decide — the policy rule that allows it, its risk and the exact equivalent
command — using the same policy the executor re-checks at click time, and drops anything the policy
does not allow, so nothing outside the whitelist is ever shown as an Approve button.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from aoi.agents.planners.base import PlannerError
from aoi.agents.records import ActionRequest, Remediation
from aoi.policies.evaluate import evaluate
from aoi.policies.render import RequestRefused, render_action
from aoi.policies.schema import Policy, load_policy


def parse_action_request(args: Any) -> ActionRequest:
    """Validate a planner's proposal; raises ``PlannerError`` saying which field is wrong."""
    if isinstance(args, ActionRequest):
        return args
    if not isinstance(args, dict):
        raise PlannerError(f"a proposal must be an object with verb, target, namespace, params; got {args!r}")
    try:
        request = ActionRequest.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PlannerError(f"invalid proposal {args!r}: {problems}") from exc
    if not request.verb or not request.target:
        raise PlannerError(f"a proposal needs a verb and a target, got {args!r}")
    return request


Annotator = Callable[[list[ActionRequest]], list[Remediation]]


def annotate(policy: Policy, request: ActionRequest) -> Remediation | None:
    """The request with its rule, risk and exact command, or None when the policy refuses it."""
    decision = evaluate(policy, request)
    if not decision.allowed or decision.risk is None:
        return None
    try:
        rendered = render_action(policy, request)
    except RequestRefused:
        return None
    return Remediation(
        **request.model_dump(),
        risk=decision.risk,
        command=rendered.command,
        rule_id=decision.rule_id,
    )


def policy_annotator(policy: Policy) -> Annotator:
    """An annotator bound to ``policy``: refused requests are dropped (the Observer notes how many)."""

    def annotate_all(requests: list[ActionRequest]) -> list[Remediation]:
        return [r for r in (annotate(policy, request) for request in requests) if r is not None]

    return annotate_all


def annotate_remediations(requests: list[ActionRequest]) -> list[Remediation]:
    """Annotate with the packaged default policy."""
    return policy_annotator(load_policy(None))(requests)
