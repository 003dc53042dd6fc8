"""Validation of writes, with the Kubernetes API server's error wording.

``validate_update(kind, old, new)`` raises ``Invalid`` (422) naming the field, the bad value and
what is allowed. Only what an operator plausibly changes is checked in depth; the rest must stay
well-formed JSON of the right shape.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from aoi.sim.errors import Invalid
from aoi.sim.kube.quantity import parse_quantity

Obj = dict[str, Any]
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_POD_MUTABLE = ("image",)


def _fail(kind: str, name: str, field: str, value: Any, why: str) -> Invalid:
    group = (
        ""
        if kind
        in (
            "Pod",
            "Service",
            "ConfigMap",
            "Secret",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Namespace",
            "Endpoints",
            "Event",
        )
        else ".apps"
    )
    return Invalid(f'{kind}{group} "{name}" is invalid: {field}: Invalid value: {value!r}: {why}')


def _port(kind: str, name: str, field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise _fail(kind, name, field, value, "must be between 1 and 65535, inclusive")


def _containers(kind: str, name: str, prefix: str, containers: Any) -> None:
    if not isinstance(containers, list) or not containers:
        raise Invalid(f'{kind}.apps "{name}" is invalid: {prefix}.containers: Required value')
    for i, c in enumerate(containers):
        where = f"{prefix}.containers[{i}]"
        if not isinstance(c, dict) or not c.get("name"):
            raise Invalid(f'{kind}.apps "{name}" is invalid: {where}.name: Required value')
        if not isinstance(c.get("image"), str) or not c["image"].strip():
            raise Invalid(f'{kind}.apps "{name}" is invalid: {where}.image: Required value')
        for j, p in enumerate(c.get("ports", []) or []):
            _port(kind, name, f"{where}.ports[{j}].containerPort", p.get("containerPort"))
        for section, values in (c.get("resources") or {}).items():
            for res, q in (values or {}).items():
                try:
                    parse_quantity(q, f"{where}.resources.{section}.{res}")
                except Invalid as exc:
                    raise _fail(
                        kind, name, f"{where}.resources.{section}.{res}", q, "must be a quantity"
                    ) from exc
        for k, probe in (
            ("livenessProbe", c.get("livenessProbe")),
            ("readinessProbe", c.get("readinessProbe")),
        ):
            if probe is not None and not isinstance(probe, dict):
                raise _fail(kind, name, f"{where}.{k}", probe, "must be an object")


def _workload(kind: str, old: Obj, new: Obj) -> None:
    name = new["metadata"]["name"]
    spec = new.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise _fail(kind, name, "spec.replicas", replicas, "must be greater than or equal to 0")
    if old and spec.get("selector") != old["spec"].get("selector"):
        raise _fail(kind, name, "spec.selector", spec.get("selector"), "field is immutable")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        raise _fail(
            kind, name, "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
        )
    _containers(
        kind, name, "spec.template.spec", (spec.get("template") or {}).get("spec", {}).get("containers")
    )
    node_selector = (spec.get("template") or {}).get("spec", {}).get("nodeSelector")
    if node_selector is not None and not (
        isinstance(node_selector, dict) and all(isinstance(v, str) for v in node_selector.values())
    ):
        raise _fail(kind, name, "spec.template.spec.nodeSelector", node_selector, "must be a map of strings")


def _service(old: Obj, new: Obj) -> None:
    name = new["metadata"]["name"]
    spec = new.get("spec") or {}
    if old and spec.get("clusterIP") != old["spec"].get("clusterIP"):
        raise _fail("Service", name, "spec.clusterIP", spec.get("clusterIP"), "field is immutable")
    ports = spec.get("ports")
    if not isinstance(ports, list) or not ports:
        raise Invalid(f'Service "{name}" is invalid: spec.ports: Required value')
    for i, p in enumerate(ports):
        _port("Service", name, f"spec.ports[{i}].port", p.get("port"))
        target = p.get("targetPort", p.get("port"))
        if isinstance(target, str):
            if not _PORT_NAME.match(target) or target.isdigit():
                raise _fail(
                    "Service",
                    name,
                    f"spec.ports[{i}].targetPort",
                    target,
                    "must contain only lowercase alphanumerics and '-', at most 15 characters",
                )
        else:
            _port("Service", name, f"spec.ports[{i}].targetPort", target)
    selector = spec.get("selector")
    if selector is not None and not (
        isinstance(selector, dict) and all(isinstance(v, str) for v in selector.values())
    ):
        raise _fail("Service", name, "spec.selector", selector, "must be a map of strings")


def _pod(old: Obj, new: Obj) -> None:
    def strip(spec: Obj) -> Obj:
        out = {k: v for k, v in spec.items() if k not in ("tolerations", "activeDeadlineSeconds")}
        out["containers"] = [
            {k: v for k, v in c.items() if k not in _POD_MUTABLE} for c in spec.get("containers", [])
        ]
        return out

    if strip(old.get("spec", {})) != strip(new.get("spec", {})):
        raise Invalid(
            f'Pod "{new["metadata"]["name"]}" is invalid: spec: Forbidden: pod updates may not change '
            "fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, "
            "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations)"
        )
    _containers("Pod", new["metadata"]["name"], "spec", new["spec"].get("containers"))


def validate_update(kind: str, old: Obj, new: Obj) -> None:
    """Raise ``Invalid`` if ``new`` may not replace ``old``."""
    name = old["metadata"]["name"]
    for key in ("name", "namespace", "uid"):
        if new.get("metadata", {}).get(key) != old["metadata"].get(key):
            raise _fail(kind, name, f"metadata.{key}", new.get("metadata", {}).get(key), "field is immutable")
    if new.get("kind") != kind:
        raise _fail(kind, name, "kind", new.get("kind"), "field is immutable")
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        _workload(kind, old, new)
    elif kind == "Service":
        _service(old, new)
    elif kind == "Pod":
        _pod(old, new)
    elif kind == "ConfigMap":
        for k, v in (new.get("data") or {}).items():
            if not isinstance(v, str):
                raise _fail(kind, name, f"data[{k}]", v, "must be a string")
    elif kind == "Secret":
        for k, v in (new.get("data") or {}).items():
            try:
                base64.b64decode(str(v), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _fail(kind, name, f"data[{k}]", v, "must be base64-encoded") from exc
    elif kind == "Node":
        unsched = (new.get("spec") or {}).get("unschedulable", False)
        if not isinstance(unsched, bool):
            raise _fail(kind, name, "spec.unschedulable", unsched, "must be a boolean")
    elif kind == "PersistentVolume":
        ref = (new.get("spec") or {}).get("claimRef")
        if ref is not None and not isinstance(ref, dict):
            raise _fail(kind, name, "spec.claimRef", ref, "must be an object reference or null")
