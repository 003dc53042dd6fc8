"""The official Python client works against the simulated Kubernetes API: reads, writes, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.sim_api.conftest import HOTEL, Served


def _names(items: list[Any]) -> list[str]:
    return sorted(i.metadata.name for i in items)


def _name(item: Any) -> str:
    """A listed object's name (the client types every field Optional; a listed object has one)."""
    name = item.metadata.name
    assert isinstance(name, str)
    return name


def _status(exc: ApiException) -> dict[str, Any]:
    body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body or ""
    return dict(json.loads(body))


def test_core_and_apps_objects_list_and_read_as_typed_models(hotel: Served) -> None:
    core, apps = k8s.CoreV1Api(hotel.reader), k8s.AppsV1Api(hotel.reader)
    cluster = hotel.cluster
    assert _names(core.list_namespaced_pod(HOTEL).items) == sorted(
        p["metadata"]["name"] for p in cluster.list_objects("Pod", HOTEL)
    )
    assert len(core.list_pod_for_all_namespaces().items) == len(cluster.list_objects("Pod"))
    assert "geo" in _names(apps.list_namespaced_deployment(HOTEL).items)
    geo = apps.read_namespaced_deployment("geo", HOTEL)
    assert geo.spec.selector.match_labels == {"io.kompose.service": "geo"}
    assert core.read_namespaced_service("geo", HOTEL).spec.ports[0].port > 0
    assert core.list_namespaced_config_map(HOTEL).items
    assert core.list_namespaced_persistent_volume_claim(HOTEL).items
    assert core.list_persistent_volume().items
    assert core.read_namespaced_endpoints("geo", HOTEL).subsets
    assert apps.list_namespaced_replica_set(HOTEL).items
    assert core.read_namespace(HOTEL).metadata.name == HOTEL


def test_nodes_list_and_read_as_typed_models(hotel: Served) -> None:
    core = k8s.CoreV1Api(hotel.reader)
    nodes = core.list_node().items
    assert len(nodes) >= 3
    node = core.read_node(_name(nodes[0]))
    assert node.status.conditions
    info = node.status.node_info
    assert info.boot_id and info.machine_id and info.system_uuid
    assert len({n.status.node_info.machine_id for n in nodes}) == len(nodes)  # one per machine


def test_nodes_list_as_raw_json_through_the_client(hotel: Served) -> None:
    core = k8s.CoreV1Api(hotel.reader)
    raw: Any = core.list_node(_preload_content=False)  # an urllib3 response, not a V1NodeList
    nodes = json.loads(raw.data)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(
        n["metadata"]["name"] for n in hotel.cluster.list_objects("Node")
    )


def test_label_and_field_selectors_filter_on_the_server(hotel: Served) -> None:
    core = k8s.CoreV1Api(hotel.reader)
    geo_pods = core.list_namespaced_pod(HOTEL, label_selector="io.kompose.service=geo").items
    assert geo_pods and all(p.metadata.labels["io.kompose.service"] == "geo" for p in geo_pods)
    others = core.list_namespaced_pod(HOTEL, label_selector="io.kompose.service!=geo").items
    assert len(geo_pods) + len(others) == len(core.list_namespaced_pod(HOTEL).items)
    pod = geo_pods[0].metadata.name
    events = core.list_namespaced_event(HOTEL, field_selector=f"involvedObject.name={pod}").items
    assert events and {e.involved_object.name for e in events} == {pod}
    by_name = core.list_namespaced_service(HOTEL, field_selector="metadata.name=geo").items
    assert _names(by_name) == ["geo"]
    with pytest.raises(ApiException) as info:
        core.list_namespaced_pod(HOTEL, label_selector="a in (b")
    assert info.value.status == 400 and "label selector" in _status(info.value)["message"]


