"""Approve / Reject over real HTTP: who may approve, the two-person rule, exactly-once execution,
the reject modal, and feedback. The diagnosis is scripted; policy, store, executor and the simulated
cluster are real."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from aoi.handlers.tasks import ExecuteTask, InvestigateTask, TaskRunner
from aoi.policies.schema import DEFAULT_POLICY_PATH, load_policy
from aoi.store import repo
from tests.bot.harness import (
    APPROVER,
    OUTSIDER,
    SECOND_APPROVER,
    SlackHarness,
    backdate_proposal,
    button_values,
    eventually,
    mention,
    running_bot,
    wait_for_proposals,
)
from tests.bot.scripted import RESTART, SET_IMAGE, scripted_investigator

POLICY = load_policy(None)
LEAD = "U0AOILEAD1"  # platform-leads in the default policy


def _audit_actions(bot: SlackHarness, proposal_id: str) -> list[str]:
    return [entry.action for entry in repo.list_audit(bot.store, proposal_id=proposal_id)]


def _ephemerals_to(bot: SlackHarness, user: str) -> list[str]:
    return [c.params["text"] for c in bot.fake.calls_to("chat.postEphemeral") if c.params.get("user") == user]


def test_unauthorised_click_gets_an_ephemeral_refusal_is_audited_and_changes_nothing(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        response = bot.action(
            "proposal_approve", proposal.proposal_id, user=OUTSIDER, channel=proposal.channel,
            message_ts=proposal.message_ts, thread_ts=proposal.thread_ts,
        )  # fmt: skip
        assert response.status_code == 200
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, OUTSIDER)), what="the refusal")
        assert "not an approver" in _ephemerals_to(bot, OUTSIDER)[0]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"
        assert _audit_actions(bot, proposal.proposal_id) == ["proposal.unauthorised_approve"]
        assert not any(c.params.get("ts") == proposal.message_ts for c in bot.fake.calls_to("chat.update")), (
            "the proposal message must not change"
        )


def test_concurrent_approve_clicks_execute_once_and_the_message_names_the_approver(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(
        tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART]), AOI_APPROVERS="U0EXTRA"
    ) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        clickers = [APPROVER, APPROVER, SECOND_APPROVER, "U0EXTRA"] * 2
        threads = [
            threading.Thread(
                target=bot.action,
                args=("proposal_approve", proposal.proposal_id),
                kwargs={
                    "user": user,
                    "channel": proposal.channel,
                    "message_ts": proposal.message_ts,
                    "thread_ts": proposal.thread_ts,
                },
            )
            for user in clickers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcome = bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == proposal.message_ts and "Succeeded" in json.dumps(c.params),
            timeout=30,
        )
        assert "proposal_approve" not in json.dumps(outcome.params["blocks"])  # buttons replaced
        final = repo.get_proposal(bot.store, proposal.proposal_id)
        assert final.status == "succeeded"
        assert f"<@{final.decided_by}>" in json.dumps(outcome.params["blocks"])
        actions = _audit_actions(bot, proposal.proposal_id)
        assert actions.count("execute.before") == 1 and actions.count("proposal.approved") == 1
        kinds = [f.kind for f in repo.list_feedback(bot.store, investigation_id=final.investigation_id)]
        assert kinds.count("approved") == 1 and "execution_verified" not in kinds  # nothing was wrong
        reply = bot.fake.wait_for_call(
            "chat.postMessage", lambda c: "but they passed before it too" in c.params.get("text", "")
        )
        assert f"<@{final.decided_by}>" in reply.params["text"]


def test_high_risk_fix_needs_two_different_approvers(tmp_path: Path, db_template: Path) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [SET_IMAGE])) as bot:
        bot.event(mention("user-service crashes after the deploy"))
        (proposal,) = wait_for_proposals(bot.fake)
        assert repo.get_proposal(bot.store, proposal.proposal_id).approvals_required == 2
        where = {
            "channel": proposal.channel,
            "message_ts": proposal.message_ts,
            "thread_ts": proposal.thread_ts,
        }
        bot.action("proposal_approve", proposal.proposal_id, user=APPROVER, **where)
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, APPROVER)), what="the first approval note")
        assert "needs 1 more" in _ephemerals_to(bot, APPROVER)[0]
        bot.action("proposal_approve", proposal.proposal_id, user=APPROVER, **where)
        bot.fake.wait_for(lambda calls: len(_ephemerals_to(bot, APPROVER)) == 2, what="the duplicate note")
        assert "different approver" in _ephemerals_to(bot, APPROVER)[1]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"
        bot.action("proposal_approve", proposal.proposal_id, user=LEAD, **where)
        bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == proposal.message_ts and "Approved by" in json.dumps(c.params),
        )
        assert repo.list_approvals(bot.store, proposal.proposal_id) == [APPROVER, LEAD]


def test_reject_opens_a_modal_the_reason_is_stored_as_feedback_and_a_late_submit_is_told_in_thread(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        bot.action(
            "proposal_reject", proposal.proposal_id, user=APPROVER, channel=proposal.channel,
            message_ts=proposal.message_ts, thread_ts=proposal.thread_ts,
        )  # fmt: skip
        opened = bot.fake.wait_for_call("views.open")
        view = opened.params["view"]
        assert view["callback_id"] == "proposal_reject_reason"
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"  # nothing until submit
        assert bot.view_submission(APPROVER, view, "restarting hides the real cause").status_code == 200
        bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == proposal.message_ts and "Rejected" in json.dumps(c.params),
        )
        rejected = repo.get_proposal(bot.store, proposal.proposal_id)
        assert rejected.status == "rejected" and rejected.decided_by == APPROVER
        feedback = repo.list_feedback(
            bot.store, investigation_id=rejected.investigation_id, kinds=["rejected"]
        )
        assert [f.reason for f in feedback] == ["restarting hides the real cause"]
        assert "execute.before" not in _audit_actions(bot, proposal.proposal_id)
        bot.view_submission(APPROVER, view, "again, from a second open modal")
        late = bot.fake.wait_for_call("chat.postEphemeral", lambda c: "changed nothing" in c.params["text"])
        assert late.params.get("thread_ts") == proposal.thread_ts, "the note belongs in the incident thread"


def test_helpful_buttons_and_thumbs_reactions_are_stored_as_feedback(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        investigation_id = repo.get_proposal(bot.store, proposal.proposal_id).investigation_id
        bot.action(
            "feedback_helpful", investigation_id, user="U0READER", channel=proposal.channel,
            message_ts=proposal.thread_ts,
        )  # fmt: skip
        reaction = {
            "type": "reaction_added",
            "user": "U0READER",
            "reaction": "-1::skin-tone-2",
            "item_user": "UAOIBOT",
            "item": {"type": "message", "channel": proposal.channel, "ts": proposal.message_ts},
        }
        bot.event(reaction)
        bot.event({**reaction, "reaction": "tada"})  # not feedback
        bot.event({**reaction, "item_user": "U0SOMEONE"})  # not AOI's message
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, "U0READER")), what="the thanks")

        def stored() -> list[tuple[str, str | None]]:
            rows = repo.list_feedback(bot.store, investigation_id=investigation_id)
            return [(f.kind, f.proposal_id) for f in rows]

        eventually(lambda: len(stored()) >= 2, "two feedback rows")
        assert sorted(stored(), key=str) == sorted(
            [("helpful", None), ("thumbs_down", proposal.proposal_id)], key=str
        )

        # the thumb taken back (a mis-click) is no longer feedback; someone else's removal changes nothing
        assert bot.event({**reaction, "type": "reaction_removed", "user": "U0OTHER"}).status_code == 200
        time.sleep(0.5)  # handled before the response: nothing may have changed
        assert len(stored()) == 2
        assert bot.event({**reaction, "type": "reaction_removed"}).status_code == 200
        eventually(lambda: stored() == [("helpful", None)], "the thumbs-down retracted")


class FlakyRunner:
    """Refuses the first task it is given (a queue outage), then hands tasks to the real runner."""

    def __init__(self, inner: TaskRunner) -> None:
        self.inner = inner
        self.refused = 0

    def submit(self, task: InvestigateTask | ExecuteTask) -> None:
        if self.refused == 0:
            self.refused += 1
            raise ConnectionError("queue unavailable")
        self.inner.submit(task)

    def close(self) -> None:
        self.inner.close()


def test_an_approval_whose_execution_could_not_be_queued_is_retried_by_clicking_again(
    tmp_path: Path, db_template: Path
) -> None:
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        assert bot.services.runner is not None
        bot.services.runner = FlakyRunner(bot.services.runner)
        where = {
            "channel": proposal.channel,
            "message_ts": proposal.message_ts,
            "thread_ts": proposal.thread_ts,
        }
        bot.action("proposal_approve", proposal.proposal_id, user=APPROVER, **where)
        warning = bot.fake.wait_for_call(
            "chat.postEphemeral", lambda c: "could not be queued" in c.params["text"]
        )
        assert "Click Approve again" in warning.params["text"]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "approved"
        bot.action("proposal_approve", proposal.proposal_id, user=APPROVER, **where)
        bot.fake.wait_for_call(
            "chat.update",
            lambda c: c.params.get("ts") == proposal.message_ts and "Succeeded" in json.dumps(c.params),
            timeout=30,
        )
        actions = _audit_actions(bot, proposal.proposal_id)
        assert actions.count("execute.before") == 1


def test_a_fix_from_an_earlier_diagnosis_of_the_thread_is_not_run(tmp_path: Path, db_template: Path) -> None:
    """Two @aoi mentions in one thread, each proposing a fix: approving the older one would act on
    staler evidence (two rollout_undo proposals once put the broken revision back)."""
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("user-service is flapping"))
        (older,) = wait_for_proposals(bot.fake)
        again = {**mention("still flapping, look again"), "thread_ts": older.thread_ts}
        bot.event(again)
        _, newer = wait_for_proposals(bot.fake, count=2)
        where = {"channel": older.channel, "thread_ts": older.thread_ts}
        bot.action("proposal_approve", older.proposal_id, user=APPROVER, message_ts=older.message_ts, **where)
        notice = bot.fake.wait_for_call(
            "chat.postEphemeral", lambda c: "earlier diagnosis" in c.params["text"]
        )
        assert "Nothing was run" in notice.params["text"]
        assert repo.get_proposal(bot.store, older.proposal_id).status == "pending"
        bot.action("proposal_approve", newer.proposal_id, user=APPROVER, message_ts=newer.message_ts, **where)
        eventually(
            lambda: repo.get_proposal(bot.store, newer.proposal_id).status == "succeeded", "newer runs"
        )
        assert "execute.before" not in _audit_actions(bot, older.proposal_id)


def test_a_fix_past_the_approval_window_is_not_run_and_the_refusal_is_audited(
    tmp_path: Path, db_template: Path
) -> None:
    """A fix read off the cluster hours ago may no longer fit it: approving it is refused, the
    approver is told to ask for a fresh diagnosis, and the proposal stays pending."""
    with running_bot(tmp_path, db_template, investigator=scripted_investigator(POLICY, [RESTART])) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        backdate_proposal(bot, proposal.proposal_id, hours=3)
        bot.action(
            "proposal_approve", proposal.proposal_id, user=APPROVER, channel=proposal.channel,
            message_ts=proposal.message_ts, thread_ts=proposal.thread_ts,
        )  # fmt: skip
        notice = bot.fake.wait_for_call("chat.postEphemeral", lambda c: "approval window" in c.params["text"])
        assert "proposed 3.0 hours ago, past the 2.0 hours approval window" in notice.params["text"]
        assert "Nothing was run" in notice.params["text"]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"
        assert _audit_actions(bot, proposal.proposal_id) == ["proposal.expired_approve"]


def test_an_approval_window_of_zero_lets_an_old_fix_run(tmp_path: Path, db_template: Path) -> None:
    with running_bot(
        tmp_path,
        db_template,
        investigator=scripted_investigator(POLICY, [RESTART]),
        AOI_PROPOSAL_TTL_MINUTES="0",
    ) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        backdate_proposal(bot, proposal.proposal_id, hours=30)
        bot.action(
            "proposal_approve", proposal.proposal_id, user=APPROVER, channel=proposal.channel,
            message_ts=proposal.message_ts, thread_ts=proposal.thread_ts,
        )  # fmt: skip
        eventually(
            lambda: repo.get_proposal(bot.store, proposal.proposal_id).status == "succeeded",
            "the old fix runs",
        )


def _policy_copy(tmp_path: Path) -> Path:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    return policy_file


def _edit(policy_file: Path, old: str, new: str) -> None:
    """An admin's edit to the running bot's AOI_POLICY_FILE (the modification time moves on)."""
    text = policy_file.read_text(encoding="utf-8")
    assert old in text
    policy_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    stamp = policy_file.stat()
    os.utime(policy_file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))


def _bot_on(policy_file: Path, tmp_path: Path, db_template: Path) -> Any:
    """The bot with AOI_POLICY_FILE set, proposing a restart of user-service."""
    investigator = scripted_investigator(POLICY, [RESTART])
    return running_bot(tmp_path, db_template, investigator=investigator, AOI_POLICY_FILE=str(policy_file))


def _approve(bot: SlackHarness, proposal: object, user: str) -> None:
    bot.action(
        "proposal_approve", proposal.proposal_id, user=user, channel=proposal.channel,  # type: ignore[attr-defined]
        message_ts=proposal.message_ts, thread_ts=proposal.thread_ts,  # type: ignore[attr-defined]
    )  # fmt: skip


def test_an_approver_removed_from_the_policy_file_is_refused_without_a_restart(
    tmp_path: Path, db_template: Path
) -> None:
    """The admin edits AOI_POLICY_FILE while a fix is pending: the running bot enforces the edit."""
    policy_file = _policy_copy(tmp_path)
    with _bot_on(policy_file, tmp_path, db_template) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        _edit(policy_file, f"users: [{APPROVER}, {SECOND_APPROVER}]", f"users: [{SECOND_APPROVER}]")
        _approve(bot, proposal, APPROVER)
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, APPROVER)), what="the refusal")
        assert "not an approver" in _ephemerals_to(bot, APPROVER)[0]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"
        assert _audit_actions(bot, proposal.proposal_id) == ["proposal.unauthorised_approve"]


def test_a_rule_raised_to_two_approvers_mid_incident_waits_for_a_second_approver_and_then_runs(
    tmp_path: Path, db_template: Path
) -> None:
    """Posted needing one approval; the rule now needs two. The first click must not approve a fix
    the executor would then refuse for good: it waits for a second approver, and the fix runs."""
    policy_file = _policy_copy(tmp_path)
    with _bot_on(policy_file, tmp_path, db_template) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        assert repo.get_proposal(bot.store, proposal.proposal_id).approvals_required == 1
        restart_rule = "rollout restart deployment/{target}\n"
        _edit(policy_file, restart_rule, restart_rule.replace("\n", "\n    approvals_required: 2\n"))
        _approve(bot, proposal, APPROVER)
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, APPROVER)), what="the answer")
        assert "needs 1 more" in _ephemerals_to(bot, APPROVER)[0]
        stored = repo.get_proposal(bot.store, proposal.proposal_id)
        assert (stored.status, stored.approvals_required) == ("pending", 2)
        _approve(bot, proposal, SECOND_APPROVER)
        eventually(
            lambda: repo.get_proposal(bot.store, proposal.proposal_id).status == "succeeded", "the fix to run"
        )
        assert "proposal.requirement_raised" in _audit_actions(bot, proposal.proposal_id)


class HoldingRunner:
    """Hands investigations on at once and holds executions until released (a busy queue)."""

    def __init__(self, inner: TaskRunner) -> None:
        self.inner = inner
        self.held: list[ExecuteTask] = []

    def submit(self, task: InvestigateTask | ExecuteTask) -> None:
        if isinstance(task, ExecuteTask):
            self.held.append(task)
        else:
            self.inner.submit(task)

    def release(self) -> None:
        for task in self.held:
            self.inner.submit(task)

    def close(self) -> None:
        self.inner.close()


def test_a_namespace_protected_after_approval_is_refused_by_the_executor(
    tmp_path: Path, db_template: Path
) -> None:
    """The executor checks the policy in force when it runs, not the one the process started with."""
    policy_file = _policy_copy(tmp_path)
    with _bot_on(policy_file, tmp_path, db_template) as bot:
        assert bot.services.runner is not None
        runner = bot.services.runner = HoldingRunner(bot.services.runner)
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        _approve(bot, proposal, APPROVER)
        eventually(lambda: runner.held, "the approved execution to be queued")
        _edit(
            policy_file,
            "denied_namespaces: [kube-system,",
            "denied_namespaces: [test-social-network, kube-system,",
        )
        runner.release()
        eventually(
            lambda: "execute.refused" in _audit_actions(bot, proposal.proposal_id), "the executor's refusal"
        )
        (refusal,) = [
            entry
            for entry in repo.list_audit(bot.store, proposal_id=proposal.proposal_id)
            if entry.action == "execute.refused"
        ]
        assert "protected" in json.dumps(refusal.details)
        assert "execute.before" not in _audit_actions(bot, proposal.proposal_id)


def test_a_fix_the_policy_refuses_by_the_time_the_investigation_ends_gets_no_approve_button(
    tmp_path: Path, db_template: Path
) -> None:
    policy_file = _policy_copy(tmp_path)
    slow = scripted_investigator(POLICY, [RESTART], delay_s=1.5)
    with running_bot(tmp_path, db_template, investigator=slow, AOI_POLICY_FILE=str(policy_file)) as bot:
        bot.event(mention("user-service is flapping"))
        eventually(
            lambda: [i.status for i in repo.list_investigations(bot.store)] == ["running"],
            "the investigation",
        )
        _edit(policy_file, "denied_namespaces: [", "denied_namespaces: [test-social-network, ")
        eventually(
            lambda: [i.status for i in repo.list_investigations(bot.store)] == ["diagnosed"], "the diagnosis"
        )
        assert repo.list_proposals(bot.store) == []
        time.sleep(0.3)
        assert not any(button_values(c, "proposal_approve") for c in bot.fake.calls_to("chat.postMessage"))


def test_a_fix_another_rule_now_decides_is_not_approved_but_sent_back_for_a_fresh_proposal(
    tmp_path: Path, db_template: Path
) -> None:
    """A stricter rule for the same verb added ahead of the old one: the click must not count votes
    under one rule and the requirement under another (the executor would then refuse it for good)."""
    policy_file = _policy_copy(tmp_path)
    with _bot_on(policy_file, tmp_path, db_template) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        stricter = (
            "  - id: k8s-rollout-restart-social\n    verb: rollout_restart\n"
            "    description: Restarts in the social network need the leads.\n"
            "    namespaces: [test-social-network]\n    risk: medium\n    approvers: [platform-leads]\n"
            "    command: kubectl -n {namespace} rollout restart deployment/{target}\n\n"
        )
        _edit(policy_file, "  - id: k8s-rollout-restart\n", stricter + "  - id: k8s-rollout-restart\n")
        _approve(bot, proposal, APPROVER)
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, APPROVER)), what="the answer")
        answer = _ephemerals_to(bot, APPROVER)[0]
        assert "does not allow this fix as proposed" in answer and "k8s-rollout-restart-social" in answer
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"
        assert _audit_actions(bot, proposal.proposal_id) == ["proposal.policy_refused_approve"]


def test_with_requesters_any_approver_votes_and_the_deciding_approval_comes_from_a_requester(
    tmp_path: Path, db_template: Path
) -> None:
    """The executor acts as the approver whose vote decides, and `requesters` names who may have a
    fix run: an approver outside it still votes; the decision waits for a requester."""
    policy_file = _policy_copy(tmp_path)
    _edit(
        policy_file,
        "two_person_rule: true\n",
        f"two_person_rule: true\nrequesters:\n  users: [{SECOND_APPROVER}]\n",
    )
    restart_rule = "rollout restart deployment/{target}\n"
    _edit(policy_file, restart_rule, restart_rule.replace("\n", "\n    approvals_required: 2\n"))
    with _bot_on(policy_file, tmp_path, db_template) as bot:
        bot.event(mention("user-service is flapping"))
        (proposal,) = wait_for_proposals(bot.fake)
        _approve(bot, proposal, SECOND_APPROVER)  # a requester: 1 of 2
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, SECOND_APPROVER)), what="1 of 2")
        _approve(bot, proposal, APPROVER)  # not a requester: counted, does not decide
        bot.fake.wait_for(lambda calls: bool(_ephemerals_to(bot, APPROVER)), what="the answer")
        assert "must come from someone the policy lets request it" in _ephemerals_to(bot, APPROVER)[0]
        assert repo.get_proposal(bot.store, proposal.proposal_id).status == "pending"
        _approve(bot, proposal, SECOND_APPROVER)  # the requester decides on the votes already there
        eventually(
            lambda: repo.get_proposal(bot.store, proposal.proposal_id).status == "succeeded", "the fix to run"
        )
