"""A whole-request time limit for the ``openai`` client's HTTP requests.

Why: the client's ``timeout`` is a limit on each network *read*, not on the request. A server (or a
gateway in front of it) that sends its answer a few bytes at a time — keep-alive whitespace while a
long generation runs, a congested proxy — keeps every read under the limit and can hold one planner
step far past the investigation's deadline. This module stamps each request with a deadline when it
is sent (the request's read timeout, which the planner sets to what is left of its budget) and checks
it between the chunks of the response body; past it, the body read fails with ``ReadTimeout``, which
the client reports as a timeout like any other. The check runs between chunks, so a request can
overrun by at most one gap between two chunks (itself under the read timeout).

It works through the HTTP client's event hooks, not a replacement transport, so the proxies the
client takes from the environment (``HTTPS_PROXY``) keep working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx2


class _DeadlineStream(httpx2.SyncByteStream):
    """The response body, failing with ``ReadTimeout`` once the request's deadline has passed."""

    def __init__(
        self,
        inner: httpx2.SyncByteStream,
        deadline: float,
        limit: float,
        request: httpx2.Request,
        clock: Callable[[], float],
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._limit = limit
        self._request = request
        self._clock = clock

    def _check(self) -> None:
        if self._clock() > self._deadline:
            raise httpx2.ReadTimeout(
                f"the response took longer than {self._limit:.1f}s in all (it was still arriving)",
                request=self._request,
            )

    def __iter__(self) -> Iterator[bytes]:
        self._check()
        for chunk in self._inner:
            self._check()
            yield chunk

    def close(self) -> None:
        self._inner.close()


_DEADLINE = "aoi.request_deadline"  # (deadline, limit) in the request's extensions


class RequestDeadline:
    """Event hooks that bound each request, headers to last body byte, by its read timeout.

    The deadline lives in the request's ``extensions``, which httpx hands on to a redirected
    request: following redirects does not restart the clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock

    def on_request(self, request: httpx2.Request) -> None:
        limit = request.extensions.get("timeout", {}).get("read")
        if limit is not None:  # no timeout asked for: nothing to bound
            request.extensions.setdefault(_DEADLINE, (self._clock() + float(limit), float(limit)))

    def on_response(self, response: httpx2.Response) -> None:
        stamped = response.request.extensions.get(_DEADLINE)
        if stamped is None or not isinstance(response.stream, httpx2.SyncByteStream):
            return
        deadline, limit = stamped
        response.stream = _DeadlineStream(response.stream, deadline, limit, response.request, self._clock)

    def hooks(self) -> dict[str, list[Callable[..., None]]]:
        """The ``event_hooks`` argument for an ``httpx2.Client``."""
        return {"request": [self.on_request], "response": [self.on_response]}
