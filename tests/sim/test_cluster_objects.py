"""The deployed apps look like a real cluster, and writes really change state."""

from __future__ import annotations

import pytest

from aoi.sim import Invalid, NotFound, SimCluster, SimError
from tests.sim.conftest import HOTEL, SOCIAL


def _ready(pod: dict) -> bool:
    return all(cs["ready"] for cs in pod["status"]["containerStatuses"])


def test_three_apps_deploy_with_every_pod_ready_and_no_restarts() -> None:
    cluster = SimCluster(seed=3)
    pods = cluster.list_objects("Pod")
    assert len(pods) == 19 + 27 + 24
    assert all(_ready(p) and p["status"]["phase"] == "Running" for p in pods)
    assert all(cs["restartCount"] == 0 for p in pods for cs in p["status"]["containerStatuses"])
    assert (
        len(
            [
                n
                for n in cluster.list_objects("Node")
                if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]
            ]
        )
        >= 3
    )


def test_service_endpoints_list_ready_pods_on_the_target_port(social: SimCluster) -> None:
    svc = social.get_object("Service", SOCIAL, "user-service")
    assert svc["spec"]["ports"][0]["targetPort"] == 9090
    eps = social.get_object("Endpoints", SOCIAL, "user-service")
    pod = social.list_objects("Pod", SOCIAL, label_selector="service=user-service")[0]
    assert eps["subsets"][0]["addresses"][0]["ip"] == pod["status"]["podIP"]
    assert eps["subsets"][0]["ports"][0]["port"] == 9090
    media = social.get_object("Endpoints", SOCIAL, "media-frontend")
    assert media["subsets"][0]["ports"][0]["port"] == 8080  # port 8081 → targetPort 8080


def test_stateful_services_have_bound_claims_and_secrets_are_base64(hotel: SimCluster) -> None:
    pvc = hotel.get_object("PersistentVolumeClaim", HOTEL, "geo-pvc")
    assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["volumeName"] == "geo-pv"
    pv = hotel.get_object("PersistentVolume", None, "geo-pv")
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    secret = hotel.get_object("Secret", HOTEL, "mongodb-credentials")
    assert secret["data"]["password"] == "YWRtaW4="


def test_reads_are_copies_not_live_state(hotel: SimCluster) -> None:
    dep = hotel.get_object("Deployment", HOTEL, "geo")
    dep["spec"]["replicas"] = 5
    assert hotel.get_object("Deployment", HOTEL, "geo")["spec"]["replicas"] == 1


def test_scale_to_zero_deletes_pods_and_empties_endpoints(hotel: SimCluster) -> None:
    scale = hotel.scale(HOTEL, "geo", 0)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 0
    assert hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo") == []
    assert "subsets" not in hotel.get_object("Endpoints", HOTEL, "geo")
    hotel.scale(HOTEL, "geo", 2)
    pods = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")
    assert len(pods) == 2 and all(_ready(p) for p in pods)


def test_selector_to_missing_node_leaves_new_pod_pending_with_failed_scheduling(social: SimCluster) -> None:
    social.patch_object(
        "Deployment",
        SOCIAL,
        "user-service",
        {"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": "extra-node"}}}}},
    )
    pods = social.list_objects("Pod", SOCIAL, label_selector="service=user-service")
    pending = [p for p in pods if p["status"]["phase"] == "Pending"]
    assert len(pending) == 1 and len(pods) == 2  # the old pod keeps serving (maxUnavailable rounds to 0)
    events = social.list_objects("Event", SOCIAL, field_selector="reason=FailedScheduling")
    assert any("didn't match Pod's node affinity/selector" in e["message"] for e in events)


