"""Approvers come from the policy (users and user groups resolved through the Web API) plus extras."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from aoi.handlers.approvers import ApproverDirectory
from aoi.policies.evaluate import authorise
from aoi.policies.schema import load_policy
from tests.fakes.slack_api import FakeSlackAPI

POLICY = load_policy(None)
RULE = "k8s-rollout-restart"  # approvers: sre-oncall (users U0AOISRE01/02, user group @sre-oncall)


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as server:
        yield server


def _client(fake: FakeSlackAPI) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url)


def test_member_of_a_policy_user_group_is_an_approver(fake: FakeSlackAPI) -> None:
    fake.set_usergroup("S0SREONCALL", ["U0GROUPIE"], handle="sre-oncall")
    resolution = ApproverDirectory().resolve(_client(fake), POLICY, RULE, "U0GROUPIE")
    assert resolution.actor.groups == ("sre-oncall",)
    assert authorise(POLICY, RULE, resolution.actor)
    assert fake.calls_to("usergroups.users.list")[0].params["usergroup"] == "S0SREONCALL"


def test_stranger_is_not_an_approver_unless_listed_in_aoi_approvers(fake: FakeSlackAPI) -> None:
    fake.set_usergroup("S0SREONCALL", ["U0GROUPIE"], handle="sre-oncall")
    resolution = ApproverDirectory().resolve(_client(fake), POLICY, RULE, "U0STRANGER")
    assert resolution.actor.groups == ()
    assert not authorise(POLICY, RULE, resolution.actor)
    assert authorise(POLICY, RULE, resolution.actor, extra_approvers=["U0STRANGER"])


def test_group_memberships_are_cached(fake: FakeSlackAPI) -> None:
    fake.set_usergroup("S0SREONCALL", ["U0GROUPIE"], handle="sre-oncall")
    directory = ApproverDirectory(ttl_s=60)
    for _ in range(3):
        directory.resolve(_client(fake), POLICY, RULE, "U0GROUPIE")
    assert len(fake.calls_to("usergroups.users.list")) == 1 and len(fake.calls_to("usergroups.list")) == 1


def test_unreadable_group_fails_closed_and_says_which_group(fake: FakeSlackAPI) -> None:
    fake.fail("usergroups.list", error="missing_scope")
    resolution = ApproverDirectory().resolve(_client(fake), POLICY, RULE, "U0GROUPIE")
    assert resolution.actor.groups == () and "sre-oncall" in resolution.unreadable
    assert not authorise(POLICY, RULE, resolution.actor)


def test_unknown_rule_has_no_groups_to_check(fake: FakeSlackAPI) -> None:
    resolution = ApproverDirectory().resolve(_client(fake), POLICY, "no-such-rule", "U0AOISRE01")
    assert resolution.actor.groups == () and fake.calls_to("usergroups.list") == []
