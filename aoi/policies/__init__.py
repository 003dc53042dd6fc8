"""What AOI may do: the action whitelist and approver rules as data, and one pure evaluator.

``policies`` imports nothing else from ``aoi`` (requests are duck-typed: any object or mapping with
``verb``, ``target``, ``namespace`` and ``params``).

    policy = load_policy(None)                      # the packaged default.yaml
    live = LivePolicy(path); live()                 # the file as it is now (edits apply, bad ones don't)
    decision = evaluate(policy, request, actor)     # pure, total: never raises on request data
    authorise(policy, decision.rule_id, approver, extra_approvers)   # may this person approve?
    approvals_complete(policy, decision.rule_id, approvers)         # two-person rule satisfied?
    render_command(policy, request)                 # the exact kubectl/aws equivalent
    render_action(policy, request)                  # + the patch body / script the executor sends
"""

from aoi.policies.catalogue import Catalogue, VerbSpec, load_catalogue
from aoi.policies.errors import PolicyError
from aoi.policies.evaluate import Actor, Decision, approvals_complete, authorise, evaluate
from aoi.policies.live import LivePolicy
from aoi.policies.render import RenderedAction, RenderedPatch, RequestRefused, render_action, render_command
from aoi.policies.schema import (
    DEFAULT_POLICY_PATH,
    Policy,
    Rule,
    load_policy,
    load_policy_digested,
    parse_policy,
)

__all__ = [
    "DEFAULT_POLICY_PATH",
    "Actor",
    "Catalogue",
    "Decision",
    "LivePolicy",
    "Policy",
    "PolicyError",
    "RenderedAction",
    "RenderedPatch",
    "RequestRefused",
    "Rule",
    "VerbSpec",
    "approvals_complete",
    "authorise",
    "evaluate",
    "load_catalogue",
    "load_policy",
    "load_policy_digested",
    "parse_policy",
    "render_action",
    "render_command",
]
