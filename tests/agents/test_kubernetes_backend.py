"""The Kubernetes backend (official client + Prometheus + Jaeger HTTP) against ``aoi sim serve``'s server.

The reader and the writer are built from the two contexts of the served kubeconfig, exactly as a
deployment would build them from two ServiceAccounts; every write is checked on the simulated state.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aoi.agents.backends import kubernetes_api
from aoi.agents.backends.base import (
    BackendError,
    ForbiddenError,
    NotFoundError,
    ReadBackend,
    UnsupportedError,
    WriteBackend,
    WriteOp,
)
from aoi.agents.backends.kubernetes import KubernetesReadBackend, load_api_client, make_backends
from aoi.agents.backends.kubernetes_write import KubernetesWriteBackend, label_selector_string
from aoi.policies import load_policy, render_action
from aoi.sim import SimCluster, grade, load_suite, promql
from aoi.sim.api.server import READ_CONTEXT, WRITE_CONTEXT, SimApiServer

NS = "test-hotel-reservation"
RESTARTED = "kubectl.kubernetes.io/restartedAt"


@dataclass
class Backends:
    cluster: SimCluster
    server: SimApiServer
    kubeconfig: Path
    reader: KubernetesReadBackend
    writer: KubernetesWriteBackend


def _serve(tmp_path: Path) -> Iterator[Backends]:
    cluster = SimCluster(apps=["hotel-reservation"], seed=5)
    cluster.advance(900)  # some telemetry history
    with SimApiServer(cluster) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        reader, writer = make_backends(
            path, READ_CONTEXT, path, WRITE_CONTEXT, server.telemetry_url, server.telemetry_url
        )
        yield Backends(cluster, server, path, reader, writer)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    yield from _serve(tmp_path_factory.mktemp("k8s-backend"))


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Backends]:
    yield from _serve(tmp_path)


def _geo_pods(b: Backends) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in b.cluster.list_objects("Pod", NS, label_selector="io.kompose.service=geo")
    )


def test_backends_implement_the_protocols_with_separate_clients(shared: Backends) -> None:
    assert isinstance(shared.reader, ReadBackend) and isinstance(shared.writer, WriteBackend)
    assert not hasattr(shared.reader, "scale") and not hasattr(shared.reader, "patch")
    read_client = shared.reader._objects.core.api_client
    write_client = shared.writer._objects.core.api_client
    assert read_client is not write_client
    assert read_client.configuration.api_key != write_client.configuration.api_key


def test_make_backends_refuses_one_identity_for_reading_and_writing(shared: Backends) -> None:
    with pytest.raises(BackendError, match="must use different credentials"):
        make_backends(shared.kubeconfig, READ_CONTEXT, shared.kubeconfig, READ_CONTEXT)
    with pytest.raises(BackendError, match="cannot load Kubernetes credentials"):
        load_api_client(shared.kubeconfig, "no-such-context")


def test_reader_returns_api_json_with_kind_and_selectors(shared: Backends) -> None:
    pods = shared.reader.list_objects("Pod", NS, label_selector="io.kompose.service=geo")
    assert sorted(p["metadata"]["name"] for p in pods) == _geo_pods(shared)
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in pods)
    deployments = shared.reader.list_objects("Deployment", NS)
    assert {d["apiVersion"] for d in deployments} == {"apps/v1"}
    assert len(shared.reader.list_objects("Pod")) == len(shared.cluster.list_objects("Pod"))
    assert len(shared.reader.list_objects("Node")) == len(shared.cluster.list_objects("Node"))
    assert shared.reader.get_object("Service", NS, "geo") == shared.cluster.get_object("Service", NS, "geo")
    events = shared.reader.list_objects(
        "Event", NS, field_selector=f"involvedObject.name={_geo_pods(shared)[0]}"
    )
    assert events


def test_reader_lists_in_pages_and_refuses_a_list_too_long_to_use(
    shared: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of ``PAGE_SIZE`` (kubectl's chunking) add up to the whole list; past ``MAX_LIST_ITEMS``
    the read fails with advice to narrow it rather than flooding the prompt or cutting silently."""
    monkeypatch.setattr(kubernetes_api, "PAGE_SIZE", 3)
    pods = shared.reader.list_objects("Pod")
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(
        p["metadata"]["name"] for p in shared.cluster.list_objects("Pod")
    )
    assert len(pods) > 3
    monkeypatch.setattr(kubernetes_api, "MAX_LIST_ITEMS", 4)
    with pytest.raises(BackendError, match="more than 4 Pod objects across all namespaces: narrow"):
        shared.reader.list_objects("Pod")


