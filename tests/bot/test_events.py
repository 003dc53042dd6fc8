"""Events over real HTTP: retries handled once, ack before work, incident channels and mentions."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from aoi.handlers.recovery import recover_interrupted
from aoi.policies.schema import load_policy
from aoi.store import repo
from tests.bot.harness import SlackHarness, event_body, eventually, mention, running_bot
from tests.bot.scripted import RESTART, scripted_investigator

POLICY = load_policy(None)


def _summaries(calls: list, channel: str) -> list:
    return [
        c for c in calls
        if c.method == "chat.postMessage" and c.params.get("channel") == channel
        and "Investigating" in json.dumps(c.params.get("blocks"))
    ]  # fmt: skip


def test_retried_event_is_handled_once(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        event = mention("checkout returns 502")
        for retry in (None, 1, 2):
            assert bot.event(event, event_id="EvRetried01", retry_num=retry).status_code == 200
        bot.fake.wait_for(lambda calls: bool(_summaries(calls, "C0INC")), what="the summary")
        # The "Investigating" message is posted before the investigation row is written.
        bot.fake.wait_for(
            lambda calls: bool(repo.list_investigations(bot.store)), what="the stored investigation"
        )
        time.sleep(0.5)  # give a wrongly accepted retry the time to post and store too
        assert len(_summaries(bot.fake.calls, "C0INC")) == 1
        assert len(repo.list_investigations(bot.store)) == 1


def test_ack_returns_before_the_investigation_finishes(tmp_path: Path, db_template: Path) -> None:
    slow = scripted_investigator(POLICY, [RESTART], delay_s=4.0)
    with running_bot(tmp_path, db_template, investigator=slow) as bot:
        started = time.perf_counter()
        response = bot.event(mention("checkout returns 502"))
        assert response.status_code == 200 and time.perf_counter() - started < 1.0
        bot.fake.wait_for(lambda calls: bool(_summaries(calls, "C0INC")), timeout=2, what="the summary")
        bot.fake.wait_for(
            lambda calls: bool(repo.list_investigations(bot.store)), what="the stored investigation"
        )
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.status in ("queued", "running")


def test_new_incident_channel_is_joined_and_investigated_from_its_topic(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.fake.add_channel("C0NEWINC", "inc-2024-payments", topic="payments API returns 502 since 10:02")
        created = {
            "type": "channel_created",
            "channel": {"id": "C0NEWINC", "name": "inc-2024-payments", "creator": "U0IC"},
        }
        assert bot.event(created).status_code == 200
        join = bot.fake.wait_for_call("conversations.join")
        assert join.params["channel"] == "C0NEWINC"
        summary = bot.fake.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "C0NEWINC")
        assert not summary.params.get("thread_ts")  # the summary is the thread's root
        bot.fake.wait_for(
            lambda calls: bool(repo.list_investigations(bot.store)), what="the stored investigation"
        )
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.incident_text == "#inc-2024-payments: payments API returns 502 since 10:02"
        bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == summary.response["ts"] and "Diagnosis" in json.dumps(c.params),
        )


def test_incident_channel_without_topic_starts_from_its_first_message_only(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.fake.add_channel("C0QUIET", "incident-db", topic="", purpose="")
        bot.event(
            {
                "type": "channel_created",
                "channel": {"id": "C0QUIET", "name": "incident-db", "creator": "U0IC"},
            }
        )
        greeting = bot.fake.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "C0QUIET")
        assert "Describe what is wrong" in greeting.params["text"]
        eventually(
            lambda: repo.list_slack_messages(bot.store, channel="C0QUIET", kind="greeting"), "the greeting"
        )
        first = {
            "type": "message",
            "channel": "C0QUIET",
            "user": "U0IC",
            "text": "orders DB is slow",
            "ts": "1711.000100",
        }
        bot.event({**first, "text": "bot chatter", "ts": "1711.000050", "bot_id": "B0OTHER"})
        bot.event(first)
        summary = bot.fake.wait_for_call(
            "chat.postMessage", lambda c: c.params.get("thread_ts") == "1711.000100"
        )
        assert "Investigating" in json.dumps(summary.params["blocks"])
        bot.event({**first, "text": "still slow", "ts": "1711.000200"})  # a later message, or a retry
        bot.event(first, retry_num=1)
        time.sleep(0.5)
        assert [i.incident_text for i in repo.list_investigations(bot.store)] == ["orders DB is slow"]


def test_channels_not_matching_the_incident_pattern_are_ignored(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        bot.fake.add_channel("C0RANDOM", "random", topic="lunch")
        bot.event(
            {"type": "channel_created", "channel": {"id": "C0RANDOM", "name": "random", "creator": "U0IC"}}
        )
        bot.event({"type": "message", "channel": "C0RANDOM", "user": "U0IC", "text": "hi", "ts": "1.1"})
        time.sleep(0.5)
        assert [c.method for c in bot.fake.calls] == ["auth.test"]


def test_mention_without_a_question_asks_for_one(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        bot.event(mention("   "))
        reply = bot.fake.wait_for_call("chat.postMessage")
        assert "What should I look at?" in reply.params["text"]
        assert repo.list_investigations(bot.store) == []


def test_event_body_that_is_not_json_is_refused(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        refused = bot.signed_post("{not json", "application/json")
        assert refused.status_code == 400 and "unreadable Slack request body" in refused.json()["error"]
        assert (
            bot.signed_post(json.dumps(event_body({"type": "unknown_event"})), "application/json").status_code
            < 500
        )


def _greet(bot: SlackHarness, channel: str, name: str) -> None:
    """An incident channel with no topic: AOI joins, greets and waits for its first message."""
    bot.fake.add_channel(channel, name, topic="", purpose="")
    bot.event({"type": "channel_created", "channel": {"id": channel, "name": name, "creator": "U0IC"}})
    eventually(lambda: repo.list_slack_messages(bot.store, channel=channel, kind="greeting"), "greeting")


def _greet_and_start(bot: SlackHarness, channel: str = "C0QUIET", name: str = "incident-db") -> None:
    _greet(bot, channel, name)
    bot.event(
        {
            "type": "message",
            "channel": channel,
            "user": "U0IC",
            "text": "orders DB is slow",
            "ts": "1711.0001",
        }
    )
    eventually(lambda: len(repo.list_investigations(bot.store)) == 1, "the channel's investigation")


def test_the_event_sweep_keeps_channel_claims_so_a_restart_ignores_later_chatter(
    tmp_path: Path, db_template: Path
) -> None:
    """The sweep forgets Slack event ids after a day; it once forgot the channel's claim too, and the
    restarted bot investigated "thanks all, resolved" as a new incident."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    with running_bot(first, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        _greet_and_start(bot)
        time.sleep(0.05)
        assert (
            recover_interrupted(bot.services, bot.runtime.client, events_kept=timedelta(0)).pruned_events >= 1
        )
    with running_bot(second, first / "aoi.db", investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        chatter = {"type": "message", "channel": "C0QUIET", "user": "U0IC", "text": "thanks all, resolved"}
        assert bot.event({**chatter, "ts": "1800.0001"}).status_code == 200
        time.sleep(1.0)
        assert [i.incident_text for i in repo.list_investigations(bot.store)] == ["orders DB is slow"]


def test_a_first_message_with_a_file_attached_starts_the_investigation(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        _greet(bot, "C0FILE", "inc-files")
        text = "p99 latency on checkout is 8s since 10:02, graph attached"
        shared = {
            "type": "message",
            "subtype": "file_share",
            "channel": "C0FILE",
            "user": "U0IC",
            "text": text,
        }
        bot.event({**shared, "ts": "1711.0003", "files": [{"id": "F1"}]})
        eventually(
            lambda: [i.incident_text for i in repo.list_investigations(bot.store)] == [text], "investigation"
        )


def test_an_edited_mention_is_not_investigated_again(tmp_path: Path, db_template: Path) -> None:
    """Slack sends app_mention again, with a new event id, when the message is edited."""
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        original = mention("chekout returns 502", ts="1711000000.000777")
        bot.event(original)
        eventually(lambda: repo.list_investigations(bot.store), "the investigation")
        edited = {**original, "text": "<@UAOIBOT> checkout returns 502", "edited": {"user": "U0R", "ts": "1"}}
        assert bot.event(edited).status_code == 200
        time.sleep(1.0)
        assert [i.incident_text for i in repo.list_investigations(bot.store)] == ["chekout returns 502"]


def test_a_mention_posted_by_another_bot_is_ignored(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        assert bot.event({**mention("ping"), "bot_id": "B0OTHER", "user": "U0OTHERBOT"}).status_code == 200
        time.sleep(1.0)
        assert repo.list_investigations(bot.store) == []


class _QueueDown:
    def submit(self, task: object) -> None:
        raise ConnectionError("redis down")

    def close(self) -> None:
        pass


def test_a_mention_the_queue_refuses_says_so_in_the_thread(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        bot.services.runner = _QueueDown()
        bot.event(mention("checkout returns 502"))
        eventually(lambda: [i.status for i in repo.list_investigations(bot.store)] == ["failed"], "failed")
        (investigation,) = repo.list_investigations(bot.store)
        assert "could not be queued (ConnectionError: redis down)" in (investigation.error or "")
        update = bot.fake.wait_for_call("chat.update", lambda c: "failed" in json.dumps(c.params))
        assert "mention AOI again to retry" in json.dumps(update.params)
