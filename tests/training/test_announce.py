"""The weekly job's Slack announcement: the text always goes out; the chart follows when it can."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoi.bot.commands.train import slack_announcer
from aoi.bot.settings import Settings
from tests.fakes.slack_api import FakeSlackAPI


def test_announcement_posts_the_text_to_the_configured_channel_and_tries_the_chart(tmp_path: Path) -> None:
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG fake")
    with FakeSlackAPI() as fake:
        settings = Settings(
            SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=fake.base_url, AOI_ANNOUNCE_CHANNEL="C0TRAIN"
        )
        announce = slack_announcer(settings)
        assert announce is not None
        announce("Weekly retrain — no change", png)
        posts = fake.calls_to("chat.postMessage")
        assert [(c.params["channel"], c.params["text"]) for c in posts] == [
            ("C0TRAIN", "Weekly retrain — no change")
        ]
        assert fake.calls_to("files.getUploadURLExternal")  # the chart upload was attempted


@pytest.mark.parametrize("env", [{}, {"SLACK_BOT_TOKEN": "xoxb-test"}, {"AOI_ANNOUNCE_CHANNEL": "C1"}])
def test_no_announcer_without_a_token_and_a_channel(env: dict[str, str]) -> None:
    assert slack_announcer(Settings(**env)) is None  # type: ignore[arg-type]
