"""App Home and ``/aoi help``: what AOI has been doing and how to drive it."""

from __future__ import annotations

from dataclasses import dataclass, field

from aoi.handlers.blocks.common import (
    Block,
    context,
    divider,
    escape,
    fields_section,
    header,
    section,
    truncate,
)

MAX_ROWS = 10


@dataclass
class HomeInvestigation:
    investigation_id: str
    title: str
    status: str
    when: str
    link: str | None = None


@dataclass
class HomeProposal:
    proposal_id: str
    command: str
    risk: str
    link: str | None = None


@dataclass
class HomeSnapshot:
    """Everything the App Home shows; ``success_rate`` is None until something was verified."""

    recent: list[HomeInvestigation] = field(default_factory=list)
    pending: list[HomeProposal] = field(default_factory=list)
    success_rate: float | None = None
    executed: int = 0
    current_model: str = "heuristic"
    policy_version: str = ""
    policy_problem: str | None = None  # an edit to the policy file that did not load


def _linked(text: str, link: str | None) -> str:
    return f"<{link}|{text}>" if link else text


def build_home_view(snapshot: HomeSnapshot) -> Block:
    """The ``views.publish`` payload for a user's App Home tab."""
    rate = "no executed fixes yet" if snapshot.success_rate is None else f"{snapshot.success_rate:.0%}"
    blocks: list[Block] = [
        header("AOI — your AI SRE"),
        fields_section(
            [
                ("Current model", f"`{escape(snapshot.current_model)}`"),
                ("Fix success rate", f"{rate} ({snapshot.executed} executed)"),
                ("Pending approvals", str(len(snapshot.pending))),
                ("Recent investigations", str(len(snapshot.recent))),
            ]
        ),
        divider(),
        section("*Pending approvals*"),
    ]
    if snapshot.pending:
        for prop in snapshot.pending[:MAX_ROWS]:
            label = _linked(f"`{escape(truncate(prop.command, 150))}`", prop.link)
            blocks.append(section(f"• {label} — {escape(prop.risk)} risk · `{prop.proposal_id}`"))
    else:
        blocks.append(context("Nothing is waiting for a decision."))
    blocks += [divider(), section("*Recent investigations*")]
    if snapshot.recent:
        for inv in snapshot.recent[:MAX_ROWS]:
            title = _linked(escape(truncate(inv.title or "(untitled)", 120)), inv.link)
            blocks.append(
                section(f"• {title} — *{escape(inv.status)}* · {escape(inv.when)} · `{inv.investigation_id}`")
            )
    else:
        blocks.append(context("No investigations yet. Try `/aoi investigate <what is wrong>`."))
    if snapshot.policy_problem:
        blocks.insert(2, section(_policy_warning(snapshot.policy_problem)))
    return {"type": "home", "blocks": blocks}


def _policy_warning(problem: str) -> str:
    return f":warning: *Policy edit not applied.* {escape(truncate(problem, 600))}"


HELP_TEXT = (
    "*AOI — how to ask for help*\n"
    "• `/aoi investigate <what is wrong>` — start an investigation here\n"
    "• `/aoi status` — what AOI is working on and what waits for approval\n"
    "• `/aoi help` — this message\n"
    "• `@aoi <question>` in an incident thread — investigate that thread's incident\n"
    "• New channels named like the incident pattern are joined and investigated automatically\n"
    "• React :+1: / :-1: on AOI's messages, or use Helpful / Not helpful, to teach it\n"
    "Fixes are only proposals: they run after an authorised approver clicks *Approve*."
)


def build_help_blocks() -> list[Block]:
    return [section(HELP_TEXT)]


def build_status_blocks(snapshot: HomeSnapshot) -> list[Block]:
    """``/aoi status``: the running investigations and pending approvals, as an ephemeral reply."""
    running = [inv for inv in snapshot.recent if inv.status in ("queued", "running", "investigating")]
    lines = ["*AOI status*", f"Model: `{escape(snapshot.current_model)}`"]
    if snapshot.policy_version:
        lines.append(f"Policy: `{escape(snapshot.policy_version)}`")
    if snapshot.policy_problem:
        lines.append(_policy_warning(snapshot.policy_problem))
    lines.append(f"Running investigations: {len(running)}")
    lines += [
        f"• {escape(truncate(inv.title, 120))} · `{inv.investigation_id}`" for inv in running[:MAX_ROWS]
    ]
    lines.append(f"Pending approvals: {len(snapshot.pending)}")
    lines += [
        f"• `{escape(truncate(p.command, 120))}` ({escape(p.risk)}) · `{p.proposal_id}`"
        for p in snapshot.pending[:MAX_ROWS]
    ]
    return [section("\n".join(lines))]