def test_missing_objects_and_unknown_paths_are_404_status_objects(hotel: Served) -> None:
    core = k8s.CoreV1Api(hotel.reader)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("no-such-pod", HOTEL)
    status = _status(info.value)
    assert (info.value.status, status["kind"], status["reason"]) == (404, "Status", "NotFound")
    assert status["message"] == 'pods "no-such-pod" not found'
    with pytest.raises(ApiException) as info:
        k8s.AppsV1Api(hotel.reader).read_namespaced_deployment("nope", HOTEL)
    assert _status(info.value)["message"] == 'deployments.apps "nope" not found'


def test_scale_subresource_reads_and_patches_replicas(fresh_hotel: Served) -> None:
    apps = k8s.AppsV1Api(fresh_hotel.writer)
    scale = apps.read_namespaced_deployment_scale("geo", HOTEL)
    assert (scale.spec.replicas, scale.status.selector) == (1, "io.kompose.service=geo")
    apps.patch_namespaced_deployment_scale("geo", HOTEL, {"spec": {"replicas": 3}})
    assert fresh_hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["replicas"] == 3
    pods = fresh_hotel.cluster.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")
    assert len(pods) == 3
    body = k8s.V1Scale(
        metadata=k8s.V1ObjectMeta(name="geo", namespace=HOTEL), spec=k8s.V1ScaleSpec(replicas=0)
    )
    assert apps.replace_namespaced_deployment_scale("geo", HOTEL, body).spec.replicas == 0
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale("geo", HOTEL, {"spec": {"replicas": -2}})
    assert info.value.status == 422 and "greater than or equal to 0" in _status(info.value)["message"]


