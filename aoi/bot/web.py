"""The web process (``aoi bot``): Slack's HTTP endpoint, the Alertmanager webhook, health and metrics.

One ASGI app (Starlette) under uvicorn. Slack requests go through slack_bolt's Starlette adapter
conversions into the one sync Bolt ``App``. Events API requests are verified and acked on the event
loop with no store work; their listeners run afterwards on the bounded follow-up queue
(``aoi.bot.followups``), which answers 503 "busy" when full so that Slack retries. Interactivity and
slash commands are dispatched in Starlette's thread pool. Listeners hand long work (investigations,
executions) to the task runner, so the 3-second ack never waits.

Endpoints:
- ``POST /slack/events`` — Events API, interactivity and slash commands (signature-checked by Bolt;
  a bad or stale signature is answered 401);
- ``POST /alerts`` — Alertmanager webhook v4 (optional bearer token ``AOI_ALERT_TOKEN``);
- ``GET /healthz`` — 200 when the store answers, 503 otherwise;
- ``GET /metrics`` — Prometheus text format.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from anyio import CapacityLimiter, to_thread
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aoi.bot.followups import EVENTS_BUSY, FollowUpQueue, ListenerExecutor, events_lane
from aoi.handlers.alert_payload import AlertPayloadError, parse_alertmanager_payload
from aoi.handlers.alerts import AlertsNotConfigured, AlertThreadNotReady, handle_alertmanager_webhook
from aoi.handlers.context import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
HTTP_REQUESTS = Counter("aoi_http_requests_total", "HTTP requests, by route and status", ["route", "status"])
HTTP_SECONDS = Histogram(
    "aoi_http_request_seconds",
    "Time to answer an HTTP request (for /slack/events: the ack latency)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
)

ALERTS_OFF_HELP = (
    "alerts are off: set AOI_ALERT_TOKEN on AOI and the same value as Alertmanager's "
    "http_config.authorization.credentials (the endpoint opens threads and runs investigations)"
)
ALERT_THREADS = 4  # alert webhooks handled at once; more wait for a free one
ALERT_TOKEN_HELP = (
    "missing or wrong bearer token: set Alertmanager's http_config.authorization.credentials "
    "to the value of AOI_ALERT_TOKEN"
)

Endpoint = Callable[[Request], Awaitable[Response]]


def _timed(route: str, endpoint: Endpoint) -> Endpoint:
    async def wrapper(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await endpoint(request)
        except Exception:  # the server answers 500: counted like any other answer
            HTTP_REQUESTS.labels(route, "500").inc()
            raise
        HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(route, str(response.status_code)).inc()
        return response

    return wrapper


def _too_large() -> Response:
    return JSONResponse({"ok": False, "error": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)


async def _read_body(request: Request) -> bytes | Response:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _too_large()
    # counted as it arrives: a chunked body declares no length, and buffering it whole first let a
    # few unauthenticated 150 MB requests take the process past its memory limit
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


# Parts of a Slack body that Bolt's middleware and AOI's listeners read as objects or lists of
# objects: a signed body where one of them is a string or a number is refused before dispatch.
_OBJECT_FIELDS = ("event", "user", "channel", "team", "container", "message", "view", "enterprise",
                  "function_data")  # fmt: skip
_EVENT_OBJECT_FIELDS = ("message", "previous_message", "item")
_LIST_OF_OBJECTS = ("actions", "authorizations", "response_urls")
_STRING_FIELDS = ("type", "event_id", "command")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def shape_problem(body: object) -> str | None:
    """Why a parsed Slack body cannot be dispatched (``None`` when it can).

    Bolt assumes Slack's shapes (``body["event"].get(...)``) and answers 500 with a traceback in the
    logs otherwise; AOI answers 400 naming the field instead.
    """
    if not isinstance(body, dict):
        return f"the body is a JSON {_kind(body)}, expected an object"
    for key in _OBJECT_FIELDS:
        if key in body and not isinstance(body[key], dict):
            return f"field {key!r} is a {_kind(body[key])}, expected an object"
    for key in _EVENT_OBJECT_FIELDS:
        value = body.get("event", {}).get(key)
        if value is not None and not isinstance(value, dict):
            return f"field 'event.{key}' is a {_kind(value)}, expected an object"
    for key in _LIST_OF_OBJECTS:
        value = body.get(key)
        if key in body and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            return f"field {key!r} is a {_kind(value)}, expected a list of objects"
    for key in _STRING_FIELDS:
        if key in body and not isinstance(body[key], str):
            return f"field {key!r} is a {_kind(body[key])}, expected a string"
    if body.get("type") == "block_actions":  # Bolt's matchers read each action's action_id
        for index, action in enumerate(body.get("actions") or []):
            action_id = action.get("action_id")
            if not isinstance(action_id, str):
                return f"field 'actions.{index}.action_id' is a {_kind(action_id)}, expected a string"
    if body.get("type") in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str):
            return f"a {body['type']} payload needs 'view' with a string 'type' (e.g. 'modal')"
    return None


def parse_slack_body(body: bytes, content_type: str) -> tuple[object, str | None]:
    """The body as Bolt will parse it, and why it cannot be dispatched (``None`` when it can)."""
    try:
        parsed: object = parse_body(body.decode(), content_type or None)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # not UTF-8, not JSON, too deep
        return None, (
            f"unreadable Slack request body ({type(exc).__name__}): expected JSON (Events API) or a "
            "form (interactivity, slash commands)"
        )
    return parsed, shape_problem(parsed)


def _is_events_api(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


class _Lane:
    """A thread-pool lane apart from the shared one; its limiter is made on first use, inside the
    event loop (anyio makes one only there)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiter: CapacityLimiter | None = None

    def __call__(self) -> CapacityLimiter:
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.threads)
        return self._limiter


