"""The one pure policy decision: may this request be proposed and executed, under which rule?

``evaluate`` is pure (no I/O, no clock, no globals but the packaged verb catalogue) and total: any
request data whatsoever — missing attributes, wrong types, wildcards, shell metacharacters, a
protected namespace — yields ``Decision(allowed=False, reason=...)``, never an exception. The
executor calls it again at execution time, so a proposal is re-checked against the policy in force
when the button is clicked.

Who may *approve* is a separate question (``authorise``/``approvals_complete``): ``evaluate``'s
``actor`` is whoever asks for the action to run (the approver, at execution time; ``None`` while a
proposal is annotated or rendered) and only matters when the policy restricts ``requesters``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from aoi.policies import patterns
from aoi.policies.catalogue import Catalogue, VerbSpec, load_catalogue
from aoi.policies.params import IntParam, check_value
from aoi.policies.schema import ApproverSet, Policy, Risk, Rule, required_params


@dataclass(frozen=True)
class Actor:
    """A Slack identity: the user id and the user groups (ids and/or handles) it belongs to."""

    user_id: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The verdict on one request. ``params`` are the checked parameters when allowed (else empty)."""

    allowed: bool
    rule_id: str | None
    reason: str
    risk: Risk | None = None
    approvals_required: int = 0
    approver_users: tuple[str, ...] = ()
    approver_groups: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Request:
    verb: str
    target: str
    namespace: str
    params: dict[str, Any]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(reason: str, rule_id: str | None = None) -> Decision:
    return Decision(allowed=False, rule_id=rule_id, reason=f"refused: {reason}")


def _field(request: Any, name: str) -> Any:
    if isinstance(request, Mapping):
        return request.get(name)
    return getattr(request, name, None)


def _extract(request: Any) -> _Request | str:
    """The request's four fields, type-checked; a string says what is wrong."""
    verb, target = _field(request, "verb"), _field(request, "target")
    namespace, params = _field(request, "namespace"), _field(request, "params")
    if not isinstance(verb, str) or not verb:
        return f"the request has no verb (got {_short(verb)})"
    if not isinstance(target, str):
        return f"target must be a string naming one object, got {_short(target)}"
    if namespace is None:
        namespace = ""
    if not isinstance(namespace, str):
        return f"namespace must be a string, got {_short(namespace)}"
    if params is None:
        params = {}
    if not isinstance(params, Mapping) or not all(isinstance(key, str) for key in params):
        return f"params must be a mapping with string keys, got {_short(params)}"
    return _Request(verb[:64], target, namespace, dict(params))


def _in_set(approvers: ApproverSet, actor: Any) -> bool:
    user_id, groups = getattr(actor, "user_id", None), getattr(actor, "groups", ())
    if isinstance(user_id, str) and user_id in approvers.users:
        return True
    if isinstance(groups, str) or not isinstance(groups, Iterable):
        return False
    names = {group.lstrip("@") for group in groups if isinstance(group, str)}
    return any(group.lstrip("@") in names for group in approvers.usergroups)


def _check_where(
    rule: Rule, spec: VerbSpec, catalogue: Catalogue, policy: Policy, request: _Request
) -> str | None:
    pattern = catalogue.namespace_pattern(rule.verb)
    if pattern is not None:
        ns = request.namespace
        # checked whole: a length cap of 253 first (as for targets), never a prefix — a 256-character
        # prefix once passed a region pattern with a shell payload after it
        if len(ns) > 253 or not patterns.fullmatch(pattern, ns):
            return f"namespace {_short(ns)} is not a valid {spec.scope.replace('_', ' ')} name (no wildcards)"
        if spec.platform == "kubernetes" and any(
            fnmatchcase(ns, glob) for glob in policy.protected_namespaces
        ):
            return (
                f"namespace {ns!r} is protected (control plane or denied_namespaces); AOI never writes there"
            )
        if not any(fnmatchcase(ns, glob) for glob in rule.namespaces):
            return f"namespace {ns!r} is not one where {rule.verb} is allowed ({', '.join(rule.namespaces)})"
    target = request.target
    if len(target) > 253 or not patterns.fullmatch(catalogue.target_pattern(rule.verb), target):
        return (
            f"target {_short(target)} is not a single valid {spec.target_kind} name (no wildcards or flags)"
        )
    if any(fnmatchcase(target, glob) for glob in rule.denied_targets):
        return f"target {target!r} is excluded by denied_targets {rule.denied_targets}"
    if not any(fnmatchcase(target, glob) for glob in rule.targets):
        return f"target {target!r} does not match the allowed targets {rule.targets}"
    return None


