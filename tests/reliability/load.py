"""The load check shared by ``bench/bench_reliability.py`` and its fast CI test.

``aoi bot`` runs as a real process (the embedded default: in-process runner, SQLite file) with Slack's
Web API faked on loopback. A separate load process (``bench_slack``'s keep-alive client) sends signed
``app_home_opened`` events — each is signature-checked, acked, de-duplicated by ``event_id`` in the
store and answered with a ``views.publish`` built from three store reads — over ``concurrency``
connections, plus a share of re-deliveries of already-sent events (what Slack's retries are). Then:

- **lost**: sent event ids that are not in the store's processed-event table, or whose user never got
  a ``views.publish``; **doubled**: users that got more than one (a retry handled again);
- **ack latency**: p50/p99/max of the HTTP answers;
- **RSS** of the web process (``/proc/<pid>/status``), sampled every 50 ms: after a warm-up (start),
  the peak, the end and each quarter of the run; ``growth`` = end / start.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from aoi.store.db import Store
from aoi.store.models import ProcessedEvent
from tests.bot.harness import bot_env, event_body, free_port, start_bot_process, stop_bot_process
from tests.fakes.slack_api import FakeSlackAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_slack import percentiles, run_load

Request = tuple[str, str, bytes | None]


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler:
    """Samples a process's RSS on a thread until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid, self.interval_s, self.samples = pid, interval_s, [rss_kib(pid)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(rss_kib(self.pid))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_kib(self.pid))
        return self.samples


def home_events(count: int, tag: str) -> list[tuple[str, str, bytes]]:
    """``count`` signed-later ``app_home_opened`` events, one user and one event id each."""
    return [
        (
            "POST",
            "/slack/events",
            json.dumps(
                event_body(
                    {"type": "app_home_opened", "user": f"U{tag}{i:06d}", "tab": "home"},
                    event_id=f"Ev{tag}{i:06d}",
                )
            ).encode(),
        )
        for i in range(count)
    ]


def processed_ids(store: Store, prefix: str) -> set[str]:
    with store.transaction() as session:
        rows = session.exec(
            select(ProcessedEvent.event_id).where(col(ProcessedEvent.event_id).startswith(prefix))
        ).all()
    return set(rows)


def published(fake: FakeSlackAPI, tag: str) -> Counter[str]:
    return Counter(
        str(c.params.get("user_id"))
        for c in fake.calls_to("views.publish")
        if str(c.params.get("user_id", "")).startswith(f"U{tag}")
    )


def run_load_check(
    folder: Path,
    template: Path,
    *,
    events: int,
    concurrency: int,
    retry_share: float = 0.1,
    baseline: bool = False,
) -> dict[str, Any]:
    """Serve ``aoi bot``, send ``events`` (+ ``retry_share`` re-deliveries) and account for each.

    With ``baseline``, the same number of ``GET /healthz`` requests (same server and HTTP stack, one
    store query) is measured first, for the benchmark's ratio."""
    db = folder / "load.db"
    shutil.copy(template, db)
    tag = "LOAD"
    with FakeSlackAPI() as fake:
        port = free_port()
        process = start_bot_process(["bot"], bot_env(fake, db, AOI_WORKER_THREADS="4"), port)
        url = f"http://127.0.0.1:{port}"
        try:
            run_load(url, list(home_events(max(20, events // 10), "WARM")), min(concurrency, 20))
            healthz = run_load(url, [("GET", "/healthz", None)] * events, concurrency) if baseline else []
            time.sleep(1.0)
            sampler = RssSampler(process.pid)
            requests: list[Request] = list(home_events(events, tag))
            retries = requests[:: max(1, round(1 / retry_share))] if retry_share else []
            results = run_load(url, requests + retries, concurrency)
            deadline = time.monotonic() + 120
            while sum(published(fake, tag).values()) < events and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # anything handled twice would show up now
            samples = sampler.stop()
            store = Store.open(f"sqlite:///{db}")
            stored = processed_ids(store, f"Ev{tag}")
            store.dispose()
        finally:
            stop_bot_process(process)
        per_user = published(fake, tag)
    sent_ids = {f"Ev{tag}{i:06d}" for i in range(events)}
    users = {f"U{tag}{i:06d}" for i in range(events)}
    non_200 = sum(1 for status, _ in results if status != 200)
    start_kib, peak_kib, end_kib = samples[0], max(samples), samples[-1]
    return {
        "events": events,
        "retries": len(retries),
        "concurrency": concurrency,
        "ack": percentiles([t for _, t in results]),
        "ack_baseline": percentiles([t for _, t in healthz]),
        "non_200": non_200,
        "lost": len(sent_ids - stored) + len(users - set(per_user)) + non_200,
        "not_in_store": len(sent_ids - stored),
        "not_handled": len(users - set(per_user)),
        "doubled": sum(1 for n in per_user.values() if n > 1),
        "rss_mib": {
            "start": round(start_kib / 1024, 1),
            "peak": round(peak_kib / 1024, 1),
            "end": round(end_kib / 1024, 1),
            "samples": len(samples),
            # RSS at each quarter of the run: a plateau (not a climb) is what "flat" means here
            "by_quarter": [
                round(samples[min(len(samples) - 1, len(samples) * q // 4)] / 1024, 1) for q in (1, 2, 3, 4)
            ],
        },
        "rss_growth": round(end_kib / start_kib, 3),
        "rss_peak_ratio": round(peak_kib / start_kib, 3),
    }
