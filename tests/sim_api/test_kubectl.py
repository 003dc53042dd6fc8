"""The real kubectl binary works against the simulated API server (skipped when kubectl is absent).

Every call gets a temporary KUBECONFIG and HOME so nothing touches the user's own config or cache.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aoi.sim.api.server import WRITE_CONTEXT
from tests.sim_api.conftest import HOTEL, Served

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="no kubectl binary on PATH (install kubectl to run these)"),
]


def kubectl(
    served: Served, *args: str, write: bool = False, check: bool = True
) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    home = served.kubeconfig.parent / "home"
    home.mkdir(exist_ok=True)
    context = ["--context", WRITE_CONTEXT] if write else []
    env = {"KUBECONFIG": str(served.kubeconfig), "HOME": str(home), "PATH": str(Path(KUBECTL).parent)}
    done = subprocess.run(
        [KUBECTL, *context, "-n", HOTEL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


def _geo_pods(served: Served) -> list[str]:
    pods = served.cluster.list_objects("Pod", HOTEL, label_selector="io.kompose.service=geo")
    return sorted(p["metadata"]["name"] for p in pods)


def test_get_pods_prints_the_servers_table(hotel: Served) -> None:
    lines = kubectl(hotel, "get", "pods").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(lines) - 1 == len(hotel.cluster.list_objects("Pod", HOTEL))
    assert all(line.split()[2] == "Running" for line in lines[1:])
    wide = kubectl(hotel, "get", "pods", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-2:] == ["IP", "NODE"]


def test_get_pods_json_and_label_selector(hotel: Served) -> None:
    listed = json.loads(kubectl(hotel, "get", "pods", "-o", "json").stdout)
    assert len(listed["items"]) == len(hotel.cluster.list_objects("Pod", HOTEL))
    selected = kubectl(hotel, "get", "pods", "-l", "io.kompose.service=geo", "-o", "name").stdout.split()
    assert sorted(s.removeprefix("pod/") for s in selected) == _geo_pods(hotel)


def test_describe_pod_shows_its_events(hotel: Served) -> None:
    pod = _geo_pods(hotel)[0]
    text = kubectl(hotel, "describe", "pod", pod).stdout
    assert re.search(rf"^Name:\s+{pod}$", text, re.MULTILINE)
    events = text.split("Events:")[1]
    assert "Scheduled" in events and "Started" in events


def test_get_events_lists_the_namespace_events(hotel: Served) -> None:
    lines = kubectl(hotel, "get", "events").stdout.splitlines()
    assert lines[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert any("pod/geo-" in line for line in lines[1:])


def test_logs_of_a_pod(hotel: Served) -> None:
    pod = _geo_pods(hotel)[0]
    expected = hotel.cluster.pod_logs(HOTEL, pod, tail_lines=5)
    assert kubectl(hotel, "logs", pod, "--tail", "5").stdout == expected


def test_reader_context_cannot_scale(hotel: Served) -> None:
    done = kubectl(hotel, "scale", "deployment/geo", "--replicas=0", check=False)
    assert done.returncode != 0 and "Forbidden" in done.stderr and "aoi-sim-reader" in done.stderr
    assert hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["replicas"] == 1


def test_scale_uses_the_scale_subresource(fresh_hotel: Served) -> None:
    assert "scaled" in kubectl(fresh_hotel, "scale", "deployment/geo", "--replicas=2", write=True).stdout
    assert len(_geo_pods(fresh_hotel)) == 2


def test_patch_strategic_merge_and_json(fresh_hotel: Served) -> None:
    port = fresh_hotel.cluster.get_object("Service", HOTEL, "geo")["spec"]["ports"][0]["port"]
    patch = json.dumps({"spec": {"ports": [{"port": port, "targetPort": 9191}]}})
    kubectl(fresh_hotel, "patch", "service", "geo", "-p", patch, write=True)
    assert fresh_hotel.cluster.get_object("Service", HOTEL, "geo")["spec"]["ports"][0]["targetPort"] == 9191
    ops = json.dumps([{"op": "replace", "path": "/spec/ports/0/targetPort", "value": port}])
    kubectl(fresh_hotel, "patch", "service", "geo", "--type=json", "-p", ops, write=True)
    assert fresh_hotel.cluster.get_object("Service", HOTEL, "geo")["spec"]["ports"][0]["targetPort"] == port


def test_set_image_then_rollout_undo_restores_the_previous_image(fresh_hotel: Served) -> None:
    deployment = fresh_hotel.cluster.get_object("Deployment", HOTEL, "geo")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    kubectl(
        fresh_hotel, "set", "image", "deployment/geo", f"{container['name']}=registry.local/geo:2", write=True
    )
    images = [
        c["image"]
        for c in fresh_hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["template"]["spec"][
            "containers"
        ]
    ]
    assert images == ["registry.local/geo:2"]
    assert "rolled back" in kubectl(fresh_hotel, "rollout", "undo", "deployment/geo", write=True).stdout
    restored = fresh_hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["template"]["spec"][
        "containers"
    ]
    assert [c["image"] for c in restored] == [container["image"]]


def test_rollout_restart_replaces_every_pod(fresh_hotel: Served) -> None:
    before = _geo_pods(fresh_hotel)
    assert "restarted" in kubectl(fresh_hotel, "rollout", "restart", "deployment/geo", write=True).stdout
    template = fresh_hotel.cluster.get_object("Deployment", HOTEL, "geo")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    assert not set(before) & set(_geo_pods(fresh_hotel))


def test_delete_pod_returns_once_it_is_gone(fresh_hotel: Served) -> None:
    pod = _geo_pods(fresh_hotel)[0]
    assert f'pod "{pod}" deleted' in kubectl(fresh_hotel, "delete", "pod", pod, write=True).stdout
    assert pod not in _geo_pods(fresh_hotel) and len(_geo_pods(fresh_hotel)) == 1


def test_describe_service_lists_endpoints_from_endpoint_slices(hotel: Served) -> None:
    text = kubectl(hotel, "describe", "service", "geo").stdout
    ips = [
        a["ip"]
        for s in hotel.cluster.get_object("Endpoints", HOTEL, "geo")["subsets"]
        for a in s["addresses"]
    ]
    endpoints_line = next(line for line in text.splitlines() if line.startswith("Endpoints:"))
    assert ips and all(ip in endpoints_line for ip in ips)


def test_exec_runs_the_database_shell_with_the_write_context_only(hotel: Served) -> None:
    pods = hotel.cluster.list_objects("Pod", HOTEL, label_selector="io.kompose.service=mongodb-geo")
    pod = pods[0]["metadata"]["name"]
    command = ["exec", pod, "--", "mongo", "--quiet", "--eval", "db.version()"]
    assert kubectl(hotel, *command, write=True).stdout.strip().endswith("4.4.6")
    refused = kubectl(hotel, *command, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower()
    not_a_shell = kubectl(hotel, "exec", pod, "--", "ls", "/", write=True, check=False)
    assert not_a_shell.returncode == 127 and "can only run its database shell" in not_a_shell.stderr
