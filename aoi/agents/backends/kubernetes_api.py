"""Shared plumbing of the Kubernetes backend: typed-client dispatch returning raw JSON, and errors.

Both ``KubernetesReadBackend`` and ``KubernetesWriteBackend`` build an ``Objects`` over *their own*
``ApiClient``; nothing here holds credentials. Responses are read with ``_preload_content=False`` so
callers get the API server's JSON exactly (what ``kubectl get -o json`` prints), not client models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from aoi.agents.backends.base import BackendError, ForbiddenError, NotFoundError, UnsupportedError

CORE_KINDS = {
    "Pod", "Service", "Endpoints", "ConfigMap", "Secret", "Event", "PersistentVolumeClaim",
    "PersistentVolume", "Node", "Namespace",
}  # fmt: skip
APPS_KINDS = {"Deployment", "ReplicaSet", "StatefulSet"}
CLUSTER_KINDS = {"PersistentVolume", "Node", "Namespace"}


def _snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _status_message(exc: ApiException) -> str:
    body = exc.body.decode() if isinstance(exc.body, bytes) else (exc.body or "")
    try:
        message = json.loads(body).get("message", body)
    except (json.JSONDecodeError, AttributeError):
        message = body
    return f"Kubernetes API {exc.status} {exc.reason}: {message or '(no body)'}"


@contextmanager
def translated() -> Iterator[None]:
    """ApiException / transport errors → BackendError with the server's full message."""
    try:
        yield
    except ApiException as exc:
        message = _status_message(exc)
        handshake = re.search(r"Handshake status (\d+)", str(exc.reason))  # websocket (exec) refusals
        status = int(handshake.group(1)) if handshake else exc.status
        if status == 404:
            raise NotFoundError(message) from exc
        if status in (401, 403):
            raise ForbiddenError(message) from exc
        raise BackendError(message) from exc
    except (OSError, ValueError, HTTPError) as exc:  # connection errors, timeouts, retries exhausted
        raise BackendError(
            f"Kubernetes API unreachable or invalid response: {type(exc).__name__}: {exc}"
        ) from exc


PAGE_SIZE = 500  # items per list request, kubectl's --chunk-size default
MAX_LIST_ITEMS = 5_000  # a list longer than this is refused with advice to narrow it
REQUEST_TIMEOUT = (5.0, 10.0)  # urllib3 retries a read 3 more times: 40 s at worst


class Objects:
    """Generic typed-client dispatch: ``list|read|patch|delete`` for any supported kind, as raw JSON."""

    def __init__(self, api_client: k8s.ApiClient, timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.apps = k8s.AppsV1Api(api_client)
        self.timeout = timeout  # (connect, read) seconds for every call: an API that accepts and never
        # answers must fail the tool call, not hang the investigation (its deadline is checked between steps)

    def _method(
        self, verb: str, kind: str, namespaced: bool, all_namespaces: bool = False
    ) -> Callable[..., Any]:
        if kind not in CORE_KINDS and kind not in APPS_KINDS:
            supported = ", ".join(sorted(CORE_KINDS | APPS_KINDS))
            raise UnsupportedError(
                f"kind {kind!r} is not supported by the Kubernetes backend; use one of {supported}"
            )
        api: Any = self.apps if kind in APPS_KINDS else self.core
        snake = _snake(kind)
        if kind in CLUSTER_KINDS:
            name = f"{verb}_{snake}"
        elif all_namespaces:
            name = f"{verb}_{snake}_for_all_namespaces"
        else:
            name = f"{verb}_namespaced_{snake}"
        if kind not in CLUSTER_KINDS and not namespaced and not all_namespaces:
            raise BackendError(f"{kind} is namespaced: give a namespace")
        return getattr(api, name)

    @staticmethod
    def json(response: Any) -> Any:
        return json.loads(response.data)

    def list(
        self, kind: str, namespace: str | None, label_selector: str | None, field_selector: str | None
    ) -> Any:
        """The whole list, fetched in pages of ``PAGE_SIZE`` (as ``kubectl get`` chunks): one request for
        every pod of a large cluster can outlast the read timeout and hold hundreds of MB. Past
        ``MAX_LIST_ITEMS`` the read fails with a message that says how to narrow it, since a table
        of thousands of rows would not fit a prompt anyway and a silently cut one would mislead."""
        selectors = {"label_selector": label_selector, "field_selector": field_selector}
        kwargs: dict[str, Any] = {k: v for k, v in selectors.items() if v}
        kwargs["_request_timeout"] = self.timeout
        kwargs["limit"] = PAGE_SIZE
        args: tuple[str, ...] = ()
        if kind in CLUSTER_KINDS:
            method = self._method("list", kind, False)
        elif namespace is None:
            method = self._method("list", kind, False, all_namespaces=True)
        else:
            method, args = self._method("list", kind, True), (namespace,)
        body = self.json(method(*args, _preload_content=False, **kwargs))
        items = list(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue")
        while token:
            if len(items) >= MAX_LIST_ITEMS:
                where = f"in namespace {namespace}" if namespace else "across all namespaces"
                raise BackendError(
                    f"more than {MAX_LIST_ITEMS:,} {kind} objects {where}: narrow the read with a "
                    "namespace or a label/field selector"
                )
            page = self.json(method(*args, _preload_content=False, _continue=token, **kwargs))
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
        body["items"] = items
        body.setdefault("metadata", {}).pop("continue", None)
        return body

    def call(self, verb: str, kind: str, namespace: str | None, name: str, *args: Any, **kwargs: Any) -> Any:
        method = self._method(verb, kind, namespace is not None)
        positional = (name,) if kind in CLUSTER_KINDS else (name, namespace)
        kwargs.setdefault("_request_timeout", self.timeout)
        return self.json(method(*positional, *args, _preload_content=False, **kwargs))
