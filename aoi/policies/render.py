"""Turn an allowed request into what humans see and what the executor sends.

``render_command`` is the exact kubectl/aws equivalent shown next to the Approve button; the patch
body and database script shown inside it are the very ones ``render_action`` hands the executor, so
what is approved is what runs. Rendering an un-allowed request raises ``RequestRefused`` (with the
policy's reason): nothing outside the whitelist can even be rendered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aoi.policies.catalogue import Operation, load_catalogue
from aoi.policies.evaluate import evaluate
from aoi.policies.schema import Policy
from aoi.policies.templates import render_command_template, render_script_template, render_structure


class RequestRefused(ValueError):
    """The request is not allowed by the policy; ``str(exc)`` is the policy's reason."""


@dataclass(frozen=True)
class RenderedPatch:
    """A patch for ``WriteBackend.patch(kind, namespace, name, body, patch_type)``."""

    kind: str
    namespace: str | None
    name: str
    patch_type: str
    body: Any


@dataclass(frozen=True)
class RenderedAction:
    """Everything the executor needs for one allowed request.

    ``operation`` is the ``WriteBackend`` method (``aws`` for the AWS writer); ``params`` the checked
    parameters; ``patch`` is set for patch verbs. For exec verbs (``exec_db``) ``script`` is the
    command the executor runs in the pod — the rule's ``exec`` line (e.g. ``sh -c '...' repair
    SCRIPT``, the pod's shell supplying credentials from its env) or, without one, the bare database
    script — and ``db_script`` the database script alone.
    """

    rule_id: str
    verb: str
    operation: Operation
    target: str
    namespace: str | None
    params: dict[str, Any]
    command: str
    patch: RenderedPatch | None
    script: str | None
    db_script: str | None = None


def render_action(policy: Policy, request: Any) -> RenderedAction:
    """Evaluate ``request`` (with no requester) and render it; raises ``RequestRefused`` if refused."""
    decision = evaluate(policy, request)
    if not decision.allowed or decision.rule_id is None:
        raise RequestRefused(decision.reason)
    rule = policy.rule(decision.rule_id)
    assert rule is not None  # evaluate only returns rule ids of this policy
    spec = load_catalogue().verbs[rule.verb]
    target = str(_field(request, "target"))
    namespace = None if spec.scope == "cluster" else str(_field(request, "namespace"))
    values: dict[str, Any] = {"namespace": namespace or "", "target": target, **decision.params}
    patch = None
    if rule.patch is not None:
        body = render_structure(rule.patch.body, values)
        patch = RenderedPatch(spec.target_kind, namespace, target, rule.patch.type, body)
        values["patch"] = json.dumps(body, separators=(",", ":"))
    script = db_script = None
    if rule.script is not None:
        script = db_script = render_script_template(rule.script, values)
        values["script"] = db_script
        if rule.exec is not None:
            script = values["exec"] = render_command_template(rule.exec, values)
    return RenderedAction(
        rule_id=rule.id,
        verb=rule.verb,
        operation=spec.operation,
        target=target,
        namespace=namespace,
        params=dict(decision.params),
        command=render_command_template(rule.command, values, verbatim=frozenset({"exec"})),
        patch=patch,
        script=script,
        db_script=db_script,
    )


def _field(request: Any, name: str) -> Any:
    return request.get(name) if isinstance(request, Mapping) else getattr(request, name, None)


def render_command(policy: Policy, request: Any) -> str:
    """The exact shell command equivalent to executing ``request`` (every value shell-quoted)."""
    return render_action(policy, request).command
