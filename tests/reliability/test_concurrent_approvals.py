"""50 simultaneous Approve clicks on one proposal, spread over three web processes → one execution.

Three real bot processes (``tests.reliability.crash_worker serve``) share one database (a SQLite file,
or PostgreSQL when reachable); each has its own runner and scoped executor, and every write any of
them sends to its cluster is appended to one shared log. 50 threads send signed ``block_actions``
clicks for the same proposal round-robin to the three HTTP endpoints at once. The store's decision
and execution claim must let exactly one process execute: one ``execute.before``/``execute.after``
pair in the audit, one write on a cluster, one outcome reply in the thread.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from aoi.handlers.blocks.common import APPROVE
from aoi.store import repo
from aoi.store.db import Store
from tests.bot.harness import APPROVER, SECOND_APPROVER, eventually, mention, wait_for_proposals
from tests.fakes.slack_api import FakeSlackAPI
from tests.reliability.conftest import remote_bot
from tests.reliability.test_crash_recovery import crash_worker

PROCESSES = 3
CLICKS = 50


def test_fifty_concurrent_approve_clicks_across_three_processes_execute_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    store = Store.open(database_url)
    with FakeSlackAPI() as fake, ExitStack() as stack:
        urls = []
        for i in range(PROCESSES):
            folder = tmp_path / f"web{i}"
            stack.enter_context(crash_worker("serve", database_url, fake, folder))
            urls.append((folder / "url").read_text())
        clients = [stack.enter_context(httpx.Client(base_url=url, timeout=30)) for url in urls]
        bots = [remote_bot(fake, url, client) for url, client in zip(urls, clients, strict=True)]
        assert bots[0].event(mention("user-service is flapping", channel="C0RACE")).status_code == 200
        (proposal,) = wait_for_proposals(fake)
        start = threading.Barrier(CLICKS)
        statuses: list[int] = []

        def click(i: int) -> None:
            bot = bots[i % PROCESSES]
            start.wait()
            response = bot.action(
                APPROVE,
                proposal.proposal_id,
                user=(APPROVER, SECOND_APPROVER)[i % 2],
                channel=proposal.channel,
                message_ts=proposal.message_ts,
                thread_ts=proposal.thread_ts,
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=click, args=(i,)) for i in range(CLICKS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [200] * CLICKS
        eventually(
            lambda: repo.get_proposal(store, proposal.proposal_id).status == "succeeded",
            "the fix to be executed and verified",
            timeout=60,
        )
        fake.wait_for_call(
            "chat.postMessage", lambda c: "but they passed before it too" in c.params.get("text", "")
        )
        time.sleep(1.0)  # the losing clicks' listeners finish after their acks; let them all land
    writes = [line for i in range(PROCESSES) for line in _lines(tmp_path / f"web{i}" / "writes.log")]
    assert len(writes) == 1, writes
    actions = [a.action for a in repo.list_audit(store, proposal_id=proposal.proposal_id)]
    assert actions.count("execute.before") == 1 and actions.count("execute.after") == 1
    assert actions.count("proposal.approved") == 1 and actions.count("proposal.executing") == 1
    replies = [
        c for c in fake.calls_to("chat.postMessage") if "passed before it too" in c.params.get("text", "")
    ]
    assert len(replies) == 1
    investigation_id = repo.get_proposal(store, proposal.proposal_id).investigation_id
    kinds = [f.kind for f in repo.list_feedback(store, investigation_id=investigation_id)]
    assert kinds.count("approved") == 1 and "execution_verified" not in kinds  # nothing was wrong
    store.dispose()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
