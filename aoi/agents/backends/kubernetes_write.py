"""The executor's Kubernetes writer: the write half of the Kubernetes backend (``WriteBackend``).

It is built from the *write* kubeconfig/context only (see ``kubernetes.make_backends`` and the write
RBAC in ``kubernetes``'s docstring). Every method performs exactly the API calls ``kubectl`` would for
the same command, so a proposal's "equivalent command" is faithful:

- ``scale``           → PATCH ``deployments/<name>/scale`` (merge patch of ``spec.replicas``)
- ``set_image``       → strategic-merge PATCH of one container (refused if the container is absent)
- ``rollout_restart`` → strategic-merge PATCH of ``kubectl.kubernetes.io/restartedAt``
- ``rollout_undo``    → reads the Deployment's ReplicaSets, JSON-patches ``spec.template`` back
- ``delete_pod``, ``delete_object``, ``uncordon`` (merge PATCH ``spec.unschedulable=false``), ``patch``
- ``exec_db``         → ``pods/exec`` of ``mongo --quiet --eval <script>`` over the websocket protocol

Dry runs use the API server's own ``dryRun=All``: the server validates and admits the request and
returns the would-be object without persisting it.
"""

from __future__ import annotations

import copy
import re
import shlex
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.stream import stream

from aoi.agents.backends.base import BackendError, PatchType, UnsupportedError, WriteOp
from aoi.agents.backends.kubernetes_api import Objects, translated

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Annotations that describe the Deployment itself, kept when rolling back (kubectl's annotationsToSkip).
DEPLOYMENT_ONLY_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}
DB_SHELL = ["mongo", "--quiet", "--eval"]


