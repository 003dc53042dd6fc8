"""``aoi bot`` as a real process: configuration errors, serving signed events, scaling to several
web processes behind one port with the rq queue, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from aoi.bot.runners import INVESTIGATIONS_QUEUE
from tests.bot.harness import (
    bot_env,
    free_port,
    mention,
    signed_event,
    start_bot_process,
    stop_bot_process,
)
from tests.fakes.slack_api import FakeSlackAPI

REDIS_URL = "redis://127.0.0.1:6379/12"


def _run_bot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``aoi bot ARGS`` run to its exit (these tests start it with settings it must refuse)."""
    return subprocess.run(
        [sys.executable, "-m", "aoi.bot.cli", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bot_without_slack_credentials_exits_with_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AOI_"))}
    env["AOI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'aoi.db'}"
    result = _run_bot(env, "--port", "0")
    assert result.returncode == 2 and "SLACK_BOT_TOKEN is not set" in result.stderr


def test_bot_with_a_missing_policy_file_exits_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AOI_"))}
    env.update(
        AOI_DATABASE_URL=f"sqlite:///{tmp_path / 'aoi.db'}",
        AOI_POLICY_FILE=str(tmp_path / "absent.yaml"),
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
    )
    result = _run_bot(env, "--port", "0")
    assert (
        result.returncode == 2 and "absent.yaml" in result.stderr and "cannot read the file" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_bot_process_serves_a_mention_and_finishes_it_when_stopped(tmp_path: Path, db_template: Path) -> None:
    db = tmp_path / "aoi.db"
    shutil.copy(db_template, db)
    with FakeSlackAPI() as fake:
        port = free_port()
        process = start_bot_process(["bot"], bot_env(fake, db, AOI_PROGRESS_INTERVAL_S="0"), port)
        fake.slow("chat.postMessage", 0.2)  # keep the investigation in flight when SIGTERM arrives
        try:
            assert signed_event(port, mention("the social network is throwing errors")).status_code == 200
            summary = fake.wait_for_call("chat.postMessage", timeout=15)
            assert "Investigating" in json.dumps(summary.params["blocks"])
        finally:
            stop_bot_process(process)
        # the graceful shutdown let the in-flight investigation finish and report
        assert any("feedback_helpful" in json.dumps(c.params) for c in fake.calls_to("chat.update"))


@pytest.mark.redis
def test_several_web_processes_share_the_port_and_queue_work_on_redis(
    tmp_path: Path, db_template: Path
) -> None:
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        redis.ping()
    except RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    queue = Queue(INVESTIGATIONS_QUEUE, connection=redis)
    queue.empty()
    db = tmp_path / "aoi.db"
    shutil.copy(db_template, db)
    with FakeSlackAPI() as fake:
        port = free_port()
        process = start_bot_process(
            ["bot", "--workers", "2"], bot_env(fake, db, AOI_QUEUE_URL=REDIS_URL), port
        )
        try:
            for i in range(4):
                event = mention(f"checkout fails ({i})", ts=f"1713000000.00010{i}")
                assert signed_event(port, event).status_code == 200
            fake.wait_for(
                lambda calls: len(fake.calls_to("chat.postMessage")) == 4, timeout=20, what="4 summaries"
            )
            deadline = time.monotonic() + 10
            while queue.count < 4 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert queue.count == 4  # queued for `aoi worker`, not run in the web processes
            assert not fake.calls_to("chat.update")
        finally:
            stop_bot_process(process)
            queue.empty()


def test_workers_without_a_queue_are_refused_for_the_embedded_simulator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AOI_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="s",
        AOI_DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}",
    )
    result = _run_bot(env, "--workers", "2")
    assert result.returncode == 2 and "needs AOI_QUEUE_URL" in result.stderr
