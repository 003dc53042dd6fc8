"""``aoi worker`` with SLACK_APP_TOKEN: Socket Mode over a real websocket, the same Bolt app as HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.bot.harness import bot_env, event_body, mention, stop_bot_process
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.socket_mode import FakeSocketMode


def test_worker_receives_a_mention_over_socket_mode_acks_it_and_investigates(
    tmp_path: Path, db_template: Path
) -> None:
    db = tmp_path / "aoi.db"
    shutil.copy(db_template, db)
    with FakeSlackAPI() as fake, FakeSocketMode() as socket_mode:
        fake.socket_url = socket_mode.url
        env = bot_env(fake, db, SLACK_APP_TOKEN="xapp-test", AOI_PROGRESS_INTERVAL_S="0")
        env.pop("SLACK_SIGNING_SECRET")  # Socket Mode needs no signing secret
        process = subprocess.Popen(
            [sys.executable, "-m", "aoi.bot.cli", "worker", "--no-scheduler"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            socket_mode.wait_for_connection(timeout=60)
            opened = fake.wait_for_call("apps.connections.open")
            assert opened.token == "xapp-test"
            envelope = socket_mode.send(
                "events_api", event_body(mention("the social network is throwing errors"))
            )
            socket_mode.wait_for_ack(envelope)
            summary = fake.wait_for_call("chat.postMessage", timeout=15)
            assert "Investigating" in json.dumps(summary.params["blocks"])
            fake.wait_for_call(
                "chat.update", lambda c: "feedback_helpful" in json.dumps(c.params), timeout=30
            )
        finally:
            stop_bot_process(process)
