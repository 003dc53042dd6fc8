"""The scoped executor: policy re-check, approver check, idempotency, audit, dry run, verification."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from aoi.agents.audit import InMemoryAuditSink, InMemoryLedger
from aoi.agents.backends.base import WriteOp
from aoi.agents.backends.sim import SimReadBackend, SimWriteBackend
from aoi.agents.executor import Executor
from aoi.agents.records import ActionRequest
from aoi.policies.evaluate import Actor
from aoi.policies.schema import load_policy
from aoi.sim import SimCluster, grade, load_suite

PROBLEM = "k8s_target_port-misconfig-mitigation-1"
NS = "test-social-network"
APPROVER = Actor(user_id="U0AOISRE01")  # listed in the default policy's sre-oncall set
FIX = ActionRequest(
    verb="patch_service_target_port",
    target="user-service",
    namespace=NS,
    params={"target_port": 9090, "port_index": 0},
)


class CountingWriter(SimWriteBackend):
    """Counts real writes (dry runs work on a copy and are not counted)."""

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__(cluster)
        self.writes: list[str] = []
        self.lock = threading.Lock()

    def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.writes.append("patch")
        return super().patch(*args, **kwargs)

    def dry_run(self, op: WriteOp) -> str:
        return SimWriteBackend.dry_run(self, op)


@pytest.fixture
def cluster() -> SimCluster:
    return SimCluster.from_problem(load_suite("aiopslab")[PROBLEM])


def make(cluster: SimCluster, **kwargs: Any) -> tuple[Executor, CountingWriter, InMemoryAuditSink]:
    writer = CountingWriter(cluster)
    audit = InMemoryAuditSink()
    executor = Executor(
        writer,
        SimReadBackend(cluster),
        load_policy(None),
        audit,
        verify_timeout_s=120,
        verify_interval_s=10,
        sleep=cluster.advance,
        **kwargs,
    )
    return executor, writer, audit


def test_approved_fix_runs_once_is_audited_and_verified(cluster: SimCluster) -> None:
    executor, writer, audit = make(cluster)
    result = executor.execute("prop_1", FIX, APPROVER)
    assert result.status == "succeeded", result
    assert result.rule_id == "k8s-patch-service-target-port"
    assert result.dry_run and result.dry_run.startswith("dry run ok")
    assert "recovered" in result.verification
    assert result.confirmed and "before the fix: service user-service targetPort 9999" in result.verification
    assert writer.writes == ["patch"]
    assert [e.action for e in audit.events] == ["execute.before", "execute.after"]
    before, after = audit.events
    assert before.before is not None and before.before["spec"]["ports"][0]["targetPort"] == 9999
    assert after.after is not None and after.after["spec"]["ports"][0]["targetPort"] == 9090
    assert grade(load_suite("aiopslab")[PROBLEM], cluster, {"detected": True}).success


def test_the_same_proposal_id_never_executes_twice(cluster: SimCluster) -> None:
    executor, writer, audit = make(cluster)
    first = executor.execute("prop_1", FIX, APPROVER)
    again = executor.execute("prop_1", FIX, APPROVER)
    assert first.status == "succeeded" and not first.duplicate
    assert again.duplicate and again.status == "succeeded" and "not executed again" in again.detail
    assert writer.writes == ["patch"]
    assert audit.events[-1].action == "execute.duplicate"


def test_concurrent_clicks_execute_exactly_once(cluster: SimCluster) -> None:
    executor, writer, _ = make(cluster, ledger=InMemoryLedger())
    results = []
    barrier = threading.Barrier(8)

    def click() -> None:
        barrier.wait()
        results.append(executor.execute("prop_race", FIX, APPROVER))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.writes == ["patch"]
    assert sum(not r.duplicate for r in results) == 1


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (ActionRequest(verb="delete_namespace", target=NS, namespace=NS), "not in the policy whitelist"),
        (FIX.model_copy(update={"namespace": "kube-system"}), "kube-system"),
        (FIX.model_copy(update={"params": {"target_port": 99999}}), "target_port"),
        (FIX.model_copy(update={"target": "user-service; rm -rf /"}), "not a single valid"),
    ],
    ids=["unknown-verb", "protected-namespace", "out-of-bounds", "shell-injection"],
)
def test_requests_outside_the_policy_are_refused_and_change_nothing(
    cluster: SimCluster, request_: ActionRequest, reason: str
) -> None:
    executor, writer, audit = make(cluster)
    result = executor.execute("prop_bad", request_, APPROVER)
    assert result.status == "refused"
    assert reason in result.detail
    assert writer.writes == []
    assert [e.action for e in audit.events] == ["execute.refused"]


def test_an_actor_who_is_not_an_approver_is_refused(cluster: SimCluster) -> None:
    executor, writer, audit = make(cluster)
    result = executor.execute("prop_2", FIX, Actor(user_id="U0NOBODY1"))
    assert result.status == "refused" and "not an approver" in result.detail
    assert writer.writes == [] and audit.events[0].action == "execute.refused"
    allowed, *_ = make(cluster, extra_approvers=["U0NOBODY1"])
    assert allowed.execute("prop_3", FIX, Actor(user_id="U0NOBODY1")).status == "succeeded"


def test_a_wrong_fix_runs_but_is_reported_as_failed_by_verification(cluster: SimCluster) -> None:
    executor, writer, _ = make(cluster)
    wrong = FIX.model_copy(update={"params": {"target_port": 8080, "port_index": 0}})
    result = executor.execute("prop_4", wrong, APPROVER)
    assert writer.writes == ["patch"]
    assert result.status == "failed" and result.verification.startswith("not recovered")


def test_a_failing_dry_run_stops_before_any_write(cluster: SimCluster) -> None:
    executor, writer, audit = make(cluster)
    missing = FIX.model_copy(update={"target": "no-such-service"})
    result = executor.execute("prop_5", missing, APPROVER)
    assert result.status == "failed" and "not found" in result.detail
    assert writer.writes == []
    assert [e.action for e in audit.events] == ["execute.before", "execute.after"]


def test_store_ledger_executes_an_approved_proposal_once_and_audits_in_the_store(
    cluster: SimCluster, tmp_path: Any
) -> None:
    from aoi.agents.audit import StoreAuditSink, StoreLedger
    from aoi.store.db import Store
    from aoi.store.repo_audit import list_audit
    from aoi.store.repo_investigations import create_investigation
    from aoi.store.repo_proposals import NewProposal, add_proposal, approve_proposal, get_proposal

    store = Store.open(f"sqlite:///{tmp_path / 'aoi.db'}", migrate=True)
    investigation = create_investigation(store, planner="heuristic", incident_text="test")
    pending = add_proposal(
        store, investigation.id, NewProposal(action=FIX.model_dump(), rule_id="k8s-patch-service-target-port")
    )
    executor, writer, _ = make(cluster, ledger=StoreLedger(store))
    executor.audit = StoreAuditSink(store)
    not_yet = executor.execute(pending.id, FIX, APPROVER)
    assert not_yet.status == "refused" and not_yet.duplicate and writer.writes == []  # not approved yet
    approve_proposal(store, pending.id, APPROVER.user_id)
    first = executor.execute(pending.id, FIX, APPROVER)
    again = executor.execute(pending.id, FIX, APPROVER)
    assert first.status == "succeeded" and again.duplicate and writer.writes == ["patch"]
    assert get_proposal(store, pending.id).status == "succeeded"
    actions = [entry.action for entry in list_audit(store, proposal_id=pending.id)]
    assert "execute.before" in actions and "execute.after" in actions and "execute.duplicate" in actions
    store.dispose()


def test_a_policy_tightened_after_approval_refuses_a_fix_with_too_few_approvals(
    cluster: SimCluster, tmp_path: Any
) -> None:
    """Approved once under the old policy; the rule now wants two distinct approvers."""
    import pathlib

    from aoi.policies import schema

    text = (pathlib.Path(schema.__file__).parent / "default.yaml").read_text()
    block = text[text.index("  - id: k8s-patch-service-target-port") :]
    block = block[: block.index("\n  - id:", 10)]
    tightened = block.replace("risk: low", "risk: high").replace("risk: medium", "risk: high")
    tightened += "\n    approvals_required: 2"
    (tmp_path / "tight.yaml").write_text(text.replace(block, tightened))
    executor, writer, _ = make(cluster)
    executor.policy = load_policy(tmp_path / "tight.yaml")
    once = executor.execute("prop_t1", FIX, APPROVER, approvals=[APPROVER.user_id])
    assert (
        once.status == "refused"
        and "now needs 2 distinct approvals from its approvers and this fix has 1" in once.detail
    )
    assert writer.writes == []
    twice = executor.execute("prop_t2", FIX, APPROVER, approvals=["U0AOISRE02", APPROVER.user_id])
    assert twice.status == "succeeded"
    # a vote from someone who is not (or no longer) an approver of the rule does not count
    stranger = executor.execute("prop_t3", FIX, APPROVER, approvals=[Actor("U0NOBODY99"), APPROVER])
    assert stranger.status == "refused" and "has 1" in stranger.detail
    # one who qualified through a user group counts with the groups recorded with the vote
    via_group = executor.execute(
        "prop_t4", FIX, APPROVER, approvals=[Actor("U0GROUPIE1", groups=("sre-oncall",)), APPROVER]
    )
    assert via_group.status == "succeeded"


def test_a_rule_edited_after_approval_does_not_run_a_command_nobody_approved(
    cluster: SimCluster, tmp_path: Any
) -> None:
    """Same rule id, the patch path changed from targetPort to port: what the approvers saw is not
    what would run, so nothing runs."""
    import pathlib

    from aoi.policies import render_action, schema

    approved = render_action(load_policy(None), FIX).command
    text = (pathlib.Path(schema.__file__).parent / "default.yaml").read_text()
    edited = text.replace("'/spec/ports/{port_index}/targetPort'", "'/spec/ports/{port_index}/port'")
    assert edited != text
    (tmp_path / "edited.yaml").write_text(edited)
    executor, writer, _ = make(cluster)
    executor.policy = load_policy(tmp_path / "edited.yaml")
    result = executor.execute("prop_e1", FIX, APPROVER, approved_command=approved)
    assert result.status == "refused" and "not the" in result.detail and "targetPort" in result.detail
    assert writer.writes == []
    unchanged, writer2, _ = make(cluster)
    assert unchanged.execute("prop_e2", FIX, APPROVER, approved_command=approved).status == "succeeded"
    assert writer2.writes


def test_a_policy_with_requesters_runs_a_requesters_fix_and_refuses_others(
    cluster: SimCluster, tmp_path: Any
) -> None:
    """Rendering once evaluated with no requester, so a policy that set requesters refused every fix."""
    import pathlib

    from aoi.policies import schema

    text = (pathlib.Path(schema.__file__).parent / "default.yaml").read_text()
    (tmp_path / "req.yaml").write_text(
        text.replace("two_person_rule: true", "two_person_rule: true\nrequesters: {users: [U0AOISRE01]}")
    )
    executor, writer, _ = make(cluster)
    executor.policy = load_policy(tmp_path / "req.yaml")
    other = executor.execute("prop_q1", FIX, Actor(user_id="U0AOISRE02"))
    assert other.status == "refused" and "may not request" in other.detail and writer.writes == []
    assert executor.execute("prop_q2", FIX, APPROVER).status == "succeeded"


def test_a_scale_whose_stated_current_replicas_are_not_the_live_ones_is_refused(cluster: SimCluster) -> None:
    """The 4× bound is checked against the planner's number; a made-up 1,000 would allow 1 → 20."""
    executor, _, audit = make(cluster)
    scale = ActionRequest(
        verb="scale", target="user-service", namespace=NS, params={"replicas": 20, "current_replicas": 1000}
    )
    result = executor.execute("prop_s1", scale, APPROVER)
    assert result.status == "refused" and "replica count is 1 now" in result.detail
    live = SimReadBackend(cluster).get_object("Deployment", NS, "user-service")
    assert live["spec"]["replicas"] == 1 and [e.action for e in audit.events] == ["execute.refused"]
    honest = scale.model_copy(update={"params": {"replicas": 2, "current_replicas": 1}})
    assert executor.execute("prop_s2", honest, APPROVER).status in ("succeeded", "failed")  # it ran
    assert SimReadBackend(cluster).get_object("Deployment", NS, "user-service")["spec"]["replicas"] == 2


