"""Store benchmark: feedback writes/s and proposal-decision latency under 20-way concurrency.

Runs on SQLite (a WAL file in a temporary folder) and PostgreSQL (a freshly created database,
dropped afterwards) in one run. For each backend it measures, on the same machine and run:

- ``feedback_baseline``: one process writing feedback rows one after another (writes/s);
- ``feedback_concurrent``: N spawned processes writing at once (aggregate writes/s);
- ``decision_baseline``: one process approving distinct proposals one after another (latency);
- ``decision_concurrent``: N processes approving distinct proposals at once (latency);
- ``decision_contended``: N processes clicking Approve on the *same* proposal, for several rounds
  (latency of every click, and a check that each round had exactly one winner and one execution).

Ratios compare each concurrent figure with its single-process baseline. Concurrency uses
processes (spawned, like separate web/worker processes) so the GIL does not shape the result.

    python bench/bench_store.py [--workers 20] [--writes 2000] [--decisions 400] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aoi.store import Store, make_engine, repo

DEFAULT_POSTGRES = os.environ.get(
    "AOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESULTS = Path(__file__).resolve().parent / "results" / "store.json"

# --- worker side (runs in spawned processes) -------------------------------------------------------

_BARRIER: Any = None
_STORES: dict[str, Store] = {}


def _init(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def _store(url: str) -> Store:
    if url not in _STORES:
        _STORES[url] = Store(make_engine(url, pool_size=1))
    return _STORES[url]


def _task(kind: str, url: str, args: dict[str, Any]) -> dict[str, Any]:
    """Wait for every worker, then run one share of a measurement; returns timings."""
    store = _store(url)
    repo.list_proposals(store, limit=1)  # warm the connection outside the timed section
    _BARRIER.wait(timeout=120)
    return _run(kind, store, args)


def _run(kind: str, store: Store, args: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    latencies: list[float] = []
    won = claimed = 0
    if kind == "feedback":
        for _ in range(args["count"]):
            repo.record_feedback(
                store,
                investigation_id=args["investigation_id"],
                kind="thumbs_up",
                actor="bench",
                source="reaction",
            )
    elif kind == "decide":
        for proposal_id in args["proposal_ids"]:
            t0 = time.perf_counter()
            result = repo.approve_proposal(store, proposal_id, args["actor"])
            latencies.append(time.perf_counter() - t0)
            won += result.changed
    elif kind == "click_and_claim":
        t0 = time.perf_counter()
        result = repo.approve_proposal(store, args["proposal_id"], args["actor"])
        latencies.append(time.perf_counter() - t0)
        won += result.changed
        claimed += repo.claim_execution(store, args["proposal_id"], executor=args["actor"])
    return {
        "start": start,
        "end": time.perf_counter(),
        "latencies": latencies,
        "won": won,
        "claimed": claimed,
    }


# --- driver ---------------------------------------------------------------------------------------


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": round(pick(0.50), 2), "p99_ms": round(pick(0.99), 2), "n": len(ordered)}


def _fresh_postgres(admin_url: str) -> tuple[str, str] | None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"aoi_bench_{uuid.uuid4().hex[:10]}"
    conninfo = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"PostgreSQL skipped: {admin_url} not reachable ({exc})", file=sys.stderr)
        return None
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def _drop_postgres(admin_url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _proposals(store: Store, count: int, approvals_required: int = 1) -> list[str]:
    investigation = repo.create_investigation(store, planner="bench")
    repo.start_investigation(store, investigation.id, worker="bench")
    news = [
        repo.NewProposal(
            action={"verb": "scale", "target": f"svc-{i}"}, approvals_required=approvals_required
        )
        for i in range(count)
    ]
    _, rows = repo.complete_investigation(
        store, investigation.id, trajectory={}, diagnosis={}, proposals=news
    )
    return [row.id for row in rows]


def _round(
    pool: ProcessPoolExecutor, workers: int, kind: str, url: str, shares: list[dict[str, Any]]
) -> list[Any]:
    assert len(shares) == workers
    futures = [pool.submit(_task, kind, url, share) for share in shares]
    return [future.result(timeout=600) for future in futures]


def bench_backend(url: str, pool: ProcessPoolExecutor, opts: argparse.Namespace) -> dict[str, Any]:
    n = opts.workers
    store = Store.open(url, migrate=True)
    try:
        investigation_id = repo.create_investigation(store, planner="bench").id
        local = {"investigation_id": investigation_id}

        base = _run("feedback", store, {**local, "count": opts.writes})
        base_rate = opts.writes / (base["end"] - base["start"])
        per = opts.writes // n
        shares = [{**local, "count": per} for _ in range(n)]
        parts = _round(pool, n, "feedback", url, shares)
        conc_rate = per * n / (max(p["end"] for p in parts) - min(p["start"] for p in parts))

        ids = _proposals(store, opts.decisions)
        base_dec = _run("decide", store, {"proposal_ids": ids, "actor": "U-base"})["latencies"]
        ids = _proposals(store, opts.decisions)
        chunk = len(ids) // n
        shares = [{"proposal_ids": ids[i * chunk : (i + 1) * chunk], "actor": f"U{i}"} for i in range(n)]
        conc_dec = [lat for part in _round(pool, n, "decide", url, shares) for lat in part["latencies"]]

        contended: list[float] = []
        exactly_once = True
        for proposal_id in _proposals(store, opts.rounds):
            shares = [{"proposal_id": proposal_id, "actor": f"U{i}"} for i in range(n)]
            parts = _round(pool, n, "click_and_claim", url, shares)
            contended += [lat for part in parts for lat in part["latencies"]]
            exactly_once &= sum(p["won"] for p in parts) == 1 and sum(p["claimed"] for p in parts) == 1
        feedback_rows = len(repo.list_feedback(store, investigation_id=investigation_id))
    finally:
        store.dispose()

    baseline, concurrent, raced = _percentiles(base_dec), _percentiles(conc_dec), _percentiles(contended)
    return {
        "feedback_writes_per_s": {"baseline": round(base_rate, 1), "concurrent": round(conc_rate, 1)},
        "decision_latency": {"baseline": baseline, "concurrent": concurrent, "contended": raced},
        "ratios": {
            "feedback_throughput_concurrent_vs_baseline": round(conc_rate / base_rate, 2),
            "decision_p50_concurrent_vs_baseline": round(concurrent["p50_ms"] / baseline["p50_ms"], 2),
            "decision_p99_concurrent_vs_baseline": round(concurrent["p99_ms"] / baseline["p99_ms"], 2),
            "decision_p99_contended_vs_baseline": round(raced["p99_ms"] / baseline["p99_ms"], 2),
        },
        "checks": {
            "every_contended_round_one_winner_one_execution": exactly_once,
            "no_feedback_lost": feedback_rows == opts.writes + per * n,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--writes", type=int, default=2000, help="feedback rows per measurement")
    parser.add_argument("--decisions", type=int, default=400, help="distinct proposals per measurement")
    parser.add_argument("--rounds", type=int, default=20, help="same-proposal races")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--output", type=Path, default=RESULTS)
    opts = parser.parse_args()

    load_start = round(os.getloadavg()[0], 2)  # other work on the machine skews concurrent figures
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(opts.workers)
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessPoolExecutor(opts.workers, mp_context=ctx, initializer=_init, initargs=(barrier,)) as pool,
    ):
        results["sqlite"] = bench_backend(f"sqlite:///{Path(tmp) / 'bench.db'}", pool, opts)
        created = _fresh_postgres(opts.postgres_url)
        if created is not None:
            url, name = created
            try:
                results["postgresql"] = bench_backend(url, pool, opts)
            finally:
                _drop_postgres(opts.postgres_url, name)

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "params": {k: v for k, v in vars(opts).items() if k not in ("output", "postgres_url")},
        "backends": results,
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    _print_table(results, opts.workers)
    print(f"\nwrote {opts.output}")
    checks_ok = all(all(r["checks"].values()) for r in results.values())
    return 0 if checks_ok else 1


def _print_table(results: dict[str, Any], workers: int) -> None:
    header = f"{'backend':<11}{'metric':<34}{'baseline':>12}{f'{workers}-way':>12}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        fb = r["feedback_writes_per_s"]
        dl = r["decision_latency"]
        ratio = r["ratios"]
        rows = [
            (
                "feedback writes/s",
                fb["baseline"],
                fb["concurrent"],
                ratio["feedback_throughput_concurrent_vs_baseline"],
            ),
            ("decision p50 ms (distinct)", dl["baseline"]["p50_ms"], dl["concurrent"]["p50_ms"], None),
            ("decision p99 ms (distinct)", dl["baseline"]["p99_ms"], dl["concurrent"]["p99_ms"], None),
            ("decision p50 ms (same proposal)", dl["baseline"]["p50_ms"], dl["contended"]["p50_ms"], None),
            ("decision p99 ms (same proposal)", dl["baseline"]["p99_ms"], dl["contended"]["p99_ms"], None),
        ]
        for metric, base, conc, explicit in rows:
            shown = explicit if explicit is not None else (round(conc / base, 2) if base else float("nan"))
            print(f"{name:<11}{metric:<34}{base:>12}{conc:>12}{shown:>8}")
        print(f"{name:<11}checks: {', '.join(f'{k}={v}' for k, v in r['checks'].items())}")


if __name__ == "__main__":
    raise SystemExit(main())
