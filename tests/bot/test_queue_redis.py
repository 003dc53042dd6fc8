"""Scale-out: with AOI_QUEUE_URL, investigations and executions go through rq on the real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

from aoi.bot import jobs
from aoi.bot.runners import EXECUTIONS_QUEUE, INVESTIGATIONS_QUEUE
from aoi.policies.schema import load_policy
from aoi.store import repo
from tests.bot.harness import APPROVER, bot_env, eventually, mention, running_bot, wait_for_proposals
from tests.bot.scripted import RESTART, scripted_investigator

POLICY = load_policy(None)
pytestmark = pytest.mark.redis
# One Redis database per test: the queue names are fixed, and xdist may run these tests at once.
DATABASES = {
    "test_mention_is_queued_on_redis_and_a_worker_runs_it_then_executes_the_approval": 13,
    "test_aoi_worker_process_drains_the_investigation_queue": 14,
}


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    return f"redis://127.0.0.1:6379/{DATABASES[request.node.name]}"


@pytest.fixture
def redis(redis_url: str) -> Redis:
    connection = Redis.from_url(redis_url, socket_connect_timeout=1)
    try:
        connection.ping()
    except RedisError as exc:
        pytest.skip(f"Redis is not reachable at {redis_url}: {exc}")
    for name in (INVESTIGATIONS_QUEUE, EXECUTIONS_QUEUE):
        Queue(name, connection=connection).empty()
    return connection


def _drain(redis: Redis, name: str) -> None:
    SimpleWorker([Queue(name, connection=redis)], connection=redis).work(burst=True)


def test_mention_is_queued_on_redis_and_a_worker_runs_it_then_executes_the_approval(
    tmp_path: Path, db_template: Path, redis: Redis, redis_url: str
) -> None:
    investigator = scripted_investigator(POLICY, [RESTART])
    with running_bot(tmp_path, db_template, investigator=investigator, AOI_QUEUE_URL=redis_url) as bot:
        bot.event(mention("checkout returns 502"))
        bot.fake.wait_for_call("chat.postMessage")  # the web process posts the summary itself
        investigations = Queue(INVESTIGATIONS_QUEUE, connection=redis)
        eventually(lambda: investigations.count == 1, "the queued investigation job")
        (investigation,) = repo.list_investigations(bot.store)
        assert investigations.job_ids == [f"investigate-{investigation.id}"]
        assert repo.get_investigation(bot.store, investigation.id).status == "queued"

        jobs.install(bot.services, bot.runtime.client)  # what `aoi worker` does at start
        _drain(redis, INVESTIGATIONS_QUEUE)
        (proposal,) = wait_for_proposals(bot.fake)
        assert repo.get_investigation(bot.store, investigation.id).status == "diagnosed"

        bot.action(
            "proposal_approve", proposal.proposal_id, user=APPROVER, channel=proposal.channel,
            message_ts=proposal.message_ts, thread_ts=proposal.thread_ts,
        )  # fmt: skip
        executions = Queue(EXECUTIONS_QUEUE, connection=redis)
        eventually(lambda: executions.count == 1, "the execution job")
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "approved"
        _drain(redis, EXECUTIONS_QUEUE)
        bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == proposal.message_ts and "Succeeded" in json.dumps(c.params),
        )
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "succeeded"


def test_aoi_worker_process_drains_the_investigation_queue(
    tmp_path: Path, db_template: Path, redis: Redis, redis_url: str
) -> None:
    with running_bot(tmp_path, db_template, AOI_QUEUE_URL=redis_url) as bot:
        bot.event(mention("the social network is throwing errors"))
        investigations = Queue(INVESTIGATIONS_QUEUE, connection=redis)
        eventually(lambda: investigations.count == 1, "the queued investigation job")
        env = bot_env(bot.fake, tmp_path / "aoi.db", AOI_QUEUE_URL=redis_url, AOI_PROGRESS_INTERVAL_S="0")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "aoi.bot.cli",
                "worker",
                "--queue",
                "investigations",
                "--burst",
                "--no-scheduler",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        bot.fake.wait_for_call(
            "chat.update", lambda c: "feedback_helpful" in json.dumps(c.params), timeout=30
        )
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.status == "diagnosed" and investigations.count == 0
