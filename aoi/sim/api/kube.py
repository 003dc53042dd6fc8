"""Kubernetes REST routes over a simulated cluster: discovery, list/get, patch, scale, logs, delete.

Paths (core group ``/api/v1``, named groups ``/apis/<group>/<version>``)::

    GET    /version  /api  /api/v1  /apis  /apis/apps  /apis/apps/v1            discovery
    GET    .../<plural>  .../namespaces/<ns>/<plural>                          list (+ Table)
    GET    .../<plural>/<name>  .../namespaces/<ns>/<plural>/<name>            get (+ Table)
    PATCH  .../<name>        merge / strategic-merge / json-patch; ?dryRun=All
    DELETE .../<name>        e.g. a pod (its controller recreates it); ?dryRun=All
    GET    .../pods/<name>/log?container=&tailLines=&sinceSeconds=&previous=&limitBytes=
    GET|PATCH|PUT .../<deployments|replicasets|statefulsets>/<name>/scale    autoscaling/v1 Scale

Every write goes through the cluster's own write methods, so symptoms, telemetry and the grader see
it. Errors are ``Status`` objects with the real server's codes and wording. The cluster is shared
with in-process users, so every call holds ``lock``.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from aoi.sim.api import resources as res
from aoi.sim.api.auth import READER_DENIED_RESOURCES, Credentials
from aoi.sim.api.cluster import ServedCluster
from aoi.sim.api.derived import get_derived, list_derived
from aoi.sim.api.scale import desired_replicas, scale_object
from aoi.sim.api.status import ApiError, forbidden, json_response, not_found
from aoi.sim.api.tables import to_table
from aoi.sim.errors import NotFound, SimError

log = logging.getLogger(__name__)

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}
_METHODS = ["GET", "PATCH", "PUT", "DELETE", "POST"]


@dataclass(frozen=True)
class Target:
    """What a resource URL names: a resource, maybe a namespace, an object and a subresource."""

    resource: res.Resource
    namespace: str | None
    name: str | None
    sub: str | None


def resolve(group_version: str, rest: str) -> Target:
    """Parse ``[namespaces/<ns>/]<plural>[/<name>[/<sub>]]``; 404 Status for anything else."""
    parts = [p for p in rest.split("/") if p]
    namespace: str | None = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    if not parts or len(parts) > 3:
        raise ApiError(404, "the server could not find the requested resource")
    resource = res.BY_PATH.get((group_version, parts[0]))
    if resource is None or (namespace is not None and not resource.namespaced):
        raise ApiError(404, "the server could not find the requested resource")
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if resource.namespaced and name is not None and namespace is None:
        raise ApiError(404, "the server could not find the requested resource")
    if sub is not None and sub not in resource.subresources:
        raise ApiError(404, f'{resource.api_resource} "{name}" has no subresource "{sub}"')
    return Target(resource, namespace, name, sub)


def _int_param(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(400, f"invalid value for query parameter {key}: {raw!r} is not an integer") from exc


def _true(request: Request, key: str) -> bool:
    return request.query_params.get(key, "").lower() in ("true", "1")


def _wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


def _page(request: Request, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """API chunking (``limit`` / ``continue``), as the API server does it for JSON lists: a page of at
    most ``limit`` items and, when more remain, an opaque ``continue`` token and ``remainingItemCount``.
    The token here is the offset into the (stably ordered) list; a malformed one is the server's 400."""
    limit = _int_param(request, "limit")
    token = request.query_params.get("continue") or ""
    start = 0
    if token:
        try:
            start = int(json.loads(base64.b64decode(token, validate=True))["offset"])
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"continue key is not valid: {token[:40]!r}") from exc
    if not limit or limit <= 0:
        return items[start:], {}
    end = start + limit
    if end >= len(items):
        return items[start:], {}
    next_token = base64.b64encode(json.dumps({"offset": end}).encode()).decode()
    return items[start:end], {"continue": next_token, "remainingItemCount": len(items) - end}


def _list_version(items: list[dict[str, Any]]) -> str:
    versions = [int(v) for i in items if str(v := i.get("metadata", {}).get("resourceVersion", "")).isdigit()]
    return str(max(versions, default=1))


