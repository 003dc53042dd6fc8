"""Property-based fuzzing of every HTTP endpoint of ``aoi bot`` (hypothesis).

Correctly signed requests with arbitrary, missing or mistyped fields for every payload Slack sends
(each Events API event type, each button's ``block_actions``, the reject modal's ``view_submission``,
``/aoi`` slash commands), arbitrary Alertmanager bodies, and unsigned, badly signed or stale requests.

What must hold for every example: no 5xx; a refused request is a 4xx with an error that says what was
wrong (401 for a signature failure); no listener raises in the background (an exception logged by
Bolt's listener runner or by AOI's own error paths counts as a crash); and afterwards the same bot
still answers a valid mention with an investigation.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from aoi.handlers.blocks.common import APPROVE, HELPFUL, NOT_HELPFUL, REJECT, REJECT_MODAL_CALLBACK
from aoi.policies.schema import load_policy
from tests.bot.harness import SIGNING_SECRET, SlackHarness, event_body, mention, running_bot
from tests.bot.scripted import RESTART, scripted_investigator
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID

EVENT_TYPES = [
    "app_mention",
    "message",
    "channel_created",
    "member_joined_channel",
    "reaction_added",
    "app_home_opened",
]
ACTION_IDS = [APPROVE, REJECT, HELPFUL, NOT_HELPFUL]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: a failure reports its first example
)
FORM = "application/x-www-form-urlencoded"
ASCII = st.characters(min_codepoint=32, max_codepoint=126)

# JSON values of every type, small enough to keep 50 examples per strategy fast
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ids = st.sampled_from(["C0INC", "U0AOISRE01", "C0NEW", BOT_USER_ID, "", "1700000000.000001"]) | json_values


def maybe(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict holding each of ``fields`` or not (a missing field is as likely as a mistyped one)."""
    return st.fixed_dictionaries({}, optional=fields)


class CrashLog(logging.Handler):
    """Collects ERROR records with a traceback from any thread (Bolt logs a failing listener so)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, db_template: Path) -> Iterator[SlackHarness]:
    investigator = scripted_investigator(load_policy(None), [RESTART])
    with running_bot(tmp_path_factory.mktemp("fuzz"), db_template, investigator=investigator) as harness:
        harness.fake.add_channel("C0NEW", name="inc-fuzz", topic="checkout is down")
        yield harness


@pytest.fixture(scope="module")
def crashes() -> Iterator[CrashLog]:
    handler = CrashLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def assert_handled(response: httpx.Response) -> None:
    """No 5xx; a refusal is a 4xx that says why (JSON error or a text body)."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if 400 <= response.status_code < 500 and response.status_code != 401:
        assert response.text.strip(), f"{response.status_code} without an explanation"


