"""The policy's MongoDB repairs through the HTTP API's ``pods/exec``: the official Python client's
websocket exec and the real ``kubectl exec`` run the rendered ``sh -c`` command, the pod's shell
supplies the root credentials from its env, and the mitigation grader passes."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from aoi.policies import load_policy, render_action
from aoi.sim import SimCluster, grade, load_suite
from aoi.sim.problems import Problem
from tests.sim_api.conftest import HOTEL, Served, serve
from tests.sim_api.test_kubectl import kubectl

REPAIRS = {
    "revoke_auth_mongodb-mitigation-2": ("mongo_grant_roles", "mongodb-rate"),
    "user_unregistered_mongodb-mitigation-1": ("mongo_create_user", "mongodb-geo"),
}


@pytest.fixture(params=sorted(REPAIRS))
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Served, Problem, Any]]:
    problem = load_suite("aiopslab")[request.param]
    verb, service = REPAIRS[request.param]
    for served in serve(SimCluster.from_problem(problem), tmp_path):
        with served.server.lock:
            pod = served.cluster.list_objects("Pod", HOTEL, label_selector=f"io.kompose.service={service}")[0]
        params: dict[str, Any] = {"database": service.replace("mongodb-", "") + "-db", "user": "admin"}
        params["roles"] = ["readWrite"]
        if verb == "mongo_create_user":
            params["password_env"] = "MONGO_INITDB_ROOT_PASSWORD"
        request_ = {"verb": verb, "target": pod["metadata"]["name"], "namespace": HOTEL, "params": params}
        yield served, problem, render_action(load_policy(), request_)


def _settles(served: Served, problem: Problem) -> bool:
    for _ in range(60):
        with served.server.lock:
            if grade(problem, served.cluster, {}).success:
                return True
            served.cluster.advance(10)
    return False


def test_python_client_exec_of_the_rendered_repair_mitigates(broken: tuple[Served, Problem, Any]) -> None:
    served, problem, action = broken
    assert not _graded(served, problem)
    client = stream(
        k8s.CoreV1Api(served.writer).connect_get_namespaced_pod_exec,
        action.target,
        HOTEL,
        command=shlex.split(action.script),
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    client.run_forever(timeout=30)
    assert client.returncode == 0, client.read_stderr()
    client.close()
    assert _settles(served, problem)


@pytest.mark.kubectl
@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="no kubectl binary on PATH (install kubectl to run these)"
)
def test_kubectl_exec_of_the_command_shown_to_the_approver_mitigates(
    broken: tuple[Served, Problem, Any],
) -> None:
    served, problem, action = broken
    words = shlex.split(action.command)
    assert words[:3] == ["kubectl", "-n", HOTEL]
    done = kubectl(served, *words[3:], write=True, check=False)
    assert done.returncode == 0, done.stderr
    assert _settles(served, problem)


def test_exec_in_a_missing_pod_is_refused_before_the_upgrade(tmp_path: Path) -> None:
    for served in serve(SimCluster(apps=["hotel-reservation"], seed=3), tmp_path):
        with pytest.raises(ApiException) as info:
            stream(
                k8s.CoreV1Api(served.writer).connect_get_namespaced_pod_exec,
                "mongodb-ghost",
                HOTEL,
                command=["mongo", "--eval", "1"],
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
            )
        refusal = str(info.value.reason)  # the client reports a refused upgrade as its reason
        assert "Handshake status 404" in refusal and 'pods \\"mongodb-ghost\\" not found' in refusal


def _graded(served: Served, problem: Problem) -> bool:
    with served.server.lock:
        return grade(problem, served.cluster, {}).success
