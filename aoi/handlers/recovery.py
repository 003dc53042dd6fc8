"""Recovery after a crash: work a dead worker left half-done is marked failed and shown as such.

An investigation still *running* long after its deadline, or an execution still *executing*, belonged
to a worker that died. The store marks them failed (executions are never retried automatically:
at most once beats at least once for writes to production); this module updates their Slack
messages so nobody waits on a spinner forever. Old processed-event ids are pruned too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient

from aoi.handlers.blocks.diagnosis import build_investigation_failed_blocks
from aoi.handlers.blocks.proposals import build_proposal_blocks, proposal_fallback_text
from aoi.handlers.context import Services
from aoi.handlers.investigation import PROPOSAL, SUMMARY, proposal_view
from aoi.handlers.slack_io import update_message
from aoi.store import repo

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted: the worker running this investigation stopped before it finished"


@dataclass(frozen=True)
class Recovered:
    investigations: list[str]
    executions: list[str]
    pruned_events: int


def recover_interrupted(
    services: Services,
    client: WebClient,
    *,
    stale_after: timedelta = timedelta(minutes=30),
    events_kept: timedelta = timedelta(days=1),
) -> Recovered:
    """Fail and report work older than ``stale_after`` that never finished; prune old event ids."""
    now = datetime.now(UTC)
    investigations = repo.fail_orphaned_investigations(services.store, started_before=now - stale_after)
    for investigation_id in investigations:
        for message in repo.list_slack_messages(
            services.store, investigation_id=investigation_id, kind=SUMMARY
        ):
            update_message(
                services,
                client,
                channel=message.channel,
                ts=message.ts,
                kind=SUMMARY,
                blocks=build_investigation_failed_blocks(investigation_id, INTERRUPTED),
                text=f"AOI investigation {investigation_id} was interrupted",
            )
    executions = repo.fail_interrupted_executions(services.store, claimed_before=now - stale_after)
    for proposal_id in executions:
        proposal = repo.get_proposal(services.store, proposal_id)
        view = proposal_view(proposal, repo.counted_approvals(services.store, proposal_id))
        for message in repo.list_slack_messages(
            services.store, investigation_id=proposal.investigation_id, kind=PROPOSAL
        ):
            if message.proposal_id == proposal_id:
                update_message(
                    services,
                    client,
                    channel=message.channel,
                    ts=message.ts,
                    kind=PROPOSAL,
                    blocks=build_proposal_blocks(view),
                    text=proposal_fallback_text(view),
                )
    pruned = repo.prune_processed_events(services.store, older_than=now - events_kept)
    if investigations or executions:
        log.warning(
            "recovered interrupted work: investigations %s, executions %s", investigations, executions
        )
    return Recovered(investigations, executions, pruned)
