"""Simulator API benchmark: reads per second through the HTTP API vs the same reads in process.

Measured in one run, on one simulated cluster (the default AIOpsLab problem) and one machine:

- ``in_process``: the read mix called directly on ``SimCluster`` (the baseline; target ≥ 5,000/s is
  the sim core's own benchmark).
- ``http_typed``: the same mix through ``aoi sim serve``'s server (TLS, bearer token) with the
  official ``kubernetes`` Python client deserialising into its typed models, as a user script would.
  Target ≥ 300 reads/s.
- ``http_raw``: the same calls with ``_preload_content=False`` + ``json.loads``, which is what AOI's
  Kubernetes backend does (it wants the API's JSON, not client models).
- ``promql_http``: ``/api/v1/query`` instant queries over plain HTTP (httpx), for reference.

One "read" is one API call: get pod, list pods by label, get deployment, get service, list the pod's
events by field selector, in rotation over the app's services. The client runs in this process; the
server runs in a thread of it, so both share the GIL — a conservative setting.

    python bench/bench_sim_api.py [--http-reads 600] [--local-reads 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from aoi.sim import SimCluster, load_suite
from aoi.sim.api.server import READ_CONTEXT, SimApiServer

RESULTS = Path(__file__).resolve().parent / "results" / "sim_api.json"
PROBLEM = "k8s_target_port-misconfig-mitigation-1"
TARGET_HTTP_READS_PER_S = 300.0


def _targets(cluster: SimCluster) -> list[tuple[str, str, str, str]]:
    """(namespace, deployment, service, one pod) per workload that has a Service."""
    out = []
    for deployment in cluster.list_objects("Deployment"):
        meta = deployment["metadata"]
        ns, name = meta["namespace"], meta["name"]
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
        pods = cluster.list_objects("Pod", ns, label_selector=selector)
        services = {s["metadata"]["name"] for s in cluster.list_objects("Service", ns)}
        if pods and name in services:
            out.append((ns, name, name, pods[0]["metadata"]["name"]))
    return out


def _mix(
    get_pod: Callable[[str, str], Any],
    list_pods: Callable[[str, str], Any],
    get_deployment: Callable[[str, str], Any],
    get_service: Callable[[str, str], Any],
    list_events: Callable[[str, str], Any],
    targets: list[tuple[str, str, str, str]],
) -> Callable[[int], None]:
    def one(i: int) -> None:
        ns, deployment, service, pod = targets[(i // 5) % len(targets)]
        step = i % 5
        if step == 0:
            get_pod(pod, ns)
        elif step == 1:
            list_pods(ns, pod)
        elif step == 2:
            get_deployment(deployment, ns)
        elif step == 3:
            get_service(service, ns)
        else:
            list_events(ns, pod)

    return one


def _rate(read: Callable[[int], None], n: int) -> float:
    for i in range(min(50, n)):  # warm connections and caches
        read(i)
    start = time.perf_counter()
    for i in range(n):
        read(i)
    return n / (time.perf_counter() - start)


def _labels(cluster: SimCluster, ns: str, pod: str) -> str:
    labels = cluster.get_object("Pod", ns, pod)["metadata"]["labels"]
    return ",".join(f"{k}={v}" for k, v in labels.items() if k != "pod-template-hash")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http-reads", type=int, default=600)
    parser.add_argument("--local-reads", type=int, default=5000)
    args = parser.parse_args()

    cluster = SimCluster.from_problem(load_suite("aiopslab")[PROBLEM])
    targets = _targets(cluster)
    selectors = {(ns, pod): _labels(cluster, ns, pod) for ns, _, _, pod in targets}

    local = _mix(
        lambda name, ns: cluster.get_object("Pod", ns, name),
        lambda ns, pod: cluster.list_objects("Pod", ns, label_selector=selectors[(ns, pod)]),
        lambda name, ns: cluster.get_object("Deployment", ns, name),
        lambda name, ns: cluster.get_object("Service", ns, name),
        lambda ns, pod: cluster.list_objects("Event", ns, field_selector=f"involvedObject.name={pod}"),
        targets,
    )
    results: dict[str, Any] = {"in_process": _rate(local, args.local_reads)}

    with SimApiServer(cluster) as server, tempfile.TemporaryDirectory() as tmp:
        path = server.write_kubeconfig(Path(tmp) / "kubeconfig")
        api = k8s_config.new_client_from_config(str(path), context=READ_CONTEXT)
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        typed = _mix(
            core.read_namespaced_pod,
            lambda ns, pod: core.list_namespaced_pod(ns, label_selector=selectors[(ns, pod)]),
            apps.read_namespaced_deployment,
            core.read_namespaced_service,
            lambda ns, pod: core.list_namespaced_event(ns, field_selector=f"involvedObject.name={pod}"),
            targets,
        )
        results["http_typed"] = _rate(typed, args.http_reads)

        def raw(call: Callable[..., Any]) -> Callable[..., Any]:
            return lambda *a, **kw: json.loads(call(*a, _preload_content=False, **kw).data)

        raw_mix = _mix(
            raw(core.read_namespaced_pod),
            lambda ns, pod: raw(core.list_namespaced_pod)(ns, label_selector=selectors[(ns, pod)]),
            raw(apps.read_namespaced_deployment),
            raw(core.read_namespaced_service),
            lambda ns, pod: raw(core.list_namespaced_event)(ns, field_selector=f"involvedObject.name={pod}"),
            targets,
        )
        results["http_raw"] = _rate(raw_mix, args.http_reads)

        with httpx.Client(base_url=server.telemetry_url) as prom:
            names = prom.get("/api/v1/label/__name__/values").json()["data"]
            queries = [f"sum by (service) (rate({n}[5m]))" if n.endswith("_total") else n for n in names[:5]]

            def promql(i: int) -> None:
                body = prom.get("/api/v1/query", params={"query": queries[i % len(queries)]}).json()
                assert body["status"] == "success", body

            results["promql_http"] = _rate(promql, max(50, args.http_reads // 4)) if queries else 0.0

    report = {
        "benchmark": "sim_api",
        "problem": PROBLEM,
        "reads_per_s": {k: round(v, 1) for k, v in results.items()},
        "ratios_vs_in_process": {k: round(v / results["in_process"], 4) for k, v in results.items()},
        "target_http_reads_per_s": TARGET_HTTP_READS_PER_S,
        "meets_target": results["http_typed"] >= TARGET_HTTP_READS_PER_S,
        "http_reads": args.http_reads,
        "local_reads": args.local_reads,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    print(f"{'path':<14}{'reads/s':>12}{'vs in-process':>16}")
    for key, value in results.items():
        print(f"{key:<14}{value:>12.1f}{value / results['in_process']:>15.3f}x")
    verdict = "meets" if report["meets_target"] else "MISSES"
    print(f"HTTP (typed client) {verdict} the {TARGET_HTTP_READS_PER_S:.0f} reads/s target")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
