"""A proposed fix as a Slack message: exact command, risk, policy rule, Approve / Reject buttons.

One builder renders every state of a proposal (pending → executing → succeeded/failed, or rejected),
so the message is always replaced whole by ``chat.update``; the buttons exist only while a decision is
still possible, which is how "the buttons are replaced" after execution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aoi.agents.records import Remediation
from aoi.handlers.blocks.common import (
    APPROVE,
    REJECT,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
    Block,
    actions,
    button,
    context,
    escape,
    fields_section,
    section,
    truncate,
)

RISK_ICON = {"low": ":large_green_circle:", "medium": ":large_yellow_circle:", "high": ":red_circle:"}


@dataclass
class ProposalView:
    """What a proposal message shows: ``status`` is the store's proposal status, or ``refused`` when
    the executor's re-check at click time refused an approved proposal."""

    proposal_id: str
    remediation: Remediation
    rule_id: str | None
    approvals_required: int = 1
    approved_by: list[str] = field(default_factory=list)
    status: str = "pending"
    rejected_by: str | None = None
    reason: str | None = None
    outcome: str | None = None
    verification: str | None = None
    policy_refused: str | None = None


COMMAND_DISPLAY_LIMIT = 2500


def hidden_command(command: str | None) -> str | None:
    """Why a command cannot be approved from Slack, or ``None``: an approver must see all of what
    runs, and a command longer than the message can show (a ConfigMap value of 200 KB) would hide
    its tail, whatever it holds."""
    if command and len(command) > COMMAND_DISPLAY_LIMIT:
        return (
            f"its command is {len(command):,} characters, more than the {COMMAND_DISPLAY_LIMIT:,} a "
            "message can show whole, so it cannot be approved here; run it by hand after reviewing it"
        )
    return None


def _shown(command: str) -> str:
    """The command as shown in a code block: a ``` inside it would close the block and let what
    follows render as message markup, so its backticks are kept apart by a zero-width space."""
    return escape(command.replace("```", "`\u200b`\u200b`"))


def _mentions(users: list[str]) -> str:
    return ", ".join(f"<@{u}>" for u in users) or "nobody yet"


def _status_block(view: ProposalView) -> Block | None:
    approvers = _mentions(view.approved_by)
    if view.status == "pending":
        if view.policy_refused:
            return context(f":no_entry: Not allowed by policy: {escape(view.policy_refused)}")
        hidden = hidden_command(view.remediation.command)
        if hidden:
            return context(f":no_entry: Not approvable in Slack: {escape(hidden)}")
        if view.approved_by:
            return context(
                f":hourglass: {len(view.approved_by)} of {view.approvals_required} approvals: {approvers}"
            )
        count = view.approvals_required
        need = f"{count} different approvers" if count > 1 else "one approver"
        return context(f"Needs {need} from the policy's approver list.")
    if view.status in ("approved", "executing"):
        return context(f":gear: Approved by {approvers}; executing…")
    if view.status == "rejected":
        why = f": {escape(truncate(view.reason, 500))}" if view.reason else ""
        by = f"<@{view.rejected_by}>" if view.rejected_by else "an approver"
        return section(f":no_entry_sign: *Rejected* by {by}{why}. Nothing was run.")
    icon = {"succeeded": ":white_check_mark:", "refused": ":no_entry:"}.get(view.status, ":x:")
    lines = [f"{icon} *{view.status.capitalize()}* — approved by {approvers}"]
    if view.outcome:
        lines.append(f"*Outcome:* {escape(truncate(view.outcome, 1000))}")
    if view.verification:
        lines.append(f"*Verification:* {escape(truncate(view.verification, 1200))}")
    return section("\n".join(lines))


def build_proposal_blocks(view: ProposalView) -> list[Block]:
    """The proposal message for its current state (buttons only while it is pending and allowed)."""
    rem = view.remediation
    icon = RISK_ICON.get(rem.risk, ":white_circle:")
    title = f"*Proposed fix:* {escape(rem.verb)} `{escape(rem.namespace)}/{escape(rem.target)}`"
    blocks: list[Block] = [
        section(
            f"{title}\n```{_shown(truncate(rem.command or rem.verb, COMMAND_DISPLAY_LIMIT))}```",
            block_id=f"proposal:{view.proposal_id}",
        ),
        fields_section(
            [
                ("Risk", f"{icon} {rem.risk}"),
                ("Policy rule", f"`{escape(view.rule_id)}`" if view.rule_id else "none (not allowed)"),
            ]
        ),
    ]
    if rem.rationale:
        blocks.append(context(f"Why: {escape(truncate(rem.rationale, 600))}"))
    status = _status_block(view)
    if status is not None:
        blocks.append(status)
    if view.status == "pending" and not view.policy_refused and not hidden_command(rem.command):
        blocks.append(
            actions(
                f"decision:{view.proposal_id}",
                button("Approve", APPROVE, view.proposal_id, style="primary"),
                button("Reject", REJECT, view.proposal_id, style="danger"),
            )
        )
    blocks.append(context(f"proposal `{view.proposal_id}`"))
    return blocks


def proposal_fallback_text(view: ProposalView) -> str:
    rem = view.remediation
    return truncate(f"Proposed fix ({rem.risk} risk, {view.status}): {rem.command or rem.verb}", 300)


def build_reject_reason_modal(
    proposal_id: str, channel: str, message_ts: str, thread_ts: str | None = None
) -> Block:
    """The modal a rejecter sees: an optional reason, stored as feedback on submit.

    ``private_metadata`` carries the proposal and message so the submission can update the message,
    and the thread so that what the rejecter is told lands in the incident thread, not the channel.
    """
    meta = {"proposal_id": proposal_id, "channel": channel, "ts": message_ts}
    if thread_ts:
        meta["thread_ts"] = thread_ts
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL_CALLBACK,
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": "Reject the fix"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Reject proposal `{proposal_id}`? Nothing will be run. A reason helps AOI learn."),
            {
                "type": "input",
                "block_id": REJECT_REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason (optional)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REJECT_REASON_INPUT,
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }
