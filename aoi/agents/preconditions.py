"""Live-state preconditions some verbs need before the executor may write.

The policy bounds a request's parameters; a few verbs are only safe when the *live* object is in a
given state, which only a read at execution time can show. ``check_preconditions(reader, action)``
returns None when the write may go ahead, else the reason it must be refused.

- ``release_pv_claim``: the PersistentVolume must be ``Released`` (its claim is gone) and its
  ``claimRef`` must name a claim in the request's ``claim_namespace`` (which the policy restricts to
  app namespaces). Clearing the claimRef of a Bound volume would let another claim steal live data;
  clearing one reserved for another namespace would hand that namespace's data to this one.
- ``scale`` / ``ecs_set_desired_count``: the policy bounds the new count by a multiple of the current
  one the request states (``current_replicas`` / ``current_count``); the live value must equal it,
  else the bound was checked against a number the planner made up or read long ago.
"""

from __future__ import annotations

from collections.abc import Callable

from aoi.agents.backends.base import BackendError, NotFoundError, ReadBackend
from aoi.policies.render import RenderedAction


def _release_pv_claim(reader: ReadBackend, action: RenderedAction) -> str | None:
    try:
        pv = reader.get_object("PersistentVolume", None, action.target)
    except NotFoundError:
        return f"PersistentVolume {action.target} does not exist"
    except BackendError as exc:
        return f"cannot read PersistentVolume {action.target} to check it is Released: {exc}"
    phase = (pv.get("status") or {}).get("phase")
    if phase != "Released":
        state = phase or "of unknown phase"
        return f"PersistentVolume {action.target} is {state}, not Released: refusing to detach its claim"
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    wanted = action.params.get("claim_namespace")
    if ref.get("namespace") != wanted:
        return (
            f"PersistentVolume {action.target} is reserved for a claim in namespace "
            f"{ref.get('namespace')!r}, not {wanted!r}"
        )
    return None


def _observed_matches(live: int, observed: object, what: str) -> str | None:
    """None when the request states no observed value (its policy bounds nothing by it) or the right one."""
    if observed is None:
        return None
    if not isinstance(observed, int) or isinstance(observed, bool) or observed != live:
        return (
            f"{what} is {live} now, but the proposal was checked against {observed!r}: its "
            f"at-most-4× bound does not hold for the live value; ask for a fresh diagnosis"
        )
    return None


def _scale(reader: ReadBackend, action: RenderedAction) -> str | None:
    """The policy bounds ``replicas`` by a multiple of ``current_replicas``, a number the planner
    supplied: the live Deployment must still have that many, or the bound means nothing (a proposal
    claiming 1,000 current replicas could scale 1 → 20)."""
    try:
        deployment = reader.get_object("Deployment", action.namespace, action.target)
    except NotFoundError:
        return f"Deployment {action.namespace}/{action.target} does not exist"
    except BackendError as exc:
        return f"cannot read Deployment {action.namespace}/{action.target} to check its replicas: {exc}"
    live = (deployment.get("spec") or {}).get("replicas", 1)
    where = f"Deployment {action.namespace}/{action.target}'s replica count"
    return _observed_matches(int(live), action.params.get("current_replicas"), where)


def _ecs_desired_count(reader: ReadBackend, action: RenderedAction) -> str | None:
    """``desired_count`` is bounded by ``current_count`` as ``scale``'s replicas are: check it live."""
    services = getattr(reader, "ecs_services", None)
    if services is None:
        return "the reader cannot describe ECS services to check the current desired count"
    try:
        found = services(action.namespace, [action.target])
    except BackendError as exc:
        return f"cannot describe ECS service {action.namespace}/{action.target}: {exc}"
    if not found:
        return f"ECS service {action.namespace}/{action.target} does not exist"
    where = f"ECS service {action.namespace}/{action.target}'s desired count"
    return _observed_matches(int(found[0]["desired"]), action.params.get("current_count"), where)


CHECKS: dict[str, Callable[[ReadBackend, RenderedAction], str | None]] = {
    "release_pv_claim": _release_pv_claim,
    "scale": _scale,
    "ecs_set_desired_count": _ecs_desired_count,
}


def check_preconditions(reader: ReadBackend, action: RenderedAction) -> str | None:
    """Why ``action`` must not run against the live state now, or None if it may."""
    check = CHECKS.get(action.verb)
    return None if check is None else check(reader, action)
