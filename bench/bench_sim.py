"""Simulator benchmarks: in-process read calls per second, problem reset time, memory per cluster.

Run: ``python bench/bench_sim.py [--seconds S]``. Prints a table and writes ``bench/results/sim.json``
with each figure, its target and the ratio against the target, plus a baseline measured in the same
run: the same reads with every cache dropped before each call (what the read path costs without
per-version caching), and a bare deploy without a fault (what a reset costs at minimum).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aoi.sim import SimCluster, load_suite

TARGET_READS_PER_S = 5000.0
TARGET_RESET_MS = 50.0
TARGET_MEMORY_MB = 50.0
RESULTS = Path(__file__).parent / "results" / "sim.json"


def observer_mix(cluster: SimCluster, ns: str, label: str) -> list[tuple[str, Callable[[int], Any]]]:
    """A read mix shaped like an investigation: gets, filtered lists, logs, metrics, traces."""
    pods = [p["metadata"]["name"] for p in cluster.list_objects("Pod", ns)]
    services = [s["metadata"]["name"] for s in cluster.list_objects("Service", ns)]
    traced = cluster.trace_services()
    now = cluster.now()

    def by_label(i: int) -> Any:
        return cluster.list_objects("Pod", ns, label_selector=f"{label}={services[i % len(services)]}")

    def events_of(i: int) -> Any:
        return cluster.list_objects("Event", ns, field_selector=f"involvedObject.name={pods[i % len(pods)]}")

    def requests(i: int) -> Any:
        return cluster.metric_series("http_server_requests_total", now - 300, now, 15)

    mix: list[tuple[int, str, Callable[[int], Any]]] = [
        (30, "get_object", lambda i: cluster.get_object("Deployment", ns, services[i % len(services)])),
        (20, "list_by_label", by_label),
        (10, "list_namespace_pods", lambda i: cluster.list_objects("Pod", ns)),
        (10, "events_of_pod", events_of),
        (15, "pod_logs_tail", lambda i: cluster.pod_logs(ns, pods[i % len(pods)], tail_lines=100)),
        (10, "metric_series_5m", requests),
        (5, "find_traces", lambda i: cluster.find_traces(service=traced[i % len(traced)], limit=5)),
    ]
    seq = [(name, fn) for weight, name, fn in mix for _ in range(weight)]
    random.Random(0).shuffle(seq)
    return seq


def _drop_caches(cluster: SimCluster) -> None:
    cluster._cache.clear()
    cluster._traces = None
    cluster._state.store._frozen.clear()


def reads_per_second(seconds: float, cached: bool) -> dict[str, Any]:
    problem = load_suite("aiopslab")["k8s_target_port-misconfig-mitigation-1"]
    cluster = SimCluster.from_problem(problem)
    seq = observer_mix(cluster, "test-social-network", "service")
    per_kind: dict[str, list[float]] = {}
    for i, (_, fn) in enumerate(seq):  # warm-up: every distinct call once
        fn(i)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        name, fn = seq[n % len(seq)]
        if not cached:
            _drop_caches(cluster)
        t0 = time.perf_counter()
        fn(n)
        per_kind.setdefault(name, []).append(time.perf_counter() - t0)
        n += 1
    elapsed = time.perf_counter() - start
    return {
        "calls_per_s": n / elapsed,
        "calls": n,
        "per_call_us": {k: round(statistics.mean(v) * 1e6, 1) for k, v in sorted(per_kind.items())},
    }


def reset_times() -> dict[str, Any]:
    suite = list(load_suite("aiopslab").values())
    SimCluster.from_problem(suite[0])  # import and data-file loading are not part of a reset
    times, bare = [], []
    for problem in suite:
        t0 = time.perf_counter()
        SimCluster.from_problem(problem)
        times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        SimCluster(apps=[problem.app], seed=problem.seed)
        bare.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "problems": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * len(times)) - 1],
        "mean_ms": statistics.mean(times),
        "max_ms": times[-1],
        "bare_deploy_p50_ms": statistics.median(bare),
    }


def memory_per_cluster() -> dict[str, Any]:
    ids = [
        "k8s_target_port-misconfig-mitigation-1",
        "revoke_auth_mongodb-mitigation-1",
        "noop_detection_astronomy_shop-1",
    ]
    suite = load_suite("aiopslab")
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    keep = []
    for pid in ids:
        cluster = SimCluster.from_problem(suite[pid])
        for pod in cluster.list_objects("Pod"):  # fill every cache an investigation could fill
            cluster.pod_logs(pod["metadata"]["namespace"], pod["metadata"]["name"])
        for name in cluster.metric_names():
            cluster.metric_series(name, cluster.now() - 3600, cluster.now(), 15)
        cluster.find_traces(limit=100)
        keep.append(cluster)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "clusters": len(keep),
        "mb_per_cluster": (current - base) / len(keep) / 2**20,
        "peak_mb": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each read measurement")
    args = parser.parse_args()
    reads = reads_per_second(args.seconds, cached=True)
    baseline = reads_per_second(args.seconds, cached=False)
    resets = reset_times()
    memory = memory_per_cluster()
    result = {
        "reads": {
            **reads,
            "target_per_s": TARGET_READS_PER_S,
            "ratio_vs_target": reads["calls_per_s"] / TARGET_READS_PER_S,
            "baseline_uncached_per_s": baseline["calls_per_s"],
            "ratio_vs_baseline": reads["calls_per_s"] / baseline["calls_per_s"],
            "baseline_per_call_us": baseline["per_call_us"],
        },
        "reset": {
            **resets,
            "target_ms": TARGET_RESET_MS,
            "ratio_vs_target": TARGET_RESET_MS / resets["p50_ms"],
            "p95_ratio_vs_target": TARGET_RESET_MS / resets["p95_ms"],
        },
        "memory": {
            **memory,
            "target_mb": TARGET_MEMORY_MB,
            "ratio_vs_target": TARGET_MEMORY_MB / memory["mb_per_cluster"],
        },
    }
    rows = [
        (
            "in-process reads/s (Observer mix)",
            f"{reads['calls_per_s']:,.0f}",
            f">= {TARGET_READS_PER_S:,.0f}",
            f"{result['reads']['ratio_vs_target']:.2f}x",
            f"uncached {baseline['calls_per_s']:,.0f}/s",
        ),
        (
            "problem reset p50 (86 problems)",
            f"{resets['p50_ms']:.1f} ms",
            f"<= {TARGET_RESET_MS:.0f} ms",
            f"{result['reset']['ratio_vs_target']:.2f}x",
            f"bare deploy {resets['bare_deploy_p50_ms']:.1f} ms",
        ),
        (
            "problem reset p95",
            f"{resets['p95_ms']:.1f} ms",
            f"<= {TARGET_RESET_MS:.0f} ms",
            f"{result['reset']['p95_ratio_vs_target']:.2f}x",
            f"max {resets['max_ms']:.1f} ms",
        ),
        (
            "memory per cluster (tracemalloc)",
            f"{memory['mb_per_cluster']:.1f} MB",
            f"<= {TARGET_MEMORY_MB:.0f} MB",
            f"{result['memory']['ratio_vs_target']:.2f}x",
            "caches filled by a full read sweep",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    header = ("measure", "value", "target", "vs target", "baseline / note")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