def _check_params(rule: Rule, spec: VerbSpec, params: dict[str, Any]) -> str | None:
    """Check ``params`` against ``rule``, filling the rule's defaults in: the caller passes each rule a
    copy of its own, so a default of a rule that then fails cannot leak into the next rule tried."""
    unknown = sorted(set(params) - set(rule.params))
    if unknown:
        names = ", ".join(_short(name) for name in unknown)
        return f"unexpected parameters {names}; {rule.verb} takes {sorted(rule.params)}"
    required = required_params(rule, spec)
    for name, param in rule.params.items():
        if name not in params and isinstance(param, IntParam) and param.default is not None:
            params[name] = param.default
        if name not in params:
            if name in required:
                return f"params.{name} is required ({param.description or param.type})"
            continue
        problem = check_value(param, params[name], f"params.{name}")
        if problem:
            return problem
    for name, param in rule.params.items():
        if isinstance(param, IntParam) and param.max_ratio_of is not None and name in params:
            current = params.get(param.max_ratio_of)
            if current is None:
                return (
                    f"params.{param.max_ratio_of} (the observed current value) is required to check "
                    f"that {name} is at most {param.max_ratio:g}× it"
                )
            limit = max(int(current), 1) * (param.max_ratio or 1)
            if params[name] > limit:
                ratio = f"{param.max_ratio:g}×"
                return f"params.{name}={params[name]} exceeds {ratio} the current {current} (max {limit:g})"
    return None


def _decide(policy: Policy, request: Any, actor: Any, catalogue: Catalogue) -> Decision:
    parsed = _extract(request)
    if isinstance(parsed, str):
        return _refuse(parsed)
    rules = policy.rules_for(parsed.verb)
    if not rules:
        return _refuse(f"verb {_short(parsed.verb)} is not in the policy whitelist; allowed: {policy.verbs}")
    # ``requesters`` restrict who may have a fix *run*: the executor always passes its actor; a
    # proposal being annotated or rendered has no requester yet (checking ``None`` there refused every
    # fix of a policy that set requesters, even when the approver was one)
    if policy.requesters is not None and actor is not None and not _in_set(policy.requesters, actor):
        return _refuse(
            f"{_short(getattr(actor, 'user_id', actor))} may not request actions under this policy"
        )
    failures = []
    for rule in rules:
        spec = catalogue.verbs[rule.verb]
        params = dict(parsed.params)
        problem = _check_where(rule, spec, catalogue, policy, parsed) or _check_params(rule, spec, params)
        if problem is None:
            users, groups = _approvers_of(policy, rule)
            where = f" in {parsed.namespace}" if catalogue.namespace_pattern(rule.verb) else ""
            return Decision(
                allowed=True,
                rule_id=rule.id,
                reason=(
                    f"allowed by rule {rule.id}: {rule.verb} {parsed.target}{where} "
                    f"(risk {rule.risk}, {rule.approvals_required} approval(s) "
                    f"from {', '.join(rule.approvers)})"
                ),
                risk=rule.risk,
                approvals_required=rule.approvals_required,
                approver_users=users,
                approver_groups=groups,
                params=params,
            )
        failures.append((rule.id, problem))
    if len(failures) == 1:
        return _refuse(failures[0][1], failures[0][0])
    return _refuse("; ".join(f"rule {rule_id}: {problem}" for rule_id, problem in failures))


def _approvers_of(policy: Policy, rule: Rule) -> tuple[tuple[str, ...], tuple[str, ...]]:
    users: dict[str, None] = {}
    groups: dict[str, None] = {}
    for name in rule.approvers:
        users.update(dict.fromkeys(policy.approvers[name].users))
        groups.update(dict.fromkeys(policy.approvers[name].usergroups))
    return tuple(users), tuple(groups)


def evaluate(policy: Policy, request: Any, actor: Actor | None = None) -> Decision:
    """Decide whether ``request`` (any object or mapping with ``verb``, ``target``, ``namespace``,
    ``params``) is allowed by ``policy``. Rules for the verb are tried in file order; the first that
    accepts it wins. Never raises on bad request data: a refusal says what was wrong and expected.
    """
    try:
        return _decide(policy, request, actor, load_catalogue())
    except Exception as exc:  # totality: hostile request objects (raising properties, odd types) refuse
        return _refuse(f"the request could not be evaluated ({type(exc).__name__}: {str(exc)[:200]})")


def authorise(
    policy: Policy, rule_id: str | None, actor: Actor | None, extra_approvers: Iterable[str] = ()
) -> bool:
    """True when ``actor`` may approve actions allowed by ``rule_id``.

    An approver is a user listed in one of the rule's approver sets, a member of one of their user
    groups (``actor.groups`` holds the ids/handles the bot resolved through the Slack API), or one of
    ``extra_approvers`` (``AOI_APPROVERS``). An unknown rule or a malformed actor is never authorised.
    """
    rule = policy.rule(rule_id) if isinstance(rule_id, str) else None
    user_id = getattr(actor, "user_id", None)
    if rule is None or not isinstance(user_id, str) or not user_id:
        return False
    if isinstance(extra_approvers, Iterable) and user_id in set(extra_approvers):
        return True
    return any(_in_set(policy.approvers[name], actor) for name in rule.approvers)


def approvals_complete(
    policy: Policy, rule_id: str | None, approvals: Iterable[Actor], extra_approvers: Iterable[str] = ()
) -> bool:
    """True when enough *distinct*, authorised people approved (the two-person rule for high risk)."""
    rule = policy.rule(rule_id) if isinstance(rule_id, str) else None
    if rule is None:
        return False
    extra = list(extra_approvers)
    approved = {actor.user_id for actor in approvals if authorise(policy, rule_id, actor, extra)}
    return len(approved) >= rule.approvals_required