class KubeApi:
    """The Kubernetes-compatible half of the simulator's HTTP face."""

    def __init__(self, cluster: ServedCluster, lock: threading.RLock, credentials: Credentials) -> None:
        self.cluster = cluster
        self.lock = lock
        self.credentials = credentials

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/version", self._discovery(lambda _r: res.SERVER_VERSION)),
            Route("/api", self._discovery(lambda r: res.api_versions(f"{r.url.hostname}:{r.url.port}"))),
            Route("/api/v1", self._discovery(lambda _r: res.resource_list("v1"))),
            Route("/apis", self._discovery(lambda _r: res.api_group_list())),
            Route("/apis/{group}", self._discovery(lambda r: res.api_group(r.path_params["group"]))),
            Route(
                "/apis/{group}/{version}",
                self._discovery(
                    lambda r: res.resource_list(f"{r.path_params['group']}/{r.path_params['version']}")
                ),
            ),
            Route("/api/v1/{rest:path}", self._core, methods=_METHODS),
            Route("/apis/{group}/{version}/{rest:path}", self._named, methods=_METHODS),
        ]

    def _discovery(self, build: Callable[[Request], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self.credentials.identify(request.headers.get("authorization"))
                body = build(request)
                if body is None:
                    raise ApiError(404, "the server could not find the requested resource")
                return json_response(body)
            except ApiError as exc:
                return exc.response()

        return endpoint

    async def _core(self, request: Request) -> Response:
        return await self._serve(request, "v1", request.path_params["rest"])

    async def _named(self, request: Request) -> Response:
        group_version = f"{request.path_params['group']}/{request.path_params['version']}"
        return await self._serve(request, group_version, request.path_params["rest"])

    async def _serve(self, request: Request, group_version: str, rest: str) -> Response:
        target: Target | None = None
        try:
            user, may_write = self.credentials.identify(request.headers.get("authorization"))
            target = resolve(group_version, rest)
            verb = self._verb(request, target)
            denied = target.resource.plural in READER_DENIED_RESOURCES
            if not may_write and (denied or verb not in ("get", "list")):
                raise forbidden(user, verb, target.resource, target.sub, target.name or "", target.namespace)
            body = await request.body() if request.method in ("PATCH", "PUT", "DELETE") else b""
            with self.lock:
                return self._handle(request, target, verb, body)
        except ApiError as exc:
            return exc.response()
        except NotFound as exc:
            if target is not None and target.name and target.sub is None:
                return not_found(target.resource, target.name).response()
            return ApiError(404, str(exc)).response()
        except SimError as exc:
            return ApiError(exc.code, str(exc), exc.reason).response()
        except (ValueError, KeyError, TypeError) as exc:
            return ApiError(422, f"{type(exc).__name__}: {exc}").response()
        except Exception as exc:  # the server must answer with a Status, never drop the connection
            log.exception("simulated API server error on %s %s", request.method, request.url.path)
            return ApiError(500, f"internal error in the simulated API server: {exc!r}").response()

    @staticmethod
    def _verb(request: Request, target: Target) -> str:
        method = request.method
        if method == "GET" and _true(request, "watch"):
            raise ApiError(
                405, "watch is not supported by the simulated API server; poll with get/list instead"
            )
        verb = {
            "GET": "get" if target.name else "list",
            "PATCH": "patch",
            "PUT": "update",
            "DELETE": "delete",
        }.get(method, "create")
        allowed = (
            target.resource.verbs
            if target.sub is None
            else res.subresource_verbs(target.resource, target.sub)
        )
        if verb not in allowed or (target.name is None and verb != "list"):
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource "
                f"({method} {target.resource.plural}{'/' + target.sub if target.sub else ''})",
                resource=target.resource,
                name=target.name,
            )
        return verb

    def _handle(self, request: Request, target: Target, verb: str, body: bytes) -> Response:
        kind, ns, name = target.resource.kind, target.namespace, target.name
        label_selector = request.query_params.get("labelSelector") or None
        field_selector = request.query_params.get("fieldSelector") or None
        if kind in res.DERIVED_KINDS:
            if verb == "list":
                items = list_derived(self.cluster, kind, ns, label_selector, field_selector)
                return self._objects(request, kind, items, single=False)
            return self._objects(
                request, kind, [get_derived(self.cluster, kind, ns, name or "")], single=True
            )
        if verb == "list":
            items = self.cluster.list_objects(
                kind, namespace=ns, label_selector=label_selector, field_selector=field_selector
            )
            return self._objects(request, kind, items, single=False)
        assert name is not None
        if target.sub == "log":
            return self._logs(request, ns or "", name)
        if target.sub == "scale":
            return self._scale(request, target, verb, body)
        if target.sub == "exec":
            raise ApiError(
                400, "pods/exec needs a websocket upgrade (v4.channel.k8s.io); SPDY is not supported"
            )
        if verb == "get":
            return self._objects(request, kind, [self.cluster.get_object(kind, ns, name)], single=True)
        if verb == "patch":
            patch_type = self._patch_type(request)
            patch = self._json_body(body)
            return json_response(
                self._cluster_for(request, b"").patch_object(kind, ns, name, patch, patch_type)
            )
        deleted = self._cluster_for(request, body).delete_object(kind, ns, name)
        if isinstance(deleted, dict) and deleted.get("kind"):
            return json_response(deleted)
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "kind": target.resource.plural},
            }
        )

    def _cluster_for(self, request: Request, body: bytes) -> ServedCluster:
        """The live cluster, or a throw-away deep copy for ``dryRun=All`` (query or DeleteOptions body)."""
        dry = request.query_params.get("dryRun") == "All"
        if not dry and body:
            try:
                options = json.loads(body)
                dry = isinstance(options, dict) and "All" in (options.get("dryRun") or [])
            except json.JSONDecodeError as exc:
                raise ApiError(400, f"invalid DeleteOptions body: {exc}") from exc
        return copy.deepcopy(self.cluster) if dry else self.cluster

    def _objects(self, request: Request, kind: str, items: list[dict[str, Any]], single: bool) -> Response:
        if _wants_table(request):
            include = request.query_params.get("includeObject", "Metadata")
            return json_response(to_table(kind, items, self.cluster.now(), include, _list_version(items)))
        if single:
            return json_response(items[0])
        resource = res.BY_KIND[kind]
        page, metadata = _page(request, items)
        return json_response(
            {
                "kind": f"{kind}List",
                "apiVersion": resource.group_version,
                "metadata": {"resourceVersion": _list_version(items), **metadata},
                "items": page,
            }
        )

    @staticmethod
    def _patch_type(request: Request) -> str:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type in PATCH_TYPES:
            return PATCH_TYPES[content_type]
        if content_type.startswith("application/apply-patch"):
            raise ApiError(
                415,
                "server-side apply is not supported by the simulated API server; use a merge, "
                "strategic-merge or JSON patch (kubectl patch, kubectl set, kubectl scale)",
            )
        raise ApiError(
            415,
            f"the body of the request was in an unknown format ({content_type or 'no Content-Type'}) "
            f"- accepted media types include: {', '.join(PATCH_TYPES)}",
        )

    @staticmethod
    def _json_body(body: bytes) -> Any:
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc

    def _logs(self, request: Request, namespace: str, pod: str) -> Response:
        if _true(request, "timestamps"):
            raise ApiError(
                400, "timestamps=true is not supported by the simulated API server; omit --timestamps"
            )
        text = self.cluster.pod_logs(
            namespace,
            pod,
            container=request.query_params.get("container") or None,
            tail_lines=_int_param(request, "tailLines"),
            since_seconds=_int_param(request, "sinceSeconds"),
            previous=_true(request, "previous"),
        )
        limit = _int_param(request, "limitBytes")
        data = text.encode()
        if limit is not None:
            data = data[: max(limit, 0)]
        return PlainTextResponse(data)

    def _scale(self, request: Request, target: Target, verb: str, body: bytes) -> Response:
        kind, ns, name = target.resource.kind, target.namespace or "", target.name or ""
        if verb == "get":
            return json_response(scale_object(self.cluster.get_object(kind, ns, name)))
        patch_type = "update" if verb == "update" else self._patch_type(request)
        current = scale_object(self.cluster.get_object(kind, ns, name))
        replicas = desired_replicas(current, self._json_body(body), patch_type)
        cluster = self._cluster_for(request, b"")
        if kind == "Deployment":
            cluster.scale(ns, name, replicas)
        else:
            cluster.patch_object(kind, ns, name, {"spec": {"replicas": replicas}}, "merge")
        return json_response(scale_object(cluster.get_object(kind, ns, name)))
