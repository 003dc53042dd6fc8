"""``aoi bot`` (the web process) and ``aoi worker`` (Socket Mode, queue workers, scheduler)."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(add_completion=False)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s",
        force=True,
    )


@app.command("bot")
def bot(
    host: str = typer.Option("0.0.0.0", help="Interface to listen on"),
    port: int | None = typer.Option(None, help="Port (default: $PORT, else 3000)"),
    workers: int = typer.Option(
        1, min=1, max=64, help="Web processes (needs AOI_QUEUE_URL or a real cluster)"
    ),
) -> None:
    """Serve Slack (POST /slack/events), Alertmanager (POST /alerts), /healthz and /metrics over HTTP."""
    from aoi.bot.app import SlackConfigError, build_runtime, check_http_settings
    from aoi.bot.settings import get_settings
    from aoi.bot.web import build_web_app, serve, serve_workers
    from aoi.policies import PolicyError, load_policy

    settings = get_settings()
    _configure_logging(settings.log_level)
    if workers > 1:
        if not settings.queue_url and settings.backend == "sim":
            typer.echo(
                "error: --workers > 1 needs AOI_QUEUE_URL: without a queue, investigations and fixes run "
                "inside each web process, and each would hold its own copy of the simulated cluster",
                err=True,
            )
            raise typer.Exit(2)
        try:
            check_http_settings(settings)
            load_policy(settings.policy_file)  # each web process loads it: fail here, once, with a reason
        except (SlackConfigError, PolicyError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        serve_workers(workers, host, port or settings.port, settings.log_level)
        return
    try:
        runtime = build_runtime(settings)
    except (
        SlackConfigError,
        PolicyError,
    ) as exc:  # AOI_POLICY_FILE missing or invalid: a line, not a traceback
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    web = build_web_app(
        runtime.bolt,
        runtime.services,
        alert_token=settings.alert_token,
        on_shutdown=runtime.close,
        signing_secret=settings.slack_signing_secret or "",
    )
    serve(web, host, port or settings.port, settings.log_level)


@app.command("worker")
def worker(
    queue: str = typer.Option(
        "all", help="Queues to consume with AOI_QUEUE_URL: all|investigations|executions|none"
    ),
    scheduler: bool = typer.Option(True, help="Run the periodic jobs here (exactly one process should)"),
    retrain: bool = typer.Option(True, help="Include the weekly retrain (AOI_RETRAIN_CRON) in the scheduler"),
    burst: bool = typer.Option(False, help="Exit once the queues are empty (tests, one-off drains)"),
) -> None:
    """Run Socket Mode (with SLACK_APP_TOKEN), the investigation/execution workers and the scheduler."""
    from aoi.bot.app import SlackConfigError
    from aoi.bot.settings import get_settings
    from aoi.bot.worker import queues_for, run_worker

    settings = get_settings()
    _configure_logging(settings.log_level)
    try:
        queues = queues_for(queue)
        run_worker(settings, queues=queues, scheduler=scheduler, retrain=retrain, burst=burst)
    except (SlackConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
