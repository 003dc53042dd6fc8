"""Pure Block Kit renderers: data in, Slack blocks out, unit-tested as data.

Nothing here calls Slack or the store; handlers pass in what to show. Every text is truncated to
Slack's limits with a visible marker, so a long log line never makes a post fail.
"""

from aoi.handlers.blocks.alerts import build_alert_blocks
from aoi.handlers.blocks.common import ACTION_IDS, truncate
from aoi.handlers.blocks.diagnosis import (
    build_diagnosis_blocks,
    build_investigating_blocks,
    build_investigation_failed_blocks,
    build_progress_text,
    diagnosis_fallback_text,
)
from aoi.handlers.blocks.home import (
    HomeInvestigation,
    HomeProposal,
    HomeSnapshot,
    build_help_blocks,
    build_home_view,
    build_status_blocks,
)
from aoi.handlers.blocks.proposals import (
    ProposalView,
    build_proposal_blocks,
    build_reject_reason_modal,
    proposal_fallback_text,
)

__all__ = [
    "ACTION_IDS",
    "HomeInvestigation",
    "HomeProposal",
    "HomeSnapshot",
    "ProposalView",
    "build_alert_blocks",
    "build_diagnosis_blocks",
    "build_help_blocks",
    "build_home_view",
    "build_investigating_blocks",
    "build_investigation_failed_blocks",
    "build_progress_text",
    "build_proposal_blocks",
    "build_reject_reason_modal",
    "build_status_blocks",
    "diagnosis_fallback_text",
    "proposal_fallback_text",
    "truncate",
]