def assert_no_crash(crashes: CrashLog) -> None:
    time.sleep(0.05)  # listeners run after the ack
    found = [f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" for r in crashes.records if r.exc_info]
    crashes.records.clear()
    assert not found, found


def interactivity(bot: SlackHarness, payload: Any) -> httpx.Response:
    return bot.signed_post(urlencode({"payload": json.dumps(payload)}), FORM)


@given(
    kind=st.sampled_from(EVENT_TYPES),
    fields=maybe(
        {
            "user": ids,
            "channel": ids | maybe({"id": ids, "name": st.text(max_size=30), "creator": ids}),
            "text": json_values | st.text(max_size=200).map(lambda t: f"<@{BOT_USER_ID}> {t}"),
            "ts": ids,
            "thread_ts": ids,
            "subtype": json_values,
            "bot_id": json_values,
            "item_user": st.sampled_from([BOT_USER_ID, "U0OTHER"]) | json_values,
            "item": maybe({"type": json_values, "channel": ids, "ts": ids}),
            "reaction": st.sampled_from(["+1", "-1", "thumbsup", "thumbsdown"]) | json_values,
            "tab": st.sampled_from(["home", "messages"]) | json_values,
        }
    ),
    envelope=maybe({"event_id": json_values, "team_id": json_values, "type": json_values}),
)
@FUZZ
def test_events_with_arbitrary_fields_are_acked_without_crashing(
    bot: SlackHarness, crashes: CrashLog, kind: str, fields: dict[str, Any], envelope: dict[str, Any]
) -> None:
    body = {**event_body({"type": kind, **fields}), **envelope}
    assert_handled(bot.signed_post(json.dumps(body), "application/json"))
    assert_no_crash(crashes)


@given(
    body=json_values
    | maybe({"type": st.just("event_callback") | json_values, "event": json_values, "event_id": json_values})
)
@FUZZ
def test_events_api_bodies_of_any_shape_are_refused_or_acked(
    bot: SlackHarness, crashes: CrashLog, body: Any
) -> None:
    assert_handled(bot.signed_post(json.dumps(body), "application/json"))
    assert_no_crash(crashes)


@given(
    action_id=st.sampled_from(ACTION_IDS) | st.text(max_size=20),
    value=json_values,
    action_extra=maybe({"type": json_values, "block_id": json_values}),
    payload=maybe(
        {
            "user": maybe({"id": ids, "team_id": json_values}) | json_values,
            "channel": maybe({"id": ids}) | json_values,
            "container": maybe({"message_ts": ids, "channel_id": ids, "type": json_values}) | json_values,
            "message": maybe({"ts": ids, "thread_ts": ids}) | json_values,
            "trigger_id": json_values,
            "team": maybe({"id": json_values}),
            "response_url": st.just("not a url") | json_values,
        }
    ),
)
@FUZZ
def test_block_actions_for_every_button_with_arbitrary_fields_never_fail(
    bot: SlackHarness,
    crashes: CrashLog,
    action_id: str,
    value: Any,
    action_extra: dict[str, Any],
    payload: dict[str, Any],
) -> None:
    action = {"action_id": action_id, "value": value, **action_extra}
    full = {"type": "block_actions", "api_app_id": "A0AOI", **payload, "actions": [action]}
    assert_handled(interactivity(bot, full))
    assert_no_crash(crashes)


@given(
    payload=maybe(
        {
            "user": maybe({"id": ids}) | json_values,
            "team": maybe({"id": json_values}),
            "view": maybe(
                {
                    "callback_id": st.just(REJECT_MODAL_CALLBACK) | json_values,
                    "private_metadata": json_values.map(json.dumps) | json_values,
                    "state": maybe({"values": json_values}) | json_values,
                    "id": json_values,
                }
            ).map(lambda view: {"callback_id": REJECT_MODAL_CALLBACK, **view}),
        }
    )
)
@FUZZ
def test_reject_modal_submissions_with_arbitrary_fields_never_fail(
    bot: SlackHarness, crashes: CrashLog, payload: dict[str, Any]
) -> None:
    assert_handled(interactivity(bot, {"type": "view_submission", "api_app_id": "A0AOI", **payload}))
    assert_no_crash(crashes)


@given(
    form=maybe(
        {
            "command": st.just("/aoi") | st.text(max_size=10),
            "text": st.sampled_from(["investigate", "status", "help", ""]).flatmap(
                lambda sub: st.text(max_size=80).map(lambda rest: f"{sub} {rest}")
            ),
            "user_id": st.text(max_size=12),
            "channel_id": st.sampled_from(["C0INC", "C0NEW", ""]) | st.text(max_size=12),
            "team_id": st.just(TEAM_ID) | st.text(max_size=12),
            "trigger_id": st.text(max_size=12),
            "response_url": st.text(max_size=20),
        }
    ),
    raw=st.none() | st.text(max_size=100),
)
@FUZZ
def test_slash_commands_with_arbitrary_form_fields_never_fail(
    bot: SlackHarness, crashes: CrashLog, form: dict[str, str], raw: str | None
) -> None:
    body = raw if raw is not None and not form else urlencode(form)
    assert_handled(bot.signed_post(body, FORM))
    assert_no_crash(crashes)


alerts = maybe(
    {
        "labels": st.dictionaries(st.sampled_from(["alertname", "service", "namespace"]), json_values)
        | json_values,
        "annotations": st.dictionaries(st.sampled_from(["summary", "description"]), json_values)
        | json_values,
        "status": st.sampled_from(["firing", "resolved"]) | json_values,
        "fingerprint": st.text(max_size=30) | json_values,
        "startsAt": json_values,
    }
)


@given(
    body=json_values
    | maybe(
        {
            "version": st.just("4") | json_values,
            "status": st.sampled_from(["firing", "resolved"]) | json_values,
            "alerts": st.lists(alerts, max_size=3) | json_values,
            "groupKey": json_values,
            "receiver": json_values,
        }
    ),
    garbage=st.none() | st.binary(max_size=50),
)
@FUZZ
def test_alertmanager_bodies_of_any_shape_get_200_or_a_clear_400(
    bot: SlackHarness, crashes: CrashLog, body: Any, garbage: bytes | None
) -> None:
    content = garbage if garbage is not None else json.dumps(body).encode()
    response = bot.http.post("/alerts", content=content, headers={"Content-Type": "application/json"})
    assert_handled(response)
    if response.status_code == 400:
        assert response.json()["error"]
    assert_no_crash(crashes)


@given(
    secret=st.just(SIGNING_SECRET) | st.text(ASCII, min_size=1, max_size=30),
    age_s=st.integers(-(10**6), 10**6),
    body=st.sampled_from(["json", "form"]),
    drop=st.sampled_from([None, "X-Slack-Signature", "X-Slack-Request-Timestamp"]),
    signature=st.none() | st.text(ASCII, max_size=70) | st.just("v0="),
)
@FUZZ
def test_unsigned_badly_signed_or_stale_requests_are_refused_with_401(
    bot: SlackHarness,
    crashes: CrashLog,
    secret: str,
    age_s: int,
    body: str,
    drop: str | None,
    signature: str | None,
) -> None:
    valid = secret == SIGNING_SECRET and abs(age_s) <= 60 * 5 - 5 and drop is None and signature is None
    content = (
        json.dumps(event_body(mention("fuzz: is this signed?", channel="C0SIG")))
        if body == "json"
        else urlencode({"command": "/aoi", "text": "help", "user_id": "U0", "channel_id": "C0SIG"})
    )
    ts = str(int(time.time()) - age_s)
    computed = SignatureVerifier(secret).generate_signature(timestamp=ts, body=content) or ""
    headers = {
        "Content-Type": "application/json" if body == "json" else FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature if signature is not None else computed,
    }
    if drop:
        headers.pop(drop)
    response = bot.http.post("/slack/events", content=content.encode(), headers=headers)
    if valid:
        assert response.status_code == 200
    else:
        assert response.status_code == 401, (response.status_code, response.text)
    assert_no_crash(crashes)


@given(
    path=st.sampled_from(["/healthz", "/metrics"]),
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=8)),
)
@FUZZ
def test_health_and_metrics_answer_any_query(
    bot: SlackHarness, crashes: CrashLog, path: str, query: dict[str, str]
) -> None:
    response = bot.http.get(path, params=query)
    assert response.status_code == 200 and response.text


def test_zz_after_all_fuzzing_the_bot_still_investigates_a_valid_mention(
    bot: SlackHarness, crashes: CrashLog
) -> None:
    event = mention("after fuzzing: checkout returns 502", channel="C0AFTER")
    assert bot.event(event).status_code == 200
    bot.fake.wait_for_call(
        "chat.update",
        lambda c: c.params.get("channel") == "C0AFTER" and "feedback_helpful" in json.dumps(c.params),
        timeout=15,
    )
    assert bot.http.get("/healthz").json() == {"ok": True}
    assert_no_crash(crashes)