def test_an_unreadable_node_list_is_not_a_recovered_node(cluster: SimCluster) -> None:
    from aoi.agents.backends.base import BackendError

    class NoNodes(SimReadBackend):
        def list_objects(self, kind: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            if kind == "Node":
                raise BackendError("nodes is forbidden")
            return super().list_objects(kind, *args, **kwargs)

    node = SimReadBackend(cluster).list_objects("Node")[0]["metadata"]["name"]
    executor = Executor(
        SimWriteBackend(cluster), NoNodes(cluster), load_policy(None), InMemoryAuditSink(),
        verify_timeout_s=20, verify_interval_s=10, sleep=cluster.advance,
    )  # fmt: skip
    result = executor.execute("prop_n1", ActionRequest(verb="uncordon", target=node, namespace=""), APPROVER)
    assert result.status == "failed" and "could not list nodes: nodes is forbidden" in result.verification


def test_a_fix_the_checks_cannot_tell_from_no_fix_is_not_reported_verified(cluster: SimCluster) -> None:
    """Restarting a healthy Deployment leaves the target-port fault in place; the health checks passed
    before it too, so "recovered" would be a false verified fix (and false training signal)."""
    executor, _, _ = make(cluster)
    restart = ActionRequest(verb="rollout_restart", target="compose-post-service", namespace=NS)
    result = executor.execute("prop_r1", restart, APPROVER)
    assert result.status == "succeeded" and not result.confirmed
    assert "unconfirmed: the same checks passed before the fix" in result.verification
    assert not grade(load_suite("aiopslab")[PROBLEM], cluster, {"detected": True}).success


def test_a_refusal_is_final_a_later_click_does_not_run_the_fix(cluster: SimCluster, tmp_path: Any) -> None:
    """Refused on a stale replica count; the count later matches, but the approved proposal stays
    refused: a fix is proposed afresh, never run on an old approval once the state happens to allow it."""
    from aoi.agents.audit import StoreLedger
    from aoi.store.db import Store
    from aoi.store.repo_investigations import create_investigation
    from aoi.store.repo_proposals import NewProposal, add_proposal, approve_proposal, get_proposal

    store = Store.open(f"sqlite:///{tmp_path / 'aoi.db'}", migrate=True)
    scale = ActionRequest(
        verb="scale", target="user-service", namespace=NS, params={"replicas": 4, "current_replicas": 2}
    )
    investigation = create_investigation(store, planner="heuristic", incident_text="test")
    proposal = add_proposal(
        store, investigation.id, NewProposal(action=scale.model_dump(), rule_id="k8s-scale")
    )
    approve_proposal(store, proposal.id, APPROVER.user_id)
    executor, writer, _ = make(cluster, ledger=StoreLedger(store))
    assert executor.execute(proposal.id, scale, APPROVER).status == "refused"  # live count is 1, not 2
    assert get_proposal(store, proposal.id).status == "failed"
    SimWriteBackend(cluster).scale(NS, "user-service", 2)  # now the stated count is true
    again = executor.execute(proposal.id, scale, APPROVER)
    assert again.status == "refused" and again.duplicate and writer.writes == []
    store.dispose()