def label_selector_string(selector: dict[str, Any] | None) -> str:
    """A LabelSelector in query form, as ``metav1.LabelSelectorAsSelector(...).String()`` renders it."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = (
            expr.get("key", ""),
            expr.get("operator", ""),
            ",".join(sorted(expr.get("values") or [])),
        )
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(
                op, f"!{key}"
            )
        )
    return ",".join(sorted(parts))


def _revision(obj: dict[str, Any]) -> int:
    value = obj.get("metadata", {}).get("annotations", {}).get(REVISION_ANNOTATION, "0")
    return int(value) if str(value).isdigit() else 0


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    clean = copy.deepcopy(template)
    labels = clean.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return clean


class KubernetesWriteBackend:
    """``WriteBackend`` on a cluster's API with the executor's (write) credentials."""

    name = "kubernetes"
    supports_dry_run = True

    def __init__(self, api_client: k8s.ApiClient, exec_timeout_s: float = 30.0) -> None:
        self._objects = Objects(api_client)
        self._exec_timeout_s = exec_timeout_s

    @staticmethod
    def _dry(dry: bool) -> dict[str, Any]:
        return {"dry_run": "All"} if dry else {}

    def scale(self, namespace: str, deployment: str, replicas: int, *, dry: bool = False) -> dict[str, Any]:
        if replicas < 0:
            raise BackendError(f"replicas must be >= 0, got {replicas}")
        with translated():
            scale = self._objects.json(
                self._objects.apps.patch_namespaced_deployment_scale(
                    deployment,
                    namespace,
                    {"spec": {"replicas": replicas}},
                    _content_type=PATCH_CONTENT_TYPES["merge"],
                    _preload_content=False,
                    **self._dry(dry),
                )
            )
            if dry:
                return dict(scale)
            return dict(self._objects.call("read", "Deployment", namespace, deployment))

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: PatchType = "merge",
        *,
        dry: bool = False,
    ) -> dict[str, Any]:
        if patch_type not in PATCH_CONTENT_TYPES:
            raise BackendError(
                f"unknown patch type {patch_type!r}; expected one of {', '.join(PATCH_CONTENT_TYPES)}"
            )
        with translated():
            return dict(
                self._objects.call(
                    "patch",
                    kind,
                    namespace,
                    name,
                    patch,
                    _content_type=PATCH_CONTENT_TYPES[patch_type],
                    **self._dry(dry),
                )
            )

    def set_image(
        self, namespace: str, deployment: str, container: str, image: str, *, dry: bool = False
    ) -> dict[str, Any]:
        with translated():
            current = self._objects.call("read", "Deployment", namespace, deployment)
        pod_spec = current.get("spec", {}).get("template", {}).get("spec", {})
        names = [c.get("name") for c in pod_spec.get("containers", []) + pod_spec.get("initContainers", [])]
        if container not in names:
            raise BackendError(
                f'unable to find container named "{container}" in deployment {namespace}/{deployment}; '
                f"containers: {', '.join(str(n) for n in names)}"
            )
        field = (
            "containers"
            if container in [c.get("name") for c in pod_spec.get("containers", [])]
            else "initContainers"
        )
        patch = {"spec": {"template": {"spec": {field: [{"name": container, "image": image}]}}}}
        return self.patch("Deployment", namespace, deployment, patch, "strategic", dry=dry)

    def rollout_restart(self, namespace: str, deployment: str, *, dry: bool = False) -> dict[str, Any]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return self.patch("Deployment", namespace, deployment, patch, "strategic", dry=dry)

    def rollout_undo(
        self, namespace: str, deployment: str, to_revision: int | None = None, *, dry: bool = False
    ) -> dict[str, Any]:
        """kubectl's ``DeploymentRollbacker``: restore the template of the wanted revision's ReplicaSet."""
        with translated():
            current = self._objects.call("read", "Deployment", namespace, deployment)
            spec = current.get("spec", {})
            if spec.get("paused"):
                raise BackendError("you cannot rollback a paused deployment; resume it first and try again")
            selector = label_selector_string(spec.get("selector"))
            listed = self._objects.list("ReplicaSet", namespace, selector or None, None)
        uid = current.get("metadata", {}).get("uid")
        owned = [
            rs
            for rs in listed.get("items", [])
            if any(
                ref.get("uid") == uid and ref.get("controller")
                for ref in rs["metadata"].get("ownerReferences", [])
            )
        ]
        template = _without_hash(spec.get("template", {}))
        if to_revision:
            chosen = [rs for rs in owned if _revision(rs) == to_revision]
            if not chosen:
                raise BackendError(
                    f"unable to find specified revision {to_revision} in history of {namespace}/{deployment}"
                )
        else:
            # kubectl's "previous revision": the second newest revision among the owned ReplicaSets.
            chosen = sorted(owned, key=_revision)[-2:-1]
            if not chosen:
                raise BackendError(f'no rollout history found for deployment "{deployment}" in {namespace}')
        target = chosen[0]
        restored = _without_hash(target.get("spec", {}).get("template", {}))
        if restored == template:
            return dict(current)  # kubectl: "skipped rollback (current template already matches revision N)"
        current_annotations = current.get("metadata", {}).get("annotations", {}) or {}
        annotations = {k: v for k, v in current_annotations.items() if k in DEPLOYMENT_ONLY_ANNOTATIONS}
        for key, value in (target.get("metadata", {}).get("annotations") or {}).items():
            if key not in DEPLOYMENT_ONLY_ANNOTATIONS:
                annotations[key] = value
        patch = [
            {"op": "replace", "path": "/spec/template", "value": restored},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]
        return self.patch("Deployment", namespace, deployment, patch, "json", dry=dry)

    def delete_pod(self, namespace: str, name: str, *, dry: bool = False) -> dict[str, Any]:
        return self.delete_object("Pod", namespace, name, dry=dry)

    def delete_object(
        self, kind: str, namespace: str | None, name: str, *, dry: bool = False
    ) -> dict[str, Any]:
        with translated():
            return dict(self._objects.call("delete", kind, namespace, name, **self._dry(dry)))

    def uncordon(self, node: str, *, dry: bool = False) -> dict[str, Any]:
        return self.patch("Node", None, node, {"spec": {"unschedulable": False}}, "merge", dry=dry)

    def exec_db(self, namespace: str, pod: str, command: str) -> str:
        """Run a mongo shell script in ``pod`` (``kubectl exec -- mongo --quiet --eval <script>``).

        ``command`` is the script; a full ``mongo ...``/``mongosh ...`` command line, or a
        ``sh -c '...'`` line (how the policy runs repairs with the pod's own root credentials, so the
        executor never holds the password), is split into an argv and run as given.
        """
        argv = (
            shlex.split(command)
            if re.match(r"^(mongo|mongosh|sh|bash)(\s|$)", command.strip())
            else [*DB_SHELL, command]
        )
        with translated():
            client = stream(
                self._objects.core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=argv,
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
                _preload_content=False,
            )
            try:
                client.run_forever(timeout=self._exec_timeout_s)
                out, err, code = client.read_stdout(), client.read_stderr(), client.returncode
            finally:
                client.close()
        if code != 0:
            raise BackendError(f"exec in {namespace}/{pod} exited with {code}: {(err or out).strip()}")
        return str(out)

    def dry_run(self, op: WriteOp) -> str:
        """Server-side ``dryRun=All`` of ``op``; ``exec_db`` (no server dry run) checks its pod is Running."""
        if op.method == "exec_db":
            namespace, pod = op.kwargs["namespace"], op.kwargs["pod"]
            with translated():
                phase = self._objects.call("read", "Pod", namespace, pod).get("status", {}).get("phase")
            if phase != "Running":
                raise BackendError(
                    f"cannot exec in {namespace}/{pod}: pod phase is {phase}, expected Running"
                )
            return f"dry run ok: {op.describe()} -> pod {namespace}/{pod} is Running (exec has no dry run)"
        method = getattr(self, op.method, None)
        if method is None:
            raise UnsupportedError(f"backend {self.name!r} has no write method {op.method!r}")
        result = method(**op.kwargs, dry=True)
        meta = result.get("metadata", {}) if isinstance(result, dict) else {}
        what = f"{result.get('kind', 'object')} {meta.get('namespace', '')}/{meta.get('name', '')}".replace(
            " /", " "
        )
        return f"dry run ok: {op.describe()} -> {what}"