def _follow_ups(bolt_app: App) -> FollowUpQueue | None:
    executor = bolt_app.listener_runner.listener_executor
    return executor.follow_ups if isinstance(executor, ListenerExecutor) else None


def build_web_app(
    bolt_app: App,
    services: Services,
    alert_token: str | None = None,
    *,
    inline_events: bool = True,
    on_shutdown: Callable[[], None] | None = None,
    signing_secret: str,
) -> Starlette:
    """The ASGI application of ``aoi bot`` (also what tests and the benchmark serve on port 0).

    Events API requests (JSON bodies) are dispatched on the event loop: Bolt acks an event before any
    listener code runs and hands the listener to its own pool, so dispatching one is a few hundred
    microseconds of CPU with no I/O, and skipping the thread-pool round trip keeps ack latency low
    under load. Their listeners go to the app's bounded follow-up queue (``aoi.bot.followups``, when
    the Bolt app was built with its ``ListenerExecutor``); when that is full, a correctly signed event
    is answered 503 before dispatch — nothing claimed, so Slack's retry of it is handled — and
    counted in ``aoi_slack_events_busy_total``. Interactivity and slash commands (form bodies) run
    their listener's ``ack()`` inside dispatch, so they go through the thread pool.

    The lifespan's startup freezes the objects of the wired process out of the cyclic GC (see
    ``lifespan``). ``on_shutdown`` runs in the server's graceful shutdown (lifespan), after the last
    request: it is where the runtime lets in-flight investigations and fixes finish.
    """

    # the same secret Bolt verifies with (``SLACK_SIGNING_SECRET``): the pre-dispatch checks (busy
    # answer, body shape) must never answer a forged request as anything but 401
    verifier = SignatureVerifier(signing_secret)
    follow_ups = _follow_ups(bolt_app)
    alert_lane, health_lane = _Lane(ALERT_THREADS), _Lane(1)
    if alert_token is None:
        log.warning("POST /alerts answers 503 until AOI_ALERT_TOKEN is set (and given to Alertmanager)")

    def unsigned(body: bytes, request: Request) -> Response | None:
        try:
            if verifier.is_valid_request(body, dict(request.headers)):
                return None
        except ValueError:  # a timestamp header that is not a number
            pass
        return JSONResponse({"ok": False, "error": "invalid or stale Slack signature"}, status_code=401)

    def dispatch_event(bolt_request: BoltRequest, body: bytes, request: Request) -> Response:
        if follow_ups is None:
            return to_starlette_response(bolt_app.dispatch(bolt_request))
        follow_ups.note_ack()
        if not follow_ups.has_room():
            refused = unsigned(body, request)
            if refused is not None:
                return refused
            EVENTS_BUSY.inc()
            log.warning(
                "busy: %d event follow-ups queued; answering 503 so that Slack retries the delivery",
                follow_ups.pending(),
            )
            return JSONResponse(
                {"ok": False, "error": "busy: too many events queued, retry later"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        with events_lane():
            return to_starlette_response(bolt_app.dispatch(bolt_request))

    async def slack_events(request: Request) -> Response:
        body = await _read_body(request)
        if isinstance(body, Response):
            return body
        # the signature first: nothing an unsigned request carries is parsed or handed to Bolt
        refused = unsigned(body, request)
        if refused is not None:
            return refused
        _, problem = parse_slack_body(body, request.headers.get("content-type", ""))
        if problem is not None:
            return JSONResponse({"ok": False, "error": problem}, status_code=400)
        bolt_request = to_bolt_request(request, body)
        if inline_events and _is_events_api(request):
            return dispatch_event(bolt_request, body, request)
        return to_starlette_response(await run_in_threadpool(bolt_app.dispatch, bolt_request))

    async def alerts(request: Request) -> Response:
        if alert_token is None:  # closed unless configured: it opens threads and runs investigations
            return JSONResponse({"ok": False, "error": ALERTS_OFF_HELP}, status_code=503)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {alert_token}".encode()):
            return JSONResponse({"ok": False, "error": ALERT_TOKEN_HELP}, status_code=401)
        if not request.headers.get("content-type", "").startswith("application/json"):
            error = "Alertmanager sends Content-Type: application/json"
            return JSONResponse({"ok": False, "error": error}, status_code=415)
        body = await _read_body(request)
        if isinstance(body, Response):
            return body
        try:
            webhook = parse_alertmanager_payload(json.loads(body or b"null"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"ok": False, "error": f"body is not JSON: {exc}"}, status_code=400)
        except RecursionError:
            return JSONResponse({"ok": False, "error": "body is nested too deeply"}, status_code=400)
        except AlertPayloadError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        try:
            # a lane of its own: a storm of alerts (each posts to Slack) must not take the threads
            # slash commands, clicks and the health check need
            threads = await to_thread.run_sync(
                handle_alertmanager_webhook, services, bolt_app.client, webhook, limiter=alert_lane()
            )
        except (AlertsNotConfigured, AlertThreadNotReady) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=503)
        except Exception as exc:  # Slack or the store failed: 5xx makes Alertmanager retry later
            log.exception("alert webhook failed")
            # the caller learns the kind of failure, not the store's host and port (those are in the log)
            error = f"could not post the alert ({type(exc).__name__}); AOI's log has the details"
            return JSONResponse({"ok": False, "error": error}, status_code=502)
        return JSONResponse({"ok": True, "threads": threads})

    async def healthz(request: Request) -> Response:
        problem = await to_thread.run_sync(services.health_problem, limiter=health_lane())
        if problem:
            # anyone may ask: the database's address and the driver's text go to the log, not the caller
            log.error("health check failed: %s", problem)
            return JSONResponse({"ok": False, "error": "the database is unreachable"}, status_code=503)
        return JSONResponse({"ok": True})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/slack/events", _timed("/slack/events", slack_events), methods=["POST"]),
        Route("/alerts", _timed("/alerts", alerts), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything imported and wired so far lives as long as the process: freezing it keeps the
        # collector's full passes off it. Measured under load, one full pass over the unfrozen heap
        # stalled the event loop (and every ack in flight) for ~100 ms.
        gc.freeze()
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    return Starlette(routes=routes, lifespan=lifespan)


@dataclass
class RunningServer:
    """A uvicorn server running in a background thread (tests, the benchmark)."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``app`` under uvicorn in a thread and return once it accepts connections.

    ``port=0`` picks a free port; the returned ``url`` has the real one.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="aoi-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    return RunningServer(server=server, thread=thread, url=f"http://{bound[0]}:{bound[1]}")


def serve(app: Starlette, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` in the foreground (``aoi bot``) until SIGINT/SIGTERM; the graceful shutdown runs
    the app's lifespan shutdown (see ``build_web_app``) before the process exits."""
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False, lifespan="on")


def create_app() -> Starlette:
    """App factory for ``aoi bot --workers N``: each uvicorn worker process wires its own runtime from
    settings and closes it when the process shuts down."""
    from aoi.bot.app import build_runtime
    from aoi.bot.settings import get_settings

    settings = get_settings()
    runtime = build_runtime(settings)
    return build_web_app(
        runtime.bolt,
        runtime.services,
        alert_token=settings.alert_token,
        on_shutdown=runtime.close,
        signing_secret=settings.slack_signing_secret or "",
    )


def serve_workers(workers: int, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``workers`` processes sharing one listening socket (uvicorn's process manager)."""
    uvicorn.run(
        "aoi.bot.web:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        lifespan="on",
    )
