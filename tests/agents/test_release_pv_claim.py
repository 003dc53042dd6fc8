"""release_pv_claim: the heuristic proposes it for a redeploy that strands volumes, the executor runs it
only on Released volumes reserved for an allowed namespace, and the simulated claims bind afterwards."""

from __future__ import annotations

import pytest

from aoi.agents.audit import InMemoryAuditSink
from aoi.agents.backends.sim import SimReadBackend, SimWriteBackend
from aoi.agents.evaluation.runner import execute_proposals, policy_annotator
from aoi.agents.executor import Executor
from aoi.agents.observer import Observer
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.records import ActionRequest
from aoi.agents.tools import read_tools
from aoi.policies.evaluate import Actor
from aoi.policies.schema import load_policy
from aoi.sim import SimCluster, grade, load_suite

PROBLEM = "redeploy_without_PV-mitigation-1"
NS = "test-hotel-reservation"
APPROVER = Actor(user_id="U0AOISRE01")


@pytest.fixture
def cluster() -> SimCluster:
    return SimCluster.from_problem(load_suite("aiopslab")[PROBLEM])


def executor(cluster: SimCluster) -> Executor:
    return Executor(
        SimWriteBackend(cluster),
        SimReadBackend(cluster),
        load_policy(None),
        InMemoryAuditSink(),
        verify_timeout_s=120,
        verify_interval_s=10,
        sleep=cluster.advance,
    )


def release(pv: str, namespace: str = NS) -> ActionRequest:
    return ActionRequest(
        verb="release_pv_claim", target=pv, namespace="", params={"claim_namespace": namespace}
    )


def test_clearing_the_claim_ref_lets_the_recreated_claim_bind(cluster: SimCluster) -> None:
    result = executor(cluster).execute("p1", release("geo-pv"), APPROVER)
    assert result.status == "succeeded", result.detail
    assert result.command == 'kubectl patch pv geo-pv --type=merge -p \'{"spec":{"claimRef":null}}\''
    claim = cluster.get_object("PersistentVolumeClaim", NS, "geo-pvc")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"] == "geo-pv"


def test_a_bound_volume_is_refused_and_left_alone(cluster: SimCluster) -> None:
    ex = executor(cluster)
    assert ex.execute("p1", release("geo-pv"), APPROVER).status == "succeeded"
    again = ex.execute("p2", release("geo-pv"), APPROVER)
    assert again.status == "refused" and "Bound, not Released" in again.detail
    assert cluster.get_object("PersistentVolume", None, "geo-pv")["spec"]["claimRef"]["name"] == "geo-pvc"


def test_a_volume_reserved_for_another_namespace_is_refused(cluster: SimCluster) -> None:
    result = executor(cluster).execute("p1", release("geo-pv", "test-social-network"), APPROVER)
    assert result.status == "refused"
    assert "reserved for a claim in namespace 'test-hotel-reservation'" in result.detail
    assert cluster.get_object("PersistentVolume", None, "geo-pv")["status"]["phase"] == "Released"


def test_a_claim_namespace_outside_the_policy_is_refused(cluster: SimCluster) -> None:
    result = executor(cluster).execute("p1", release("geo-pv", "kube-system"), APPROVER)
    assert result.status == "refused" and "must be one of" in result.detail


def test_heuristic_proposes_one_release_per_stranded_volume_and_mitigates(cluster: SimCluster) -> None:
    policy = load_policy(None)
    observer = Observer(
        read_tools(SimReadBackend(cluster)), HeuristicPlanner(), annotate=policy_annotator(policy)
    )
    trajectory = observer.run(f"hotel-reservation in namespace {NS} is failing", "mitigation", PROBLEM)
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None
    proposed = [(r.verb, r.target, r.params) for r in diagnosis.remediations]
    volumes = ["geo", "profile", "rate", "recommendation", "reservation", "user"]
    assert proposed == [("release_pv_claim", f"{v}-pv", {"claim_namespace": NS}) for v in volumes]
    assert any(s.step.tool == "get_pvs" for s in trajectory.steps)
    results = execute_proposals(cluster, diagnosis, policy)
    assert [r.status for r in results] == ["succeeded"] * 6
    assert grade(load_suite("aiopslab")[PROBLEM], cluster, diagnosis.to_json_dict()).success
