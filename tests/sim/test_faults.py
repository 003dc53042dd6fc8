"""Every fault: its symptoms are observable through reads, the right fix passes the mitigation grader,
a plausible wrong fix does not. Transient faults (pod/container kill) heal by themselves."""

from __future__ import annotations

import pytest

from aoi.sim import FaultError, SimCluster, grade, load_suite
from aoi.sim.faults import INJECTORS, catalogue
from aoi.sim.grader import cluster_health
from tests.sim.fault_cases import CASES, HOTEL, Case

IDS = [c.fault for c in CASES]


def test_every_catalogued_fault_has_a_case_and_an_injector() -> None:
    assert set(IDS) == set(catalogue().faults) == set(INJECTORS)
    assert sum(1 for f in catalogue().faults.values() if f.source == "aoi") >= 8


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fault_symptoms_are_observable_through_reads(case: Case) -> None:
    cluster = SimCluster.from_problem(case.problem())
    assert case.symptom(cluster)


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.self_healing], ids=[c.fault for c in CASES if not c.self_healing]
)
def test_right_fix_passes_the_mitigation_grader(case: Case) -> None:
    problem = case.problem()
    cluster = SimCluster.from_problem(problem)
    assert not grade(problem, cluster, {}).success
    case.fix(cluster)
    cluster.advance(60)
    result = grade(problem, cluster, {})
    assert result.success, result.details


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.self_healing], ids=[c.fault for c in CASES if c.self_healing]
)
def test_self_healing_faults_leave_a_healthy_cluster_with_traces_of_the_outage(case: Case) -> None:
    from aoi.sim.faults import is_fixed

    problem = case.problem()
    cluster = SimCluster.from_problem(problem)
    assert problem.fault is not None and is_fixed(cluster, problem.fault, problem.app)[0]
    assert cluster_health(cluster, HOTEL) == []
    assert case.symptom(cluster)


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.self_healing], ids=[c.fault for c in CASES if not c.self_healing]
)
def test_wrong_fix_leaves_the_fault_in_place(case: Case) -> None:
    problem = case.problem()
    cluster = SimCluster.from_problem(problem)
    case.wrong(cluster)
    cluster.advance(60)
    result = grade(problem, cluster, {})
    assert not result.success
    assert result.details["fault_undone"] is False or result.details["unhealthy"]


@pytest.mark.parametrize("pid", [p for p in load_suite("aiopslab") if p.startswith("noop")])
def test_noop_problems_are_healthy(pid: str) -> None:
    problem = load_suite("aiopslab")[pid]
    cluster = SimCluster.from_problem(problem)
    namespace = {
        "hotel-reservation": "test-hotel-reservation",
        "social-network": "test-social-network",
        "astronomy-shop": "astronomy-shop",
    }[problem.app]
    assert cluster_health(cluster, namespace) == []
    series = cluster.metric_series("http_server_requests_total", cluster.now() - 600, cluster.now(), 60)
    failing = [labels for labels, pts in series if labels["code"] != "200" and pts[-1][1] > pts[0][1]]
    assert failing == []
    assert grade(problem, cluster, {"detected": False}).success
    assert not grade(problem, cluster, {"detected": True}).success


def test_grader_semantics_for_detection_localization_and_analysis() -> None:
    suite = load_suite("aiopslab")
    loc = suite["revoke_auth_mongodb-localization-1"]
    ana = suite["revoke_auth_mongodb-analysis-1"]
    cluster = SimCluster.from_problem(loc)
    assert grade(loc, cluster, {"faulty_components": ["mongodb-geo"]}).success
    assert not grade(loc, cluster, {"faulty_components": ["geo"]}).success
    assert not grade(loc, cluster, {"faulty_components": ["geo", "mongodb-geo"]}).success
    answer = {"root_cause": {"system_level": "application", "fault_type": "authentication issue"}}
    assert grade(ana, cluster, answer).success
    assert not grade(
        ana, cluster, {"root_cause": {"system_level": "Application", "fault_type": "Misconfiguration"}}
    ).success


def test_injecting_at_an_invalid_target_names_the_valid_ones() -> None:
    from aoi.sim.faults import inject
    from aoi.sim.problems import FaultRef

    cluster = SimCluster(apps=["hotel-reservation"])
    with pytest.raises(FaultError, match="valid targets: geo"):
        inject(cluster, FaultRef(type="misconfig_app", target="frontend"), "hotel-reservation")


def test_mongo_shell_needs_an_admin_login_while_users_exist() -> None:
    cluster = SimCluster.from_problem(load_suite("aiopslab")["revoke_auth_mongodb-mitigation-1"])
    pod = cluster.list_objects("Pod", HOTEL, label_selector="io.kompose.service=mongodb-geo")[0]["metadata"][
        "name"
    ]
    with pytest.raises(Exception, match="not authorized on test"):
        cluster.exec_db(HOTEL, pod, "db.grantRolesToUser('admin', [{role: 'readWrite', db: 'geo-db'}])")
    with pytest.raises(Exception, match="Authentication failed"):
        cluster.exec_db(HOTEL, pod, "mongo admin -u admin -p wrong --eval 'db.getUsers()'")
    out = cluster.exec_db(HOTEL, pod, "mongo admin -u admin -p admin --eval 'db.getUser(\"admin\")'")
    assert '"role": "userAdminAnyDatabase"' in out and "geo-db" not in out
