"""Who may approve: the policy's approvers, with Slack user groups resolved through the Web API.

A policy names approvers as user ids and user groups (ids ``S…`` or handles like ``sre-oncall``).
``authorise`` in ``aoi.policies`` is pure, so the clicking user's relevant group memberships are
resolved here (``usergroups.list`` for handles, ``usergroups.users.list`` for members) and passed in
as ``Actor.groups``. Memberships are cached for ``ttl_s`` seconds. Resolution fails closed: a group
that cannot be read (missing ``usergroups:read`` scope, unknown handle) grants nothing, and the
refusal names the group that could not be checked.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from aoi.policies.evaluate import Actor
from aoi.policies.schema import Policy

log = logging.getLogger(__name__)
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,20}")


@dataclass
class Resolution:
    """The actor to authorise, and the groups whose membership could not be checked (and why)."""

    actor: Actor
    unreadable: dict[str, str] = field(default_factory=dict)


class ApproverDirectory:
    """Resolves a user's membership in the user groups a policy rule names, with a TTL cache."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._handles: tuple[float, dict[str, str]] | None = None

    def groups_of_rule(self, policy: Policy, rule_id: str | None) -> list[str]:
        rule = policy.rule(rule_id) if rule_id else None
        if rule is None:
            return []
        groups: dict[str, None] = {}
        for name in rule.approvers:
            approver_set = policy.approvers.get(name)
            if approver_set is not None:
                groups.update(dict.fromkeys(approver_set.usergroups))
        return list(groups)

    def resolve(self, client: WebClient, policy: Policy, rule_id: str | None, user_id: str) -> Resolution:
        """The ``Actor`` for ``user_id`` with the rule's groups they belong to."""
        member_of: list[str] = []
        unreadable: dict[str, str] = {}
        for group in self.groups_of_rule(policy, rule_id):
            try:
                if user_id in self.members(client, group):
                    member_of.append(group)
            except (SlackApiError, LookupError) as exc:
                reason = exc.response.get("error", str(exc)) if isinstance(exc, SlackApiError) else str(exc)
                log.warning("cannot read user group %s: %s", group, reason)
                unreadable[group] = str(reason)
        return Resolution(Actor(user_id=user_id, groups=tuple(member_of)), unreadable)

    def members(self, client: WebClient, group: str) -> frozenset[str]:
        """User ids in ``group`` (an ``S…`` id or a handle, with or without ``@``)."""
        group_id = group if _GROUP_ID.fullmatch(group) else self._group_id(client, group.lstrip("@"))
        now = time.monotonic()
        with self._lock:
            cached = self._members.get(group_id)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        users = frozenset(client.usergroups_users_list(usergroup=group_id).get("users") or [])
        with self._lock:
            self._members[group_id] = (now, users)
        return users

    def _group_id(self, client: WebClient, handle: str) -> str:
        now = time.monotonic()
        with self._lock:
            handles = self._handles[1] if self._handles and now - self._handles[0] < self._ttl else None
        if handles is None:
            listing = client.usergroups_list(include_disabled=False).get("usergroups") or []
            handles = {str(g.get("handle")): str(g.get("id")) for g in listing if g.get("handle")}
            with self._lock:
                self._handles = (now, handles)
        if handle not in handles:
            raise LookupError(f"no Slack user group with handle @{handle} (known: {sorted(handles)[:10]})")
        return handles[handle]
