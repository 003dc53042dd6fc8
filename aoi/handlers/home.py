"""App Home: recent investigations, pending approvals, fix success rate and the current model."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk import WebClient

from aoi.handlers.blocks.home import HomeInvestigation, HomeProposal, HomeSnapshot, build_home_view
from aoi.handlers.context import Services
from aoi.store import repo
from aoi.store.enums import ProposalStatus

RECENT = 10
OUTCOME_WINDOW = 1000


def _ago(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def home_snapshot(services: Services) -> HomeSnapshot:
    """Read what App Home and ``/aoi status`` show from the store."""
    now = datetime.now(UTC)
    investigations = repo.list_investigations(services.store, limit=RECENT)
    pending = repo.list_proposals(services.store, status=ProposalStatus.PENDING, limit=RECENT)
    # past the approval window a fix can no longer be approved: not a pending approval any more
    pending = [p for p in pending if services.past_approval_window(p.created_at, now) is None]
    outcomes = repo.list_proposals(
        services.store, status=[ProposalStatus.SUCCEEDED, ProposalStatus.FAILED], limit=OUTCOME_WINDOW
    )
    succeeded = sum(1 for p in outcomes if p.status == ProposalStatus.SUCCEEDED)
    return HomeSnapshot(
        recent=[
            HomeInvestigation(
                investigation_id=inv.id,
                title=inv.incident_text.splitlines()[0] if inv.incident_text else "",
                status=inv.status,
                when=_ago(inv.created_at, now),
            )
            for inv in investigations
        ],
        pending=[HomeProposal(p.id, p.command or str(p.action.get("verb")), p.risk) for p in pending],
        success_rate=succeeded / len(outcomes) if outcomes else None,
        executed=len(outcomes),
        current_model=services.model_label(),
        policy_version=services.policy_label(),
        policy_problem=services.policy_problem(),
    )


def publish_home(services: Services, client: WebClient, user_id: str) -> None:
    """Publish the App Home tab for ``user_id`` (``views.publish``)."""
    client.views_publish(user_id=user_id, view=build_home_view(home_snapshot(services)))
