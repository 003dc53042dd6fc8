"""Slack Block Kit messages rendered in a terminal, so ``aoi demo`` shows exactly what the incident
thread would show (the same pure ``build_*_blocks`` the bot posts), without a workspace."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

EMOJI = {
    ":large_orange_circle:": "🟠",
    ":large_green_circle:": "🟢",
    ":large_yellow_circle:": "🟡",
    ":red_circle:": "🔴",
    ":white_circle:": "⚪",
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":no_entry:": "⛔",
    ":no_entry_sign:": "🚫",
    ":gear:": "⚙️",
    ":hourglass:": "⏳",
    ":+1:": "👍",
    ":-1:": "👎",
    ":mag:": "🔍",
}


def mrkdwn_to_rich(text: str) -> str:
    """Slack mrkdwn (``*bold*``, ``_italic_``, `` `code` ``, code blocks, ``<@U1>``) → rich markup."""
    for code, emoji in EMOJI.items():
        text = text.replace(code, emoji)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = escape(text)
    text = re.sub(r"```(.+?)```", lambda m: f"\n[cyan]{m.group(1).strip()}[/cyan]\n", text, flags=re.DOTALL)
    text = re.sub(r"`([^`\n]+)`", r"[cyan]\1[/cyan]", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"[bold]\1[/bold]", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"[italic]\1[/italic]", text)
    text = re.sub(r"<@([A-Z0-9a-z_-]+)>", r"[bold magenta]@\1[/bold magenta]", text)
    return text


def _block(block: dict[str, Any]) -> Any:
    kind = block.get("type")
    if kind == "header":
        return Text(mrkdwn_to_rich(block["text"]["text"]).replace("[", "\\["), style="bold")
    if kind == "section":
        parts: list[Any] = []
        if block.get("text"):
            parts.append(mrkdwn_to_rich(block["text"]["text"]))
        if block.get("fields"):
            grid = Table.grid(padding=(0, 3))
            grid.add_column()
            grid.add_column()
            cells = [mrkdwn_to_rich(f["text"]) for f in block["fields"]]
            for i in range(0, len(cells), 2):
                grid.add_row(*(cells[i : i + 2] + [""] * (2 - len(cells[i : i + 2]))))
            parts.append(grid)
        return Group(*parts)
    if kind == "context":
        return (
            "[dim]"
            + "  ".join(mrkdwn_to_rich(e.get("text", "")) for e in block.get("elements", []))
            + "[/dim]"
        )
    if kind == "divider":
        return "[dim]" + "─" * 40 + "[/dim]"
    if kind == "actions":
        labels = [
            mrkdwn_to_rich(e["text"]["text"]) for e in block.get("elements", []) if e.get("type") == "button"
        ]
        return "  ".join(f"[reverse] {label} [/reverse]" for label in labels)
    return f"[dim]({kind} block)[/dim]"


def render_message(console: Console, blocks: list[dict[str, Any]], title: str) -> None:
    """Print one Slack message as a panel titled like the thread reply it is."""
    console.print(
        Panel(Group(*(_block(b) for b in blocks)), title=title, title_align="left", border_style="blue")
    )