def test_reader_errors_carry_the_api_servers_message(shared: Backends) -> None:
    with pytest.raises(NotFoundError, match='pods "ghost" not found'):
        shared.reader.get_object("Pod", NS, "ghost")
    with pytest.raises(ForbiddenError, match='cannot list resource "secrets"'):
        shared.reader.list_objects("Secret", NS)
    with pytest.raises(BackendError, match="not supported by the Kubernetes backend"):
        shared.reader.list_objects("CronJob", NS)


def test_reader_metrics_and_traces_come_from_prometheus_and_jaeger(shared: Backends) -> None:
    cluster, reader = shared.cluster, shared.reader
    now = cluster.now()
    assert reader.now() == now  # the metrics server's (simulated) clock, not this machine's
    assert reader.metric_names() == sorted(cluster.metric_names())
    expr = "sum by (service) (rate(http_server_requests_total[5m]))"
    assert reader.prom_query(expr) == promql.query(cluster, expr)
    assert reader.prom_query_range(expr, now - 300, now, 60) == promql.query_range(
        cluster, expr, now - 300, now, 60
    )
    with pytest.raises(BackendError, match="Prometheus 400 bad_data: parse error"):
        reader.prom_query("sum(")
    assert reader.trace_services() == sorted(cluster.trace_services())
    frontend = reader.find_traces(service="frontend", limit=3)
    assert 0 < len(frontend) <= 3
    assert all("frontend" in {p["serviceName"] for p in t["processes"].values()} for t in frontend)
    merged = reader.find_traces(limit=4)  # no service: every service searched, newest first
    starts = [min(s["startTime"] for s in t["spans"]) for t in merged]
    assert len(merged) == 4 and starts == sorted(starts, reverse=True)
    unconfigured = KubernetesReadBackend(load_api_client(shared.kubeconfig, READ_CONTEXT))
    with pytest.raises(UnsupportedError, match="AOI_PROMETHEUS_URL"):
        unconfigured.prom_query("up")
    with pytest.raises(UnsupportedError, match="AOI_JAEGER_URL"):
        unconfigured.trace_services()


def test_reader_reads_pod_logs(shared: Backends) -> None:
    pod = _geo_pods(shared)[0]
    assert shared.reader.pod_logs(NS, pod, tail_lines=5) == shared.cluster.pod_logs(NS, pod, tail_lines=5)
    with pytest.raises(NotFoundError):
        shared.reader.pod_logs(NS, "ghost")


def test_a_writer_built_on_the_read_credentials_is_refused_by_the_server(shared: Backends) -> None:
    impostor = KubernetesWriteBackend(load_api_client(shared.kubeconfig, READ_CONTEXT))
    with pytest.raises(ForbiddenError, match='User "aoi-sim-reader" cannot patch'):
        impostor.scale(NS, "geo", 0)
    assert shared.cluster.get_object("Deployment", NS, "geo")["spec"]["replicas"] == 1


