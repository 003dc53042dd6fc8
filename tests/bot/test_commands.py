"""``/aoi`` over real HTTP: investigate, status and help are acked at once with an ephemeral answer."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aoi.policies.schema import DEFAULT_POLICY_PATH, load_policy
from aoi.store import repo
from tests.bot.harness import backdate_proposal, running_bot, wait_for_proposals
from tests.bot.scripted import RESTART, scripted_investigator

POLICY = load_policy(None)


def test_investigate_acks_then_opens_a_thread_rooted_at_the_summary(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        response = bot.command("investigate checkout latency doubled", channel="C0OPS")
        assert response.status_code == 200 and "On it" in response.text
        summary = bot.fake.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "C0OPS")
        assert not summary.params.get("thread_ts")
        (proposal,) = wait_for_proposals(bot.fake)
        assert proposal.thread_ts == summary.response["ts"]
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.incident_text == "checkout latency doubled"


def test_status_lists_pending_approvals_inside_the_approval_window(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.command("investigate checkout latency doubled")
        (proposal,) = wait_for_proposals(bot.fake)
        status = bot.command("status")
        assert status.status_code == 200
        text = json.dumps(status.json())
        assert "Pending approvals: 1" in text and proposal.proposal_id in text
        backdate_proposal(bot, proposal.proposal_id, hours=3)  # past the 2-hour approval window
        text = json.dumps(bot.command("status").json())
        assert "Pending approvals: 0" in text and proposal.proposal_id not in text


def test_help_empty_and_unknown_subcommands_explain_usage(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        assert "/aoi investigate" in json.dumps(bot.command("help").json())
        assert "/aoi investigate" in json.dumps(bot.command("").json())
        assert "Unknown subcommand `deploy`" in bot.command("deploy prod").text
        assert "Tell me what to investigate" in bot.command("investigate").text
        assert repo.list_investigations(bot.store) == []


def test_status_with_the_store_down_says_so_instead_of_failing(tmp_path: Path, db_template: Path) -> None:
    from aoi.store.db import Store

    with running_bot(tmp_path, db_template) as bot:
        bot.runtime.services.store = Store.open("postgresql+psycopg://aoi:pw@127.0.0.1:1/aoi")
        response = bot.command("status")
        assert response.status_code == 200 and "cannot read its database" in response.text


def test_status_names_the_policy_in_force_and_a_policy_edit_that_did_not_load(
    tmp_path: Path, db_template: Path
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    with running_bot(tmp_path, db_template, AOI_POLICY_FILE=str(policy_file)) as bot:
        text = json.dumps(bot.command("status").json())
        assert f"Policy: `{policy_file} @ " in text and "not applied" not in text
        policy_file.write_text("version: 1\nrules: [", encoding="utf-8")
        stamp = policy_file.stat()
        os.utime(policy_file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
        text = json.dumps(bot.command("status").json())
        assert "Policy edit not applied" in text and "not valid YAML" in text
