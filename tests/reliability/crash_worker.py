"""A bot process to kill -9 (or to run several of): the real web app, store, runner and executor,
with hooks that stop mid-work.

``python -m tests.reliability.crash_worker MODE DATABASE_URL SLACK_API_URL FOLDER``

- ``investigate``: an incident containing ``hang`` stops after its first step (the investigation is
  *running* in the store and its summary shows progress); others finish at once with a proposal.
- ``execute``: the approved fix's write reaches the simulated cluster (and is appended to
  ``FOLDER/writes.log``, fsynced, so the count survives the kill), then the executor stops before it
  records an outcome (the proposal is *executing*).

- ``serve``: nothing stops; every write is still logged (several processes append to one log).

In the first two modes the process writes ``FOLDER/stuck`` once it is stuck and waits to be killed. It serves
Slack's HTTP endpoint on 127.0.0.1:0 and writes its URL to ``FOLDER/url``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aoi.agents.backends.base import WriteBackend
from aoi.agents.records import Step, Trajectory, TrajectoryStep
from aoi.bot.app import build_runtime
from aoi.bot.services import Backends, build_services, sim_backends
from aoi.bot.settings import Settings
from aoi.bot.web import build_web_app, serve_in_thread
from aoi.handlers.context import StepCallback
from aoi.policies.schema import load_policy
from aoi.store.db import Store
from tests.bot.harness import SIGNING_SECRET
from tests.bot.scripted import RESTART, scripted_investigator


def settings_for(database_url: str, slack_api_url: str) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "AOI_DATABASE_URL": database_url,
        "AOI_GUIDANCE_EMBEDDER": "off",
        "AOI_PROGRESS_INTERVAL_S": "0",
        "AOI_WORKER_THREADS": "2",
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def stuck(folder: Path) -> None:
    """Say so, then block this thread until the process is killed."""
    (folder / "stuck").write_text(str(os.getpid()))
    threading.Event().wait()


class RecordingWriter:
    """A write backend that appends every write to ``writes.log`` (what the cluster saw) and, with
    ``stop_after_write``, never returns from the first one (the kill lands after the write)."""

    def __init__(self, inner: WriteBackend, folder: Path, *, stop_after_write: bool) -> None:
        self._inner, self._folder, self._stop = inner, folder, stop_after_write

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name.startswith(("dry_run", "_")):
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            with open(self._folder / "writes.log", "a") as log:
                log.write(f"{os.getpid()} {name} {args!r}\n")
                log.flush()
                os.fsync(log.fileno())
            if self._stop:
                stuck(self._folder)
            return result

        return write


def recording_backends(settings: Settings, folder: Path, *, stop_after_write: bool) -> Backends:
    sim = sim_backends(settings)
    writer = sim.writer
    return Backends(
        reader=sim.reader,
        writer=lambda: RecordingWriter(writer(), folder, stop_after_write=stop_after_write),
        sleep=sim.sleep,
        verify_timeout_s=sim.verify_timeout_s,
        verify_interval_s=sim.verify_interval_s,
    )


def main(mode: str, database_url: str, slack_api_url: str, folder: Path) -> None:
    settings = settings_for(database_url, slack_api_url)
    store = Store.open(database_url)
    backends = recording_backends(settings, folder, stop_after_write=mode == "execute")
    services = build_services(settings, store=store, backends=backends)
    fast = scripted_investigator(load_policy(None), [RESTART])

    def investigate(incident: str, on_step: StepCallback) -> Trajectory:
        if mode == "investigate" and "hang" in incident:
            on_step(TrajectoryStep(index=1, step=Step(action_type="probe", tool="get_pods", summary="pods")))
            stuck(folder)
        return fast(incident, on_step)

    services.investigate = investigate
    runtime = build_runtime(settings, services)
    server = serve_in_thread(
        build_web_app(
            runtime.bolt, services, alert_token=None, signing_secret=settings.slack_signing_secret or ""
        )
    )
    (folder / "url").write_text(server.url)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))
