"""Reliability under load: 1,000 Slack events at 100 concurrent connections against ``aoi bot``.

``aoi bot`` runs as its own process (embedded default: in-process runner, SQLite file), Slack's Web API
faked on loopback; a separate load process sends signed ``app_home_opened`` events (signature check,
ack, ``event_id`` de-duplication in the store, a ``views.publish`` built from store reads) plus 10%
re-deliveries of events already sent (Slack's retries). See ``tests/reliability/load.py``.

Reported: ack p50/p99/max (target p99 < 100 ms) against ``GET /healthz`` under the same load in the
same run (the ratio); events lost (not in the store's processed ids, or never answered) and handled
twice (target 0 and 0); the web process's RSS at start (after warm-up), peak and end, and end/start
(target: flat, < 1.10). Each round is a fresh process; the summary is the round with the median p99.

    python bench/bench_reliability.py [--events 1000] [--concurrency 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bot.harness import migrated_template
from tests.reliability.load import run_load_check

RESULTS = Path(__file__).resolve().parent / "results" / "reliability.json"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = migrated_template(folder)
        for index in range(args.rounds):
            run = folder / f"round{index}"
            run.mkdir()
            result = run_load_check(
                run, template, events=args.events, concurrency=args.concurrency, baseline=True
            )
            result["load_average"] = round(os.getloadavg()[0], 2)
            rounds.append(result)
    median = sorted(rounds, key=lambda row: row["ack"]["p99_ms"])[len(rounds) // 2]
    summary = {
        **median,
        "ack_p99_vs_baseline": round(median["ack"]["p99_ms"] / median["ack_baseline"]["p99_ms"], 2),
        "lost_all_rounds": sum(r["lost"] for r in rounds),
        "doubled_all_rounds": sum(r["doubled"] for r in rounds),
        "rss_growth_max": max(r["rss_growth"] for r in rounds),
    }
    targets = {
        "ack_p99_under_100ms": median["ack"]["p99_ms"] < 100,
        "none_lost": summary["lost_all_rounds"] == 0,
        "none_doubled": summary["doubled_all_rounds"] == 0,
        "rss_flat_under_1_10": summary["rss_growth_max"] < 1.10,
    }
    results = {
        "summary": summary,
        "rounds": rounds,
        "targets": targets,
        "config": {
            "events": args.events,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "retry_share": 0.1,
            "machine": f"{platform.machine()} {platform.python_version()}",
            "cpus": mp.cpu_count(),
            "store": "SQLite (WAL) file",
            "runner": "in-process pool, aoi bot as a process",
            "load_average_before": load_before,
            "load_average_after": round(os.getloadavg()[0], 2),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'round':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'base p99':>8} {'lost':>5} {'twice':>5} "
          f"{'RSS start':>9} {'peak':>6} {'end':>6} {'growth':>6}")  # fmt: skip
    for i, r in enumerate(rounds):
        rss = r["rss_mib"]
        print(f"{i:>5} {r['ack']['p50_ms']:>8} {r['ack']['p99_ms']:>8} {r['ack']['max_ms']:>8} "
              f"{r['ack_baseline']['p99_ms']:>8} {r['lost']:>5} {r['doubled']:>5} {rss['start']:>9} "
              f"{rss['peak']:>6} {rss['end']:>6} {r['rss_growth']:>6}")  # fmt: skip
    print(
        f"median-p99 round: ack p99 {median['ack']['p99_ms']} ms = {summary['ack_p99_vs_baseline']}x baseline"
    )
    print(f"targets: {targets}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
