"""kill -9 of the worker in the middle of an investigation and of an execution, then a restart.

The worker is a real process (``tests.reliability.crash_worker``: the bot's web app, store, runner
and scoped executor) on a file-backed SQLite database or a fresh PostgreSQL database. After the kill,
the real ``aoi worker`` is started on the same database: its scheduler's recovery sweep (run at
start) marks the orphaned work failed and updates its Slack message. The sweep only takes work older
than its staleness window (30 minutes: it cannot tell a dead worker from a slow one), so the test
moves the killed work's start time back by 31 minutes, as if the restart came that much later.

Proven: the thread says the investigation was interrupted; the fix that was mid-execution is failed,
not re-run — a re-delivered task (what rq's retry does) is refused by the store's claim and the cluster
saw exactly one write; every feedback row recorded before the kill is still there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from sqlmodel import col, update

from aoi.bot.app import build_web_client
from aoi.handlers import run_task
from aoi.handlers.blocks.common import APPROVE, HELPFUL
from aoi.handlers.tasks import ExecuteTask
from aoi.store import repo
from aoi.store.db import Store
from aoi.store.models import Investigation, Proposal
from aoi.store.types import utcnow
from tests.bot.harness import APPROVER, bot_env, eventually, mention, wait_for_proposals
from tests.fakes.slack_api import BOT_USER_ID, FakeSlackAPI
from tests.reliability.conftest import remote_bot
from tests.reliability.crash_worker import recording_backends, settings_for

STALE = timedelta(minutes=31)


@contextmanager
def crash_worker(
    mode: str, database_url: str, fake: FakeSlackAPI, folder: Path
) -> Iterator[subprocess.Popen[bytes]]:
    folder.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reliability.crash_worker",
            mode,
            database_url,
            fake.base_url,
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(lambda: (folder / "url").exists() or process.poll() is not None, "the worker to serve", 60)
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def kill_when_stuck(process: subprocess.Popen[bytes], folder: Path) -> None:
    eventually(lambda: (folder / "stuck").exists(), "the worker to be mid-work", 30)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


@contextmanager
def restarted_worker(fake: FakeSlackAPI, database_url: str, folder: Path) -> Iterator[None]:
    """The real ``aoi worker`` (scheduler on, no queue) on the same database."""
    env = {**bot_env(fake, folder / "unused.db"), "AOI_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "aoi.bot.cli", "worker", "--queue", "none", "--no-retrain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
        assert process.returncode in (0, -signal.SIGTERM), output


def backdate(store: Store, model: type[Investigation] | type[Proposal], column: str, row_id: str) -> None:
    with store.transaction(write=True) as session:
        session.exec(update(model).where(col(model.id) == row_id).values({column: utcnow() - STALE}))


def feedback_ids(store: Store, investigation_id: str) -> set[int | None]:
    return {f.id for f in repo.list_feedback(store, investigation_id=investigation_id)}


def test_kill_9_mid_investigation_then_restart_marks_it_failed_in_its_thread_and_keeps_feedback(
    tmp_path: Path, database_url: str
) -> None:
    store = Store.open(database_url)
    folder = tmp_path / "worker"
    with FakeSlackAPI() as fake, httpx.Client(timeout=10) as http:
        with crash_worker("investigate", database_url, fake, folder) as process:
            bot = remote_bot(fake, (folder / "url").read_text(), http)
            http.base_url = httpx.URL(bot.server.url)
            # a finished investigation with feedback (a Helpful click and a thumbs-up reaction)
            bot.event(mention("checkout is slow", channel="C0DONE"))
            done = fake.wait_for_call("chat.update", lambda c: "feedback_helpful" in json.dumps(c.params))
            (finished,) = repo.list_investigations(store)
            assert (
                bot.action(
                    HELPFUL, finished.id, user="U0ONCALL", channel="C0DONE", message_ts=done.params["ts"]
                ).status_code
                == 200
            )
            item = {"type": "message", "channel": "C0DONE", "ts": done.params["ts"]}
            reaction = {"type": "reaction_added", "user": "U0ONCALL", "reaction": "+1",
                        "item_user": BOT_USER_ID, "item": item}  # fmt: skip
            assert bot.event(reaction).status_code == 200
            eventually(lambda: len(feedback_ids(store, finished.id)) == 2, "two feedback rows")
            before = feedback_ids(store, finished.id)
            # the investigation that is running when the worker dies
            bot.event(mention("hang: checkout returns 502", channel="C0HUNG"))
            kill_when_stuck(process, folder)
        (hung,) = repo.list_investigations(store, status="running")
        summary = next(c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == "C0HUNG")
        backdate(store, Investigation, "started_at", hung.id)
        calls_before_restart = len(fake.calls)
        with restarted_worker(fake, database_url, tmp_path):
            update_call = fake.wait_for_call(
                "chat.update",
                lambda c: (
                    c.params.get("ts") == summary.response["ts"] and "interrupted" in json.dumps(c.params)
                ),
                timeout=60,
            )
        assert fake.calls.index(update_call) >= calls_before_restart  # sent by the restarted worker
        assert "Investigation failed" in json.dumps(update_call.params["blocks"])
        assert repo.get_investigation(store, hung.id).status == "failed"
        assert repo.get_investigation(store, finished.id).status == "diagnosed"
        assert feedback_ids(store, finished.id) == before
    store.dispose()


def test_kill_9_mid_execution_is_never_repeated_and_reported_failed_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    store = Store.open(database_url)
    folder = tmp_path / "worker"
    with FakeSlackAPI() as fake, httpx.Client(timeout=10) as http:
        with crash_worker("execute", database_url, fake, folder) as process:
            bot = remote_bot(fake, (folder / "url").read_text(), http)
            http.base_url = httpx.URL(bot.server.url)
            bot.event(mention("user-service is flapping", channel="C0EXEC"))
            (proposal,) = wait_for_proposals(fake)
            summary = fake.wait_for_call("chat.update", lambda c: "feedback_helpful" in json.dumps(c.params))
            (investigation,) = repo.list_investigations(store)
            bot.action(
                HELPFUL, investigation.id, user="U0ONCALL", channel="C0EXEC", message_ts=summary.params["ts"]
            )
            click = {"user": APPROVER, "channel": proposal.channel, "message_ts": proposal.message_ts,
                     "thread_ts": proposal.thread_ts}  # fmt: skip
            assert bot.action(APPROVE, proposal.proposal_id, **click).status_code == 200
            kill_when_stuck(process, folder)
        before = feedback_ids(store, investigation.id)
        kinds = sorted(f.kind for f in repo.list_feedback(store, investigation_id=investigation.id))
        assert kinds == ["approved", "helpful"]
        assert repo.get_proposal(store, proposal.proposal_id).status == "executing"
        assert len((folder / "writes.log").read_text().splitlines()) == 1
        backdate(store, Proposal, "execution_started_at", proposal.proposal_id)
        seen = len(fake.calls)
        with restarted_worker(fake, database_url, tmp_path):
            calls = fake.wait_for(
                lambda calls: any(
                    c.method == "chat.update" and c.params.get("ts") == proposal.message_ts
                    for c in calls[seen:]
                ),
                60,
                what="the restarted worker to update the proposal message",
            )
        shown = next(
            c for c in calls[seen:] if c.method == "chat.update" and c.params.get("ts") == proposal.message_ts
        )
        assert "proposal_approve" not in json.dumps(shown.params["blocks"])  # no buttons: nothing to re-run
        assert "fail" in json.dumps(shown.params).lower(), shown.params
        failed = repo.get_proposal(store, proposal.proposal_id)
        assert failed.status == "failed" and failed.result and failed.result["interrupted"] is True
        # the queue re-delivers the task (rq's retry after a dead worker): the claim refuses it
        settings = settings_for(database_url, fake.base_url)
        from aoi.bot.services import build_services

        services = build_services(
            settings, store=store, backends=recording_backends(settings, folder, stop_after_write=False)
        )
        task = ExecuteTask(
            proposal_id=proposal.proposal_id,
            channel=proposal.channel,
            message_ts=proposal.message_ts,
            thread_ts=proposal.thread_ts,
            actor_id=APPROVER,
        )
        run_task(services, build_web_client(settings), task)
        assert len((folder / "writes.log").read_text().splitlines()) == 1  # the cluster saw one write
        actions = [a.action for a in repo.list_audit(store, proposal_id=proposal.proposal_id)]
        assert actions.count("execute.before") == 1 and "execute.after" not in actions
        assert actions.count("proposal.executing") == 1
        assert feedback_ids(store, investigation.id) >= before
    store.dispose()
