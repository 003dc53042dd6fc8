"""Unbound claims: a Pending PersistentVolumeClaim whose volume is ``Released`` to a stale claim.

When an app is torn down and redeployed, its new claims get new uids; volumes with reclaim policy
Retain still carry a ``claimRef`` naming the *deleted* claims (same namespace and name, old uid), so
the controller marks them Released and never binds the new claims: the pods stay Pending on
"unbound immediate PersistentVolumeClaims". The fix an SRE applies is clearing each such volume's
``claimRef`` (verb ``release_pv_claim``), one volume per approval.
"""

from __future__ import annotations

from typing import Any

from aoi.agents.planners.heuristic.facts import Facts

VOLUME_WORDS = ("persistentvolumeclaim", "unbound", "volume")


def mentions_volume(messages: list[str]) -> bool:
    """Whether scheduler/kubelet messages blame a volume or claim."""
    return any(word in m.lower() for m in messages for word in VOLUME_WORDS)


def stale_claims(facts: Facts) -> list[dict[str, Any]]:
    """Released volumes whose claimRef names a claim of this namespace that is Pending now under a
    different uid (the claim was recreated), in volume-name order."""
    ns = facts.namespace
    pending = {c["name"]: c for c in facts.pvcs or [] if c.get("phase") == "Pending"}
    out = []
    for pv in sorted(facts.pvs or [], key=lambda row: str(row["name"])):
        claim = pending.get(str(pv.get("claim_name")))
        if (
            pv.get("phase") == "Released"
            and pv.get("claim_namespace") == ns
            and claim is not None
            and pv.get("claim_uid")
            and pv.get("claim_uid") != claim.get("uid")
        ):
            out.append(pv)
    return out


def release_fixes(facts: Facts) -> list[dict[str, Any]]:
    """One ``release_pv_claim`` request per stale volume (empty when none is known)."""
    return [
        {
            "verb": "release_pv_claim",
            "target": str(pv["name"]),
            "params": {"claim_namespace": facts.namespace},
            "rationale": (
                f"PersistentVolume {pv['name']} is Released but still reserved for the deleted claim "
                f"{pv['claim_namespace']}/{pv['claim_name']} (uid {pv['claim_uid']}); clearing its "
                "claimRef lets the recreated claim bind"
            ),
        }
        for pv in stale_claims(facts)
    ]
