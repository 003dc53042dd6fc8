"""Live-state preconditions some verbs need before the executor may write.

The policy bounds a request's parameters; a few verbs are only safe when the *live* object is in a
given state, which only a read at execution time can show. ``check_preconditions(reader, action)``
returns None when the write may go ahead, else the reason it must be refused.

- ``release_pv_claim``: the PersistentVolume must be ``Released`` (its claim is gone) and its
  ``claimRef`` must name a claim in the request's ``claim_namespace`` (which the policy restricts to
  app namespaces). Clearing the claimRef of a Bound volume would let another claim steal live data;
  clearing one reserved for another namespace would hand that namespace's data to this one.
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


CHECKS: dict[str, Callable[[ReadBackend, RenderedAction], str | None]] = {
    "release_pv_claim": _release_pv_claim,
}


def check_preconditions(reader: ReadBackend, action: RenderedAction) -> str | None:
    """Why ``action`` must not run against the live state now, or None if it may."""
    check = CHECKS.get(action.verb)
    return None if check is None else check(reader, action)
