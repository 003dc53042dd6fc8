"""The Bolt app and the runtime around it: one ``WebClient`` with retries, one sync ``App``, one runner.

The execution model is Bolt's sync ``App`` with ``process_before_response=False``: Bolt acks each
request as soon as the listener calls ``ack()`` (events are acked before the listener runs), then the
listener finishes on Bolt's listener executor and hands long work to the task runner. Events API
listeners go to a bounded follow-up queue served by a small pool that yields to acks
(``aoi.bot.followups``: why, and what happens when it is full); interactivity and commands, which ack
from inside their listener, to a thread pool. The same ``App``
serves HTTP (``aoi bot``, through the Starlette adapter) and Socket Mode (``aoi worker``).

Web API calls are retried by slack_sdk's retry handlers: connection errors, HTTP 429 (sleeping for
``Retry-After``) and 5xx (exponential backoff with jitter).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

from aoi.bot.followups import FollowUpQueue, ListenerExecutor
from aoi.bot.runners import InProcessRunner, RQRunner
from aoi.bot.services import build_services
from aoi.bot.settings import Settings
from aoi.handlers import register_all, run_task
from aoi.handlers.context import Services
from aoi.handlers.tasks import TaskRunner

log = logging.getLogger(__name__)
LISTENER_THREADS = 16


class SlackConfigError(ValueError):
    """A Slack credential the chosen mode needs is missing."""


def check_http_settings(settings: Settings) -> None:
    """Raise ``SlackConfigError`` naming what ``aoi bot`` (HTTP mode) is missing."""
    if not settings.slack_bot_token:
        raise SlackConfigError(
            "SLACK_BOT_TOKEN is not set: create the app from manifest.yaml and copy its xoxb- token"
        )
    if not settings.slack_signing_secret:
        raise SlackConfigError(
            "SLACK_SIGNING_SECRET is not set: copy it from the app's Basic Information page"
        )


def build_web_client(settings: Settings) -> WebClient:
    """The Slack Web API client (``SLACK_API_URL``), retrying connection errors, 429s and 5xx."""
    if not settings.slack_bot_token:
        raise SlackConfigError(
            "SLACK_BOT_TOKEN is not set: create the app from manifest.yaml and copy its xoxb- token"
        )
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=3, interval_calculator=backoff),
        ],
    )


def build_bolt_app(
    settings: Settings,
    services: Services,
    client: WebClient,
    *,
    socket_mode: bool = False,
    listener_executor: ListenerExecutor | None = None,
) -> App:
    """The one Bolt ``App`` with every AOI listener. HTTP mode requires ``SLACK_SIGNING_SECRET``
    (every request is signature-checked; stale timestamps are refused); Socket Mode does not."""
    if not socket_mode and not settings.slack_signing_secret:
        raise SlackConfigError(
            "SLACK_SIGNING_SECRET is not set: copy it from the app's Basic Information page"
        )
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        request_verification_enabled=not socket_mode,
        process_before_response=False,
        listener_executor=listener_executor or build_listener_executor(),
        raise_error_for_unhandled_request=False,
    )
    register_all(app, services)
    return app


def build_listener_executor() -> ListenerExecutor:
    """Bolt's listener executor: the bounded follow-up queue for events, a pool for the rest."""
    interactive = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="aoi-listener")
    return ListenerExecutor(FollowUpQueue(), interactive)


def make_runner(settings: Settings, services: Services, client: WebClient) -> TaskRunner:
    """``rq`` on Redis when ``AOI_QUEUE_URL`` is set, else an in-process thread pool."""
    if settings.queue_url:
        return RQRunner(settings.queue_url)
    return InProcessRunner(lambda task: run_task(services, client, task), settings.worker_threads)


@dataclass
class Runtime:
    """Everything one process needs to serve Slack: settings, services, the client and the app."""

    settings: Settings
    services: Services
    client: WebClient
    bolt: App
    listeners: ListenerExecutor

    def close(self) -> None:
        """Drain queued event follow-ups, let running listeners and tasks finish, then release the
        store's connections and stop the policy file's background reader."""
        self.listeners.shutdown(wait=True)
        if self.services.runner is not None:
            self.services.runner.close()
        self.services.store.dispose()
        self.services.close()


def build_runtime(
    settings: Settings,
    services: Services | None = None,
    *,
    socket_mode: bool = False,
    listeners: ListenerExecutor | None = None,
) -> Runtime:
    """Wire a process: services (unless given), the Web API client, the runner and the Bolt app
    (``listeners``: its listener executor, ``build_listener_executor()`` unless given)."""
    services = services or build_services(settings)
    client = build_web_client(settings)
    if services.runner is None:
        services.runner = make_runner(settings, services, client)
    listeners = listeners or build_listener_executor()
    bolt = build_bolt_app(settings, services, client, socket_mode=socket_mode, listener_executor=listeners)
    return Runtime(settings=settings, services=services, client=client, bolt=bolt, listeners=listeners)
