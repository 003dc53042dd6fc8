"""Work a dead worker left unfinished is failed and its Slack message says so."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from aoi.handlers.recovery import recover_interrupted
from aoi.policies.schema import load_policy
from aoi.store import repo
from tests.bot.harness import eventually, mention, running_bot
from tests.bot.scripted import RESTART, scripted_investigator

POLICY = load_policy(None)


def test_interrupted_investigation_is_failed_and_its_summary_updated(
    tmp_path: Path, db_template: Path
) -> None:
    slow = scripted_investigator(POLICY, [RESTART], delay_s=2.0)
    with running_bot(tmp_path, db_template, investigator=slow) as bot:
        bot.event(mention("checkout returns 502"))
        eventually(
            lambda: [i.status for i in repo.list_investigations(bot.store)] == ["running"],
            "the investigation to start",
        )
        recovered = recover_interrupted(bot.services, bot.runtime.client, stale_after=timedelta(0))
        (investigation,) = repo.list_investigations(bot.store)
        assert recovered.investigations == [investigation.id] and investigation.status == "failed"
        update = bot.fake.wait_for_call("chat.update", lambda c: "interrupted" in json.dumps(c.params))
        assert "Investigation failed" in json.dumps(update.params["blocks"])
        # when the slow run finally returns, it finds the investigation closed and posts no diagnosis
        time.sleep(2.5)
        assert not any("feedback_helpful" in json.dumps(c.params) for c in bot.fake.calls_to("chat.update"))
        assert repo.get_investigation(bot.store, investigation.id).status == "failed"