def test_patches_of_each_content_type_change_the_cluster(fresh_hotel: Served) -> None:
    core, apps = k8s.CoreV1Api(fresh_hotel.writer), k8s.AppsV1Api(fresh_hotel.writer)
    cluster = fresh_hotel.cluster
    # strategic merge (the client's default for a dict): ports merge by their `port` key
    port = cluster.get_object("Service", HOTEL, "geo")["spec"]["ports"][0]["port"]
    core.patch_namespaced_service("geo", HOTEL, {"spec": {"ports": [{"port": port, "targetPort": 9999}]}})
    assert cluster.get_object("Service", HOTEL, "geo")["spec"]["ports"][0]["targetPort"] == 9999
    # JSON patch (a list body)
    core.patch_namespaced_service(
        "geo", HOTEL, [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": port}]
    )
    assert cluster.get_object("Service", HOTEL, "geo")["spec"]["ports"][0]["targetPort"] == port
    # JSON merge patch, chosen explicitly
    apps.patch_namespaced_deployment(
        "geo", HOTEL, {"metadata": {"labels": {"team": "sre"}}}, _content_type="application/merge-patch+json"
    )
    assert cluster.get_object("Deployment", HOTEL, "geo")["metadata"]["labels"]["team"] == "sre"
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service(
            "geo", HOTEL, [{"op": "test", "path": "/spec/type", "value": "NodePort"}]
        )
    assert info.value.status == 400 and "test failed at '/spec/type'" in _status(info.value)["message"]


def test_deleting_a_pod_lets_its_replicaset_recreate_it(fresh_hotel: Served) -> None:
    core = k8s.CoreV1Api(fresh_hotel.writer)
    before = core.list_namespaced_pod(HOTEL, label_selector="io.kompose.service=geo").items
    deleted = core.delete_namespaced_pod(_name(before[0]), HOTEL)
    assert deleted.metadata.name == before[0].metadata.name
    after = core.list_namespaced_pod(HOTEL, label_selector="io.kompose.service=geo").items
    assert len(after) == len(before) and _name(before[0]) not in _names(after)


def test_dry_run_validates_without_changing_state(fresh_hotel: Served) -> None:
    apps, core = k8s.AppsV1Api(fresh_hotel.writer), k8s.CoreV1Api(fresh_hotel.writer)
    version = fresh_hotel.cluster.version
    result = apps.patch_namespaced_deployment_scale("geo", HOTEL, {"spec": {"replicas": 4}}, dry_run="All")
    assert result.spec.replicas == 4
    pod = _name(core.list_namespaced_pod(HOTEL).items[0])
    core.delete_namespaced_pod(pod, HOTEL, dry_run="All")
    assert fresh_hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["replicas"] == 1
    assert pod in _names(core.list_namespaced_pod(HOTEL).items)
    assert fresh_hotel.cluster.version == version


def test_reader_credentials_cannot_write_or_read_secrets(hotel: Served) -> None:
    apps, core = k8s.AppsV1Api(hotel.reader), k8s.CoreV1Api(hotel.reader)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale("geo", HOTEL, {"spec": {"replicas": 0}})
    assert info.value.status == 403
    assert _status(info.value)["message"] == (
        'deployments.apps "geo" is forbidden: User "aoi-sim-reader" cannot patch resource '
        '"deployments/scale" in API group "apps" in the namespace "test-hotel-reservation"'
    )
    with pytest.raises(ApiException) as info:
        core.delete_namespaced_pod(_name(core.list_namespaced_pod(HOTEL).items[0]), HOTEL)
    assert info.value.status == 403
    with pytest.raises(ApiException) as info:
        core.list_namespaced_secret(HOTEL)
    assert info.value.status == 403
    assert hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["replicas"] == 1
    assert k8s.CoreV1Api(hotel.writer).list_namespaced_secret(HOTEL).items


def test_unsupported_requests_get_clear_status_errors(hotel: Served) -> None:
    api = hotel.writer
    core = k8s.CoreV1Api(api)
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service(
            "geo", HOTEL, {"spec": {}}, _content_type="application/apply-patch+yaml"
        )
    assert info.value.status == 415 and "server-side apply is not supported" in _status(info.value)["message"]
    with pytest.raises(ApiException) as info:
        core.list_namespaced_pod(HOTEL, watch=True, _preload_content=False)
    assert info.value.status == 405 and "watch is not supported" in _status(info.value)["message"]
    with pytest.raises(ApiException) as info:
        core.delete_namespaced_event("x", HOTEL)
    assert info.value.status == 405


def test_endpoint_slices_and_node_leases_are_views_of_endpoints_and_nodes(hotel: Served) -> None:
    discovery = k8s.DiscoveryV1Api(hotel.reader)
    slices = discovery.list_namespaced_endpoint_slice(
        HOTEL, label_selector="kubernetes.io/service-name=geo"
    ).items
    subsets = hotel.cluster.get_object("Endpoints", HOTEL, "geo")["subsets"]
    assert [e.addresses[0] for s in slices for e in s.endpoints] == [
        a["ip"] for s in subsets for a in s["addresses"]
    ]
    assert slices[0].ports[0].port == subsets[0]["ports"][0]["port"]
    lease = k8s.CoordinationV1Api(hotel.reader).read_namespaced_lease("kind-worker", "kube-node-lease")
    assert lease.spec.holder_identity == "kind-worker" and lease.spec.renew_time is not None


def test_lists_come_in_pages_with_continue_tokens_like_the_api_servers(hotel: Served) -> None:
    core = k8s.CoreV1Api(hotel.reader)
    everything = _names(core.list_namespaced_pod(HOTEL).items)
    first = core.list_namespaced_pod(HOTEL, limit=2)
    assert len(first.items) == 2
    assert first.metadata.remaining_item_count == len(everything) - 2
    names, token = [_name(p) for p in first.items], first.metadata._continue
    while token:
        page = core.list_namespaced_pod(HOTEL, limit=2, _continue=token)
        names.extend(_name(p) for p in page.items)
        token = page.metadata._continue
    assert sorted(names) == everything, "every pod exactly once across the pages"
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(HOTEL, limit=2, _continue="not-a-token")
    assert bad.value.status == 400 and "continue key is not valid" in _status(bad.value)["message"]
