"""``aoi sim``: run a simulated incident behind real network APIs.

``aoi sim serve --problem ID [--suite FILE] [--port P]`` builds the problem's cluster (app deployed,
fault applied) and serves it until Ctrl-C: a Kubernetes API over TLS for ``kubectl`` and the official
clients, and Prometheus + Jaeger APIs on a plain-HTTP port. It writes a kubeconfig with a read-only
context (current) and a write context and prints how to point ``kubectl`` and AOI's ``kubernetes``
backend at it. When it stops, a mitigation problem's end state is graded. With ``--clock realtime``
(default) the simulated clock follows the wall clock, so crash loops keep restarting and metrics
keep flowing; ``--clock frozen`` keeps it still.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="The simulated cloud: serve a problem's cluster over real network APIs.", no_args_is_help=True
)

SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


def _load(problem_id: str, suite: Path | None) -> Any:
    from aoi.sim import ProblemError, load_problem

    try:
        return load_problem(problem_id, suite if suite is not None else "aiopslab")
    except ProblemError as exc:
        raise typer.BadParameter(str(exc), param_hint="--problem / --suite") from exc


def _tick(cluster: Any, lock: threading.RLock, stop: threading.Event, interval_s: float = 1.0) -> None:
    """Advance the simulated clock by the wall time that passed, under the server's lock."""
    last = time.monotonic()
    while not stop.wait(interval_s):
        now = time.monotonic()
        with lock:
            cluster.advance(now - last)
        last = now


@app.command("serve")
def serve(
    problem: str = typer.Option(
        ..., "--problem", "-p", help="Problem id, e.g. k8s_target_port-misconfig-mitigation-1"
    ),
    suite: Path | None = typer.Option(
        None, "--suite", help="A problem file (JSON/YAML) instead of the aiopslab suite"
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Kubernetes API port (0: a free one)"),
    telemetry_port: int | None = typer.Option(
        None,
        "--telemetry-port",
        min=0,
        max=65535,
        help="Prometheus/Jaeger port (default: --port + 1, or free)",
    ),
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="Where to write the kubeconfig (a new file; never over an existing one)"
    ),
    clock: str = typer.Option(
        "realtime", "--clock", help="realtime: the simulated clock follows wall time; frozen"
    ),
) -> None:
    """Serve one problem's simulated cluster on 127.0.0.1 until Ctrl-C."""
    from aoi.bot.settings import get_settings
    from aoi.sim import SimCluster
    from aoi.sim.api.server import READ_CONTEXT, WRITE_CONTEXT, SimApiServer

    if clock not in ("realtime", "frozen"):
        raise typer.BadParameter(f"expected realtime or frozen, got {clock!r}", param_hint="--clock")
    if kubeconfig is not None and kubeconfig.exists():  # e.g. ~/.kube/config: the user's real contexts
        raise typer.BadParameter(
            f"{kubeconfig} already exists; AOI never writes over a kubeconfig (choose a new path)",
            param_hint="--kubeconfig",
        )
    chosen = _load(problem, suite)
    cluster = SimCluster.from_problem(chosen)
    if port == 65535 and telemetry_port is None:
        raise typer.BadParameter("the telemetry port defaults to --port + 1: pass --telemetry-port too")
    telemetry = telemetry_port if telemetry_port is not None else (port + 1 if port else 0)
    try:
        server = SimApiServer(cluster, port=port, telemetry_port=telemetry)
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="--port / --telemetry-port") from exc
    server.start()
    path = kubeconfig or get_settings().data_dir / "sim" / f"kubeconfig-{server.port}.yaml"
    try:
        server.write_kubeconfig(path)
    except OSError as exc:
        server.stop()
        raise typer.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}", param_hint="--kubeconfig"
        ) from None
    namespaces = [
        n["metadata"]["name"]
        for n in cluster.list_objects("Namespace")
        if n["metadata"]["name"] not in SYSTEM_NAMESPACES
    ]
    ns = namespaces[0] if namespaces else "default"
    env = (
        f"AOI_BACKEND=kubernetes AOI_KUBECONFIG_READ={path} AOI_KUBE_CONTEXT_READ={READ_CONTEXT} "
        f"AOI_KUBECONFIG_WRITE={path} AOI_KUBE_CONTEXT_WRITE={WRITE_CONTEXT} "
        f"AOI_PROMETHEUS_URL={server.telemetry_url} AOI_JAEGER_URL={server.telemetry_url}"
    )
    typer.echo(
        f"Serving problem {chosen.id} ({chosen.app}, namespace {ns}); clock {clock}. Ctrl-C stops it.\n"
        f"  Kubernetes API  {server.url}\n"
        f"  Prometheus API  {server.telemetry_url}  (/api/v1/query, /api/v1/query_range, /api/v1/series)\n"
        f"  Jaeger API      {server.telemetry_url}  (/api/services, /api/traces)\n"
        f"  kubeconfig      {path}  (contexts {READ_CONTEXT} [current, read-only], {WRITE_CONTEXT})\n\n"
        f"  export KUBECONFIG={path}\n"
        f"  kubectl get pods -n {ns}\n"
        f"  kubectl --context {WRITE_CONTEXT} -n {ns} rollout restart deployment/<name>\n"
        f"  AOI on it: {env} aoi diagnose --problem {chosen.id} --backend kubernetes\n"
    )
    stop = threading.Event()
    ticker = threading.Thread(
        target=_tick, args=(cluster, server.lock, stop), name="aoi-sim-clock", daemon=True
    )
    if clock == "realtime":
        ticker.start()
    try:
        server.serve_forever()
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join(timeout=5)
    typer.echo("Stopped the simulated cluster.")
    if chosen.task == "mitigation":
        from aoi.sim import grade

        result = grade(chosen, cluster, {})
        verdict = "passes" if result.success else "does not pass"
        typer.echo(f"Its end state {verdict} the mitigation check: {result.details}")