def test_rollout_undo_restores_the_previous_template(hotel: SimCluster) -> None:
    container = hotel.get_object("Deployment", HOTEL, "geo")["spec"]["template"]["spec"]["containers"][0]
    hotel.set_image(HOTEL, "geo", container["name"], "yinfangchen/hotelreservation:does-not-exist")
    waiting = [
        p for p in hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo") if not _ready(p)
    ]
    assert waiting[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    hotel.rollout_undo(HOTEL, "geo")
    pods = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")
    assert len(pods) == 1 and _ready(pods[0])
    assert pods[0]["spec"]["containers"][0]["image"] == container["image"]
    dep = hotel.get_object("Deployment", HOTEL, "geo")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_invalid_writes_fail_with_the_field_and_the_rule(hotel: SimCluster) -> None:
    with pytest.raises(Invalid, match=r"spec\.replicas"):
        hotel.patch_object("Deployment", HOTEL, "geo", {"spec": {"replicas": -1}})
    with pytest.raises(Invalid, match="targetPort"):
        hotel.patch_object(
            "Service", HOTEL, "geo", {"spec": {"ports": [{"port": 8083, "targetPort": 70000}]}}
        )
    with pytest.raises(NotFound, match='Deployment "nope" not found'):
        hotel.get_object("Deployment", HOTEL, "nope")
    with pytest.raises(SimError, match="no rollout history"):
        hotel.rollout_undo(HOTEL, "geo")
    with pytest.raises(SimError, match="unknown kind"):
        hotel.list_objects("Widget")


def test_label_and_field_selectors_filter_like_the_api(hotel: SimCluster) -> None:
    mongo = hotel.list_objects(
        "Pod", HOTEL, label_selector="io.kompose.service in (mongodb-geo,mongodb-rate)"
    )
    assert {p["metadata"]["labels"]["io.kompose.service"] for p in mongo} == {"mongodb-geo", "mongodb-rate"}
    running = hotel.list_objects("Pod", HOTEL, field_selector="status.phase=Running")
    assert len(running) == 19
    with pytest.raises(SimError, match="invalid label selector"):
        hotel.list_objects("Pod", HOTEL, label_selector="a in b")


def test_cordon_blocks_scheduling_and_uncordon_releases_it(hotel: SimCluster) -> None:
    for node in ("kind-worker", "kind-worker2", "kind-worker3"):
        hotel.cordon(node)
    pod = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=search")[0]
    hotel.delete_object("Pod", HOTEL, pod["metadata"]["name"])
    new = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=search")[0]
    assert new["status"]["phase"] == "Pending"
    assert "were unschedulable" in new["status"]["conditions"][0]["message"]
    hotel.uncordon("kind-worker2")
    new = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=search")[0]
    assert new["spec"]["nodeName"] == "kind-worker2" and _ready(new)


def test_crash_loop_restart_count_grows_with_the_clock(hotel: SimCluster) -> None:
    hotel.patch_object(
        "Deployment",
        HOTEL,
        "geo",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "hotel-reserv-geo", "resources": {"limits": {"memory": "8Mi"}}}
                        ]
                    }
                }
            }
        },
        "strategic",
    )

    def crashing() -> dict:
        return next(
            p
            for p in hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")
            if not _ready(p)
        )

    before = crashing()["status"]["containerStatuses"][0]
    hotel.advance(600)
    after = crashing()["status"]["containerStatuses"][0]
    assert after["restartCount"] > before["restartCount"] >= 0
    assert after["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert after["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_a_deep_copy_is_an_independent_cluster(hotel: SimCluster) -> None:
    import copy

    twin = copy.deepcopy(hotel)
    twin.scale(HOTEL, "geo", 3)
    assert len(twin.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")) == 3
    assert len(hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")) == 1


def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(hotel: SimCluster) -> None:
    hotel.delete_object("PersistentVolumeClaim", HOTEL, "geo-pvc")
    assert hotel.get_object("PersistentVolumeClaim", HOTEL, "geo-pvc")["metadata"]["deletionTimestamp"]
    hotel.scale(HOTEL, "mongodb-geo", 0)
    with pytest.raises(NotFound):
        hotel.get_object("PersistentVolumeClaim", HOTEL, "geo-pvc")
    assert hotel.get_object("PersistentVolume", None, "geo-pv")["status"]["phase"] == "Released"
    hotel.scale(HOTEL, "mongodb-geo", 1)
    pod = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=mongodb-geo")[0]
    assert 'persistentvolumeclaim "geo-pvc" not found' in pod["status"]["conditions"][0]["message"]