def test_writer_scale_patch_delete_and_uncordon_change_the_cluster(own: Backends) -> None:
    assert own.writer.scale(NS, "geo", 2)["spec"]["replicas"] == 2
    assert len(_geo_pods(own)) == 2
    port = own.cluster.get_object("Service", NS, "geo")["spec"]["ports"][0]["port"]
    own.writer.patch(
        "Service", NS, "geo", [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 7777}], "json"
    )
    assert own.cluster.get_object("Service", NS, "geo")["spec"]["ports"][0]["targetPort"] == 7777
    own.writer.patch(
        "Service", NS, "geo", {"spec": {"ports": [{"port": port, "targetPort": port}]}}, "strategic"
    )
    assert own.cluster.get_object("Service", NS, "geo")["spec"]["ports"][0]["targetPort"] == port
    victim = _geo_pods(own)[0]
    assert own.writer.delete_pod(NS, victim)["metadata"]["name"] == victim
    assert victim not in _geo_pods(own) and len(_geo_pods(own)) == 2
    node = own.cluster.list_objects("Node")[1]["metadata"]["name"]
    own.cluster.cordon(node)
    own.writer.uncordon(node)
    assert not own.cluster.get_object("Node", None, node)["spec"].get("unschedulable")


def test_restart_set_image_and_undo_follow_kubectl(own: Backends) -> None:
    def template() -> dict:
        return dict(own.cluster.get_object("Deployment", NS, "geo")["spec"]["template"])

    before = _geo_pods(own)
    own.writer.rollout_restart(NS, "geo")
    assert "kubectl.kubernetes.io/restartedAt" in template()["metadata"]["annotations"]
    assert not set(before) & set(_geo_pods(own))
    original = template()["spec"]["containers"][0]
    with pytest.raises(BackendError, match='unable to find container named "nope"'):
        own.writer.set_image(NS, "geo", "nope", "img:2")
    own.writer.set_image(NS, "geo", original["name"], "registry.local/geo:2")
    assert template()["spec"]["containers"][0]["image"] == "registry.local/geo:2"
    own.writer.rollout_undo(NS, "geo")  # back to the previous revision: the restarted template
    assert template()["spec"]["containers"][0]["image"] == original["image"]
    assert "kubectl.kubernetes.io/restartedAt" in template()["metadata"]["annotations"]
    own.writer.rollout_undo(NS, "geo", to_revision=1)
    assert (
        "annotations" not in template().get("metadata", {})
        or RESTARTED not in template()["metadata"]["annotations"]
    )
    with pytest.raises(BackendError, match="unable to find specified revision 42"):
        own.writer.rollout_undo(NS, "geo", to_revision=42)


def test_dry_runs_use_the_servers_dry_run_and_change_nothing(own: Backends) -> None:
    version = own.cluster.version
    message = own.writer.dry_run(WriteOp("scale", {"namespace": NS, "deployment": "geo", "replicas": 3}))
    assert message.startswith("dry run ok: scale(") and "Scale" in message
    own.writer.dry_run(WriteOp("delete_pod", {"namespace": NS, "name": _geo_pods(own)[0]}))
    with pytest.raises(NotFoundError):
        own.writer.dry_run(WriteOp("rollout_restart", {"namespace": NS, "deployment": "ghost"}))
    assert own.cluster.version == version
    assert own.cluster.get_object("Deployment", NS, "geo")["spec"]["replicas"] == 1


def test_exec_db_runs_the_mongo_shell_in_the_database_pod(own: Backends) -> None:
    pods = own.cluster.list_objects("Pod", NS, label_selector="io.kompose.service=mongodb-geo")
    pod = pods[0]["metadata"]["name"]
    assert own.writer.exec_db(NS, pod, "db.version()").strip().endswith("4.4.6")
    with pytest.raises(BackendError, match=r"exited with 1: .*not authorized"):
        own.writer.exec_db(NS, pod, "db.getUsers()")
    with pytest.raises(BackendError, match="exited with 127"):
        own.writer.exec_db(NS, _geo_pods(own)[0], "db.version()")
    assert "is Running" in own.writer.dry_run(
        WriteOp("exec_db", {"namespace": NS, "pod": pod, "command": "x"})
    )


