"""The whole loop over real HTTP, nothing scripted: a new incident channel is joined, the real Observer
(heuristic planner) investigates the embedded simulated cluster, the diagnosis lands in the thread,
an outsider's Approve is refused, an approver's (clicked several times at once) runs the fix exactly
once, the simulator's grader confirms the mitigation, and feedback is stored."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from aoi.bot.services import cluster_backends_for
from aoi.bot.settings import DEFAULT_SIM_PROBLEM
from aoi.sim import SimCluster, grade, load_suite
from aoi.store import repo
from tests.bot.harness import OUTSIDER, mention, running_bot, wait_for_proposals

ONCALL = "U0ONCALL42"  # an approver through AOI_APPROVERS


def test_incident_channel_to_verified_fix_and_feedback(tmp_path: Path, db_template: Path) -> None:
    problem = load_suite("aiopslab")[DEFAULT_SIM_PROBLEM]
    cluster = SimCluster.from_problem(problem)
    backends = cluster_backends_for(lambda: cluster)
    with running_bot(tmp_path, db_template, backends=backends, AOI_APPROVERS=ONCALL) as bot:
        # channel created → joined → investigated from its topic
        bot.fake.add_channel(
            "C0INCSN", "inc-social-network", topic="Users report errors on the social network site"
        )
        created = {
            "type": "channel_created",
            "channel": {"id": "C0INCSN", "name": "inc-social-network", "creator": "U0IC"},
        }
        assert bot.event(created).status_code == 200
        assert bot.fake.wait_for_call("conversations.join").params["channel"] == "C0INCSN"
        summary = bot.fake.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "C0INCSN")
        thread_ts = summary.response["ts"]

        # the diagnosis replaces the summary in place; the fix is posted in the thread
        diagnosis_update = bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == thread_ts and "feedback_helpful" in json.dumps(c.params),
            timeout=30,
        )
        assert "Root cause" in json.dumps(diagnosis_update.params["blocks"])
        progress = [
            c for c in bot.fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == thread_ts
        ]
        assert any("step" in c.params.get("text", "") for c in progress), "progress lines in the thread"
        proposals = wait_for_proposals(bot.fake)
        proposal = proposals[0]
        assert proposal.thread_ts == thread_ts
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.status == "diagnosed"
        answer = investigation.diagnosis or {}
        assert not grade(problem, cluster, answer).success  # not mitigated before the click

        # an outsider cannot approve
        where = {"channel": proposal.channel, "message_ts": proposal.message_ts, "thread_ts": thread_ts}
        bot.action("proposal_approve", proposal.proposal_id, user=OUTSIDER, **where)
        refusal = bot.fake.wait_for_call("chat.postEphemeral", lambda c: c.params.get("user") == OUTSIDER)
        assert "not an approver" in refusal.params["text"]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"

        # the approver double-clicks (and a colleague clicks too): the fix runs once
        clicks = [
            threading.Thread(target=bot.action, args=("proposal_approve", proposal.proposal_id),
                             kwargs={"user": ONCALL, **where})
            for _ in range(3)
        ]  # fmt: skip
        for click in clicks:
            click.start()
        for click in clicks:
            click.join()
        outcome = bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == proposal.message_ts and "Succeeded" in json.dumps(c.params),
            timeout=60,
        )
        assert f"<@{ONCALL}>" in json.dumps(outcome.params["blocks"])
        assert "proposal_approve" not in json.dumps(outcome.params["blocks"])
        audit = [e.action for e in repo.list_audit(bot.store, proposal_id=proposal.proposal_id)]
        assert audit.count("execute.before") == 1 and audit.count("proposal.unauthorised_approve") == 1

        # the simulated cluster is mitigated, by the simulator's own grader
        assert grade(problem, cluster, answer).success

        # feedback from the thread is stored
        bot.action("feedback_helpful", investigation.id, user="U0IC", channel="C0INCSN", message_ts=thread_ts)
        bot.fake.wait_for(
            lambda calls: any(
                f.kind == "helpful" for f in repo.list_feedback(bot.store, investigation_id=investigation.id)
            ),
            what="the helpful feedback row",
        )
        kinds = {f.kind for f in repo.list_feedback(bot.store, investigation_id=investigation.id)}
        assert {"approved", "execution_verified", "helpful"} <= kinds


def test_mention_in_a_thread_investigates_the_simulated_cluster(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template) as bot:
        bot.event(mention("the social network is throwing errors", ts="1712000000.000100"))
        update = bot.fake.wait_for_call(
            "chat.update", lambda c: "feedback_helpful" in json.dumps(c.params), timeout=30
        )
        assert update.params["channel"] == "C0INC"
        (investigation,) = repo.list_investigations(bot.store)
        assert investigation.planner == "heuristic" and investigation.diagnosis is not None
        assert investigation.diagnosis["detected"] is True
