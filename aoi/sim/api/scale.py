"""The ``autoscaling/v1 Scale`` subresource of Deployments, ReplicaSets and StatefulSets.

``kubectl scale`` and the Python client's ``patch_namespaced_deployment_scale`` talk to
``.../<name>/scale``: a GET returns a Scale, a PATCH (merge, strategic or JSON patch) or PUT sets
``spec.replicas``. Only ``spec.replicas`` can change through this subresource, as on a real server;
anything else is a 422 with the field path.
"""

from __future__ import annotations

from typing import Any

from aoi.sim.api.status import ApiError


def selector_string(selector: dict[str, Any] | None) -> str:
    """A LabelSelector in query form (``app=geo,tier in (a,b)``), as ``status.selector`` shows it."""
    if not selector:
        return ""
    parts = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, f"{key} {op} ({values})")
        parts.append((key, text))
    return ",".join(text for _, text in sorted(parts))


def scale_object(obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale view of a workload object."""
    meta = obj.get("metadata", {})
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": int(spec.get("replicas", 1))},
        "status": {
            "replicas": int(status.get("replicas") or 0),
            "selector": selector_string(spec.get("selector")),
        },
    }


def _invalid(name: str, message: str) -> ApiError:
    return ApiError(422, f'Scale.autoscaling "{name}" is invalid: {message}')


def desired_replicas(current: dict[str, Any], body: Any, patch_type: str) -> int:
    """The replica count a scale PATCH/PUT asks for; 422 for anything but a valid ``spec.replicas``."""
    name = current["metadata"].get("name", "")
    replicas: Any = None
    if patch_type == "json":
        if not isinstance(body, list):
            raise ApiError(400, "a JSON patch must be a list of operations")
        for op in body:
            if (
                not isinstance(op, dict)
                or op.get("path") != "/spec/replicas"
                or op.get("op") not in ("add", "replace")
            ):
                raise _invalid(
                    name, f"only replace of /spec/replicas is allowed on the scale subresource, got {op!r}"
                )
            replicas = op.get("value")
    else:
        if not isinstance(body, dict):
            raise ApiError(400, 'the scale body must be a JSON object like {"spec": {"replicas": 3}}')
        other = set(body) - {"spec", "metadata", "kind", "apiVersion", "status"}
        spec = body.get("spec") or {}
        if other or (isinstance(spec, dict) and set(spec) - {"replicas"}):
            raise _invalid(name, "only spec.replicas may be changed through the scale subresource")
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if replicas is None and patch_type == "update":
            raise _invalid(name, "spec.replicas: Required value")
    if replicas is None:
        return int(current["spec"]["replicas"])
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise _invalid(name, f"spec.replicas: Invalid value: {replicas!r}: must be an integer")
    if replicas < 0:
        raise _invalid(name, f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0")
    return replicas