def test_an_exec_and_restart_through_the_http_api_mitigate_a_revoked_mongodb_role(tmp_path: Path) -> None:
    problem = load_suite("aiopslab")["revoke_auth_mongodb-mitigation-1"]
    cluster = SimCluster.from_problem(problem)
    with SimApiServer(cluster) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        reader, writer = make_backends(path, READ_CONTEXT, path, WRITE_CONTEXT)
        assert not grade(problem, cluster, {}).success
        db_pod = reader.list_objects("Pod", NS, label_selector="io.kompose.service=mongodb-geo")[0]
        env = {e["name"]: e for e in db_pod["spec"]["containers"][0]["env"]}
        secret = KubernetesReadBackend(load_api_client(path, WRITE_CONTEXT)).get_object(
            "Secret", NS, env["MONGO_INITDB_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
        )
        password = base64.b64decode(secret["data"]["password"]).decode()
        database = env["MONGO_DATABASE"]["value"]
        script = f"use {database}; db.grantRolesToUser('admin', [{{role: 'readWrite', db: '{database}'}}])"
        writer.exec_db(
            NS,
            db_pod["metadata"]["name"],
            f'mongo admin -u admin -p {password} --authenticationDatabase admin --eval "{script}"',
        )
        writer.rollout_restart(NS, "geo")  # the crash-looping client reconnects with its role back
        result = grade(problem, cluster, {})
        assert result.success, result.details


def test_label_selector_strings_match_kubectl() -> None:
    selector = {
        "matchLabels": {"app": "geo"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
    }
    assert label_selector_string(selector) == "app=geo,tier in (a,b)"
    assert label_selector_string(None) == ""


def test_the_policys_sh_c_mongo_repair_runs_through_the_kubernetes_writer(tmp_path: Path) -> None:
    """The default policy renders MongoDB repairs as ``sh -c '...'`` so the pod's shell supplies the
    root password; the Kubernetes writer must run that line as an argv, not as a JavaScript script."""
    problem = load_suite("aiopslab")["revoke_auth_mongodb-mitigation-1"]
    cluster = SimCluster.from_problem(problem)
    with SimApiServer(cluster) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        reader, writer = make_backends(path, READ_CONTEXT, path, WRITE_CONTEXT)
        db_pod = reader.list_objects("Pod", NS, label_selector="io.kompose.service=mongodb-geo")[0]
        env = {e["name"]: e for e in db_pod["spec"]["containers"][0]["env"]}
        request = {
            "verb": "mongo_grant_roles",
            "target": db_pod["metadata"]["name"],
            "namespace": NS,
            "params": {"database": env["MONGO_DATABASE"]["value"], "user": "admin", "roles": ["readWrite"]},
        }
        action = render_action(load_policy(None), request)
        assert action.script is not None and action.script.startswith("sh -c")
        writer.exec_db(NS, action.target, action.script)
        writer.rollout_restart(NS, "geo")
        result = grade(problem, cluster, {})
        assert result.success, result.details


def test_an_api_server_that_never_answers_fails_the_read_instead_of_hanging() -> None:
    """A listener that accepts and never replies once held ``get_pods`` for good: the Observer's
    deadline is only checked between steps."""
    import socket
    import threading
    import time

    from kubernetes import client as k8s

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[object] = []

    def accept_and_never_answer() -> None:
        for _ in range(8):
            held.append(silent.accept())

    threading.Thread(target=accept_and_never_answer, daemon=True).start()
    configuration = k8s.Configuration()
    configuration.host = f"http://127.0.0.1:{silent.getsockname()[1]}"
    configuration.retries = 0
    reader = KubernetesReadBackend(k8s.ApiClient(configuration))
    reader._objects.timeout = (0.5, 0.5)
    started = time.monotonic()
    with pytest.raises(BackendError, match="unreachable or invalid response"):
        reader.list_objects("Pod", NS)
    assert time.monotonic() - started < 10
    silent.close()
