"""The Kubernetes API's building blocks, on hand-built objects: URL parsing, tables, scale, discovery."""

from __future__ import annotations

from typing import Any

import pytest

from aoi.sim.api import resources
from aoi.sim.api.kube import resolve
from aoi.sim.api.scale import desired_replicas, scale_object, selector_string
from aoi.sim.api.status import ApiError
from aoi.sim.api.tables import human_duration, to_table

NOW = 1_700_000_000.0
CREATED = "2023-11-14T22:13:10Z"  # NOW - 10 s


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "geo-1", "namespace": "ns", "creationTimestamp": CREATED},
        "spec": {"containers": [{"name": "geo"}], "nodeName": "node-1"},
        "status": {"phase": "Running", **status},
    }


def _cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    table = to_table(kind, [obj], NOW, "Metadata", "7")
    names = [c["name"] for c in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


def test_url_paths_resolve_to_resource_namespace_name_and_subresource() -> None:
    target = resolve("apps/v1", "namespaces/ns/deployments/geo/scale")
    assert (target.resource.kind, target.namespace, target.name, target.sub) == (
        "Deployment",
        "ns",
        "geo",
        "scale",
    )
    assert resolve("v1", "pods").namespace is None
    assert resolve("v1", "namespaces/ns").resource.kind == "Namespace"
    assert resolve("v1", "nodes/node-1").name == "node-1"


@pytest.mark.parametrize(
    ("group_version", "path", "message"),
    [
        ("v1", "widgets", "could not find the requested resource"),
        ("apps/v1", "pods", "could not find the requested resource"),
        ("v1", "namespaces/ns/nodes/n", "could not find the requested resource"),
        ("v1", "pods/geo-1", "could not find the requested resource"),
        ("v1", "namespaces/ns/services/frontend/scale", 'has no subresource "scale"'),
    ],
)
def test_unknown_resource_paths_are_404_statuses(group_version: str, path: str, message: str) -> None:
    with pytest.raises(ApiError) as info:
        resolve(group_version, path)
    assert info.value.code == 404 and message in info.value.message
    assert info.value.status()["reason"] == "NotFound"


def test_pod_table_shows_ready_status_restarts_and_age_like_kubectl() -> None:
    running = _pod(
        containerStatuses=[{"name": "geo", "ready": True, "restartCount": 0, "state": {"running": {}}}]
    )
    assert _cells("Pod", running) == {
        "Name": "geo-1",
        "Ready": "1/1",
        "Status": "Running",
        "Restarts": "0",
        "Age": "10s",
        "IP": "<none>",
        "Node": "node-1",
    }
    crashing = _pod(
        containerStatuses=[
            {
                "name": "geo",
                "ready": False,
                "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2023-11-14T22:12:50Z"}},
            }
        ]
    )
    cells = _cells("Pod", crashing)
    assert (cells["Ready"], cells["Status"], cells["Restarts"]) == ("0/1", "CrashLoopBackOff", "5 (30s ago)")
    pending = _pod(phase="Pending", containerStatuses=[])
    assert _cells("Pod", pending)["Status"] == "Pending"
    oom = _pod(
        containerStatuses=[
            {
                "name": "geo",
                "restartCount": 1,
                "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ]
    )
    assert _cells("Pod", oom)["Status"] == "OOMKilled"


def test_tables_for_deployments_services_nodes_and_events() -> None:
    deployment = {
        "metadata": {"name": "geo", "creationTimestamp": CREATED},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "geo"}},
            "template": {"spec": {"containers": [{"name": "geo", "image": "geo:1"}]}},
        },
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }
    cells = _cells("Deployment", deployment)
    assert (cells["Ready"], cells["Up-to-date"], cells["Available"], cells["Images"]) == (
        "1/2",
        2,
        1,
        "geo:1",
    )
    service = {
        "metadata": {"name": "geo", "creationTimestamp": CREATED},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.7",
            "selector": {"app": "geo"},
            "ports": [{"port": 8083, "targetPort": 8083, "protocol": "TCP"}],
        },
    }
    assert _cells("Service", service)["Port(s)"] == "8083/TCP"
    assert _cells("Service", service)["Selector"] == "app=geo"
    node = {
        "metadata": {
            "name": "n1",
            "creationTimestamp": CREATED,
            "labels": {"node-role.kubernetes.io/worker": ""},
        },
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    assert _cells("Node", node)["Status"] == "NotReady,SchedulingDisabled"
    event = {
        "metadata": {"name": "e1"},
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting",
        "involvedObject": {"kind": "Pod", "name": "geo-1"},
        "lastTimestamp": CREATED,
    }
    cells = _cells("Event", event)
    assert (cells["Last Seen"], cells["Object"], cells["Reason"]) == ("10s", "pod/geo-1", "BackOff")


def test_table_rows_carry_partial_metadata_or_the_full_object() -> None:
    pod = _pod()
    assert (
        to_table("Pod", [pod], NOW, "Metadata", "1")["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    )
    assert to_table("Pod", [pod], NOW, "Object", "1")["rows"][0]["object"] == pod
    assert "object" not in to_table("Pod", [pod], NOW, "None", "1")["rows"][0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 120, "3h2m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (40 * 86400, "40d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
    ],
)
def test_ages_use_kubernetes_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_scale_view_and_requested_replicas() -> None:
    deployment = {
        "metadata": {"name": "geo", "namespace": "ns", "uid": "u1"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"io.kompose.service": "geo"}}},
        "status": {},
    }
    scale = scale_object(deployment)
    assert scale["spec"] == {"replicas": 0}
    assert scale["status"] == {"replicas": 0, "selector": "io.kompose.service=geo"}
    assert desired_replicas(scale, {"spec": {"replicas": 3}}, "merge") == 3
    assert desired_replicas(scale, [{"op": "replace", "path": "/spec/replicas", "value": 2}], "json") == 2
    assert (
        desired_replicas(
            scale, {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 1}}, "update"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("body", "patch_type", "message"),
    [
        ({"spec": {"replicas": -1}}, "merge", "must be greater than or equal to 0"),
        ({"spec": {"replicas": "three"}}, "strategic", "must be an integer"),
        ({"spec": {"paused": True}}, "merge", "only spec.replicas"),
        ([{"op": "remove", "path": "/spec/replicas"}], "json", "only replace of /spec/replicas"),
        ({"spec": {}}, "update", "Required value"),
    ],
)
def test_invalid_scale_requests_are_422_with_the_field(body: Any, patch_type: str, message: str) -> None:
    scale = scale_object({"metadata": {"name": "geo"}, "spec": {"replicas": 1}})
    with pytest.raises(ApiError) as info:
        desired_replicas(scale, body, patch_type)
    assert info.value.code == 422 and message in info.value.message


def test_selector_strings_render_match_expressions() -> None:
    selector = {
        "matchLabels": {"app": "geo"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "app=geo,!canary,tier in (a,b)"


def test_discovery_names_the_scale_subresource_as_autoscaling_v1() -> None:
    apps = resources.resource_list("apps/v1")
    assert apps is not None
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    core = resources.resource_list("v1")
    assert core is not None
    assert {"pods", "pods/log", "services", "nodes", "events"} <= {r["name"] for r in core["resources"]}
    assert resources.api_group_list()["groups"][0]["name"] == "apps"
    assert resources.resource_list("batch/v1") is None
