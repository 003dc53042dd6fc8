"""The default policy's MongoDB repairs work end to end on the simulator.

A request shaped like the heuristic planner's proposals (database and password variable read from
the database pod's env, the user from the logs) is rendered by the policy and run exactly as the
executor runs it — ``exec_db(namespace, pod, action.script)`` on the sim write backend — and the
mitigation grader passes. Nothing here knows the admin password: the pod's shell supplies it.
"""

from __future__ import annotations

from typing import Any

import pytest

from aoi.agents.backends.sim import SimWriteBackend
from aoi.policies import Policy, render_action
from aoi.sim import SimCluster, grade, load_suite

HOTEL = "test-hotel-reservation"
CASES = {
    "revoke_auth_mongodb-mitigation-1": ("mongo_grant_roles", "mongodb-geo"),
    "revoke_auth_mongodb-mitigation-2": ("mongo_grant_roles", "mongodb-rate"),
    "user_unregistered_mongodb-mitigation-1": ("mongo_create_user", "mongodb-geo"),
    "user_unregistered_mongodb-mitigation-2": ("mongo_create_user", "mongodb-rate"),
}


def proposal(cluster: SimCluster, verb: str, service: str) -> dict[str, Any]:
    """What the heuristic planner proposes, from what it can observe (the pod and its env)."""
    pod = cluster.list_objects("Pod", HOTEL, label_selector=f"io.kompose.service={service}")[0]
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    params: dict[str, Any] = {
        "database": env["MONGO_DATABASE"]["value"],
        "user": "admin",
        "roles": ["readWrite"],
    }
    if verb == "mongo_create_user":
        params["password_env"] = next(name for name in env if "PASSWORD" in name)
    return {"verb": verb, "target": pod["metadata"]["name"], "namespace": HOTEL, "params": params}


@pytest.mark.parametrize("problem_id", sorted(CASES))
def test_rendered_repair_run_by_the_sim_backend_mitigates(policy: Policy, problem_id: str) -> None:
    problem = load_suite("aiopslab")[problem_id]
    cluster = SimCluster.from_problem(problem)
    assert not grade(problem, cluster, {}).success
    action = render_action(policy, proposal(cluster, *CASES[problem_id]))
    assert action.operation == "exec_db" and action.script is not None
    assert '-p "$MONGO_INITDB_ROOT_PASSWORD"' in action.script  # the pod's shell supplies the password
    SimWriteBackend(cluster).exec_db(HOTEL, action.target, action.script)
    for _ in range(60):  # the executor's verification loop: crash-looping clients reconnect
        if grade(problem, cluster, {}).success:
            break
        cluster.advance(10)
    verdict = grade(problem, cluster, {})
    assert verdict.success, verdict.details


def test_the_bare_script_without_the_pods_credentials_is_refused(policy: Policy) -> None:
    cluster = SimCluster.from_problem(load_suite("aiopslab")["revoke_auth_mongodb-mitigation-1"])
    action = render_action(policy, proposal(cluster, "mongo_grant_roles", "mongodb-geo"))
    with pytest.raises(Exception, match="not authorized on geo-db"):
        SimWriteBackend(cluster).exec_db(HOTEL, action.target, action.db_script or "")
