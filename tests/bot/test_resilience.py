"""Web API errors and 429s are retried (honouring Retry-After), failures are shown, every message AOI
writes is stored, and App Home shows what AOI is doing."""

from __future__ import annotations

import json
from pathlib import Path

from aoi.agents.records import Trajectory
from aoi.handlers.context import StepCallback
from aoi.policies.schema import load_policy
from aoi.store import repo
from tests.bot.harness import eventually, mention, running_bot, wait_for_proposals
from tests.bot.scripted import RESTART, scripted_investigator

POLICY = load_policy(None)


def test_rate_limited_post_is_retried_after_retry_after(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.fake.fail("chat.postMessage", status=429, retry_after=1)
        bot.fake.fail("chat.update", status=503)
        bot.event(mention("checkout returns 502"))
        wait_for_proposals(bot.fake, timeout=20)
        posts = bot.fake.calls_to("chat.postMessage")
        assert posts[0].status == 429 and posts[1].status == 200
        assert posts[1].at - posts[0].at >= 1.0  # slept for Retry-After
        updates = bot.fake.calls_to("chat.update")
        assert updates[0].status == 503 and updates[1].status == 200


def test_every_message_aoi_writes_is_also_in_the_store(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("checkout returns 502"))
        wait_for_proposals(bot.fake)
        posted = {(c.response["channel"], c.response["ts"]) for c in bot.fake.calls_to("chat.postMessage")}
        assert len(posted) >= 3  # summary, progress, proposal

        def stored() -> set[tuple[str, str]]:
            return {(m.channel, m.ts) for m in repo.list_slack_messages(bot.store)}

        eventually(lambda: posted <= stored(), "every posted message in the store")
        latest = {
            (c.params["channel"], c.params["ts"]): c.params["blocks"]
            for c in bot.fake.calls_to("chat.update")
        }
        assert latest
        for (channel, ts), blocks in latest.items():
            row = repo.find_slack_message(bot.store, channel, ts)
            assert row is not None and row.payload["blocks"] == blocks


def test_a_failed_investigation_is_shown_in_its_summary_and_stored(tmp_path: Path, db_template: Path) -> None:
    def broken(incident: str, on_step: StepCallback) -> Trajectory:
        raise RuntimeError("cluster API unreachable: connection refused")

    with running_bot(tmp_path, db_template, investigator=broken) as bot:
        bot.event(mention("checkout returns 502"))
        failed = bot.fake.wait_for_call(
            "chat.update", lambda c: "Investigation failed" in json.dumps(c.params)
        )
        assert "connection refused" in json.dumps(failed.params["blocks"])
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.status == "failed" and "connection refused" in (investigation.error or "")


def test_app_home_shows_recent_investigations_pending_approvals_and_model(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("checkout returns 502"))
        (proposal,) = wait_for_proposals(bot.fake)
        bot.event({"type": "app_home_opened", "user": "U0VIEWER", "channel": "D0HOME", "tab": "home"})
        published = bot.fake.wait_for_call("views.publish")
        view = json.dumps(published.params["view"])
        assert published.params["user_id"] == "U0VIEWER"
        assert "checkout returns 502" in view and proposal.proposal_id in view and "heuristic" in view
