"""Block Kit primitives shared by the renderers, with Slack's size limits applied.

Slack rejects a whole message when one field is too long (section text 3,000 chars, header 150,
button text 75, button value 2,000, 50 blocks per message), so every helper truncates with a visible
``…[truncated]`` marker instead of letting a post fail.
"""

from __future__ import annotations

from typing import Any, Final

Block = dict[str, Any]

APPROVE: Final = "proposal_approve"
REJECT: Final = "proposal_reject"
HELPFUL: Final = "feedback_helpful"
NOT_HELPFUL: Final = "feedback_not_helpful"
REJECT_MODAL_CALLBACK: Final = "proposal_reject_reason"
REJECT_REASON_BLOCK: Final = "reject_reason"
REJECT_REASON_INPUT: Final = "reason"
ACTION_IDS: Final = (APPROVE, REJECT, HELPFUL, NOT_HELPFUL)

SECTION_LIMIT: Final = 3000
HEADER_LIMIT: Final = 150
CONTEXT_LIMIT: Final = 2000
BUTTON_TEXT_LIMIT: Final = 75
MAX_BLOCKS: Final = 50
TRUNCATION_MARKER: Final = "…[truncated]"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in a visible marker when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATION_MARKER))] + TRUNCATION_MARKER


def escape(text: str) -> str:
    """Escape Slack's control characters so that tool output cannot forge mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Inline code; backticks inside are replaced so they cannot close the span."""
    return "`" + text.replace("`", "'") + "`"


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_LIMIT)}}


def section(markdown: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(markdown, SECTION_LIMIT)}}
    if block_id:
        block["block_id"] = block_id
    return block


def fields_section(pairs: list[tuple[str, str]]) -> Block:
    """A section of up to 10 two-column ``*label*\\nvalue`` fields."""
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", CONTEXT_LIMIT)}
            for label, value in pairs[:10]
        ],
    }


def context(*parts: str) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": truncate(part, CONTEXT_LIMIT)} for part in parts[:10] if part
        ],
    }


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, BUTTON_TEXT_LIMIT)},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def actions(block_id: str, *elements: Block) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def limit_blocks(blocks: list[Block]) -> list[Block]:
    """Keep a message under Slack's 50-block limit, saying so in the last block when cut."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [
        *blocks[: MAX_BLOCKS - 1],
        context(f"{len(blocks) - MAX_BLOCKS + 1} more blocks {TRUNCATION_MARKER}"),
    ]
