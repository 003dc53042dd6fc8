"""Who may approve: approver sets, user groups, AOI_APPROVERS, and the two-person rule."""

from __future__ import annotations

from typing import Any

import pytest

from aoi.policies import Actor, Policy, approvals_complete, authorise


def test_listed_user_may_approve(policy: Policy) -> None:
    assert authorise(policy, "k8s-scale", Actor("U0AOISRE01"))


@pytest.mark.parametrize("group", ["sre-oncall", "@sre-oncall"])
def test_member_of_an_approver_group_may_approve(policy: Policy, group: str) -> None:
    assert authorise(policy, "k8s-scale", Actor("U0SOMEONE1", (group,)))


def test_unlisted_user_may_not_approve(policy: Policy) -> None:
    assert not authorise(policy, "k8s-scale", Actor("U0STRANGER", ("marketing",)))


def test_extra_approvers_from_settings_may_approve(policy: Policy) -> None:
    assert authorise(policy, "k8s-scale", Actor("U0EXTRA001"), extra_approvers=["U0EXTRA001"])


def test_platform_leads_approve_high_risk_but_not_low_risk(policy: Policy) -> None:
    lead = Actor("U0AOILEAD1")
    assert authorise(policy, "k8s-set-image", lead)
    assert not authorise(policy, "k8s-scale", lead)


@pytest.mark.parametrize("rule_id", [None, "", "no-such-rule"])
def test_unknown_rule_is_never_authorised(policy: Policy, rule_id: str | None) -> None:
    assert not authorise(policy, rule_id, Actor("U0AOISRE01"))


@pytest.mark.parametrize("actor", [None, "U0AOISRE01", Actor(""), object()])
def test_malformed_actor_is_never_authorised(policy: Policy, actor: Any) -> None:
    assert not authorise(policy, "k8s-scale", actor)


def test_high_risk_needs_two_different_authorised_approvers(policy: Policy) -> None:
    sre, lead, stranger = Actor("U0AOISRE01"), Actor("U0AOILEAD1"), Actor("U0STRANGER")
    assert not approvals_complete(policy, "ec2-reboot", [sre])
    assert not approvals_complete(policy, "ec2-reboot", [sre, sre])
    assert not approvals_complete(policy, "ec2-reboot", [sre, stranger])
    assert approvals_complete(policy, "ec2-reboot", [sre, lead])


def test_low_risk_needs_one_approval(policy: Policy) -> None:
    assert approvals_complete(policy, "k8s-scale", [Actor("U0AOISRE02")])
    assert not approvals_complete(policy, "k8s-scale", [])
