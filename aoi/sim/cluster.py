"""``SimCluster``: one simulated Kubernetes cluster running AIOpsLab apps, with reads and writes shaped
like the Kubernetes API (see docs/CONTRACTS.md, ``aoi.sim``).

Reads return copies of converged state; every write really changes state and is followed by a
reconcile, so status, endpoints, events — and, through ``aoi.sim.telemetry``, logs, metrics and
traces — follow from it. The clock only moves with ``advance``. Nothing here knows which fault (if
any) was applied: faults are ordinary writes and world changes made by ``aoi.sim.faults``.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aoi.sim.apps import APP_NAMES, load_app
from aoi.sim.errors import Invalid, NotFound, SimError
from aoi.sim.kube import builder, events
from aoi.sim.kube.events import EVENT_TTL_S
from aoi.sim.kube.patching import apply_patch
from aoi.sim.kube.reconcile import reconcile
from aoi.sim.kube.selectors import parse_field_selector, parse_label_selector
from aoi.sim.kube.store import API_VERSIONS, CLUSTER_SCOPED, ObjectStore, canonical_kind, clone, iso
from aoi.sim.kube.validation import validate_update
from aoi.sim.telemetry.facade import TelemetryMixin
from aoi.sim.world import MongoData, MongoUser, State

if TYPE_CHECKING:
    from aoi.sim.behaviour.pod_shell import ExecResult
    from aoi.sim.problems import Problem

Obj = dict[str, Any]
BASE_TIME = 1_748_736_000.0  # 2025-06-01T00:00:00Z; problems shift it by their seed (whole days)
FAULT_AFTER_S = 3000.0  # healthy history before a problem's fault
OBSERVE_AFTER_S = 600.0  # how long the fault has been in place when the agent arrives


class SimCluster(TelemetryMixin):
    """A simulated cluster; ``SimCluster.from_problem(p)`` is the usual way to get one."""

    def __init__(
        self,
        apps: Iterable[str] = APP_NAMES,
        seed: int = 0,
        start: float | None = None,
        prepare: Callable[[SimCluster], None] | None = None,
    ) -> None:
        """Deploy ``apps`` at ``start``; ``prepare`` may edit the built objects before any controller runs."""
        t0 = BASE_TIME + (seed % 365) * 86400.0 if start is None else start
        self._state = State(store=ObjectStore(seed), apps={}, seed=seed, now=t0)
        self.version = 0
        self._telemetry_init()
        store = self._state.store
        for obj in (
            *builder.build_nodes(),
            builder.build_namespace("default"),
            builder.build_namespace("kube-system"),
        ):
            store.put(obj, t0 - 86400)
        for name in apps:
            app = load_app(name)
            self._state.apps[app.namespace] = app
            for obj in builder.build_app(app):
                store.put(obj, t0)
            self._seed_databases(app.namespace)
        if prepare is not None:
            prepare(self)
        self._after_write()

    @classmethod
    def from_problem(cls, problem: Problem) -> SimCluster:
        """Deploy the problem's app, run it healthy, apply its fault, and let the fault settle."""
        from aoi.sim.faults import inject, prepare

        fault = problem.fault
        cluster = cls(
            apps=[problem.app],
            seed=problem.seed,
            prepare=None
            if fault is None
            else lambda c: prepare(c, fault, problem.app, c.now() + FAULT_AFTER_S),
        )
        cluster.advance(FAULT_AFTER_S)
        if problem.fault is not None:
            inject(cluster, problem.fault, problem.app)
        cluster.advance(
            BASE_TIME + (problem.seed % 365) * 86400.0 + FAULT_AFTER_S + OBSERVE_AFTER_S - cluster.now()
        )
        if problem.noise is not None:
            cluster._add_noise(problem.noise.model_dump())
        return cluster

    def __deepcopy__(self, memo: dict[int, Any]) -> SimCluster:
        """An independent cluster in the same state (dry runs write to one); pickle is ~2x deepcopy."""
        copied: SimCluster = pickle.loads(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return copied

    # -- internals --------------------------------------------------------------------------------
    def _seed_databases(self, namespace: str) -> None:
        """Create the users that each authenticated MongoDB's init script creates on first start."""
        app = self._state.apps[namespace]
        for spec in app.services:
            if spec.kind != "mongodb":
                continue
            data = MongoData()
            if spec.auth and "MONGO_INITDB_ROOT_USERNAME" in spec.env_secrets:
                user = self._secret_value(namespace, spec.env_secrets["MONGO_INITDB_ROOT_USERNAME"])
                pwd = self._secret_value(namespace, spec.env_secrets["MONGO_INITDB_ROOT_PASSWORD"])
                data.users[user] = MongoUser(
                    pwd, [("userAdminAnyDatabase", "admin"), ("readWrite", spec.database or "")]
                )
            self._state.mongo[(namespace, spec.name)] = data

    def _secret_value(self, namespace: str, ref: str) -> str:
        name, _, key = ref.partition("/")
        secret = self._state.store.require("Secret", namespace, name)
        return base64.b64decode(secret["data"][key]).decode()

    def _after_write(self) -> None:
        reconcile(self._state)
        self.version += 1
        self._record_epoch()

    def _live(self, kind: str, namespace: str | None, name: str) -> Obj:
        kind = canonical_kind(kind)
        return self._state.store.require(kind, namespace or "", name)

    def _workload(self, namespace: str, name: str) -> Obj:
        obj = self._state.store.get("Deployment", namespace, name) or self._state.store.get(
            "StatefulSet", namespace, name
        )
        if obj is None:
            raise NotFound(f'deployments.apps "{name}" not found in namespace "{namespace}"')
        return obj

    def _replace(self, kind: str, old: Obj, new: Obj) -> Obj:
        validate_update(kind, old, new)
        if kind not in ("Event",):
            new["status"] = old.get("status", {}) if "status" in old else new.get("status")
            if new["status"] is None:
                new.pop("status")
        if new.get("spec") != old.get("spec") and "generation" in old["metadata"]:
            new["metadata"]["generation"] = int(old["metadata"]["generation"]) + 1
        elif "generation" in old["metadata"]:
            new["metadata"]["generation"] = old["metadata"]["generation"]
        if kind == "Pod":
            self._restart_changed_containers(old, new)
        if kind == "Node":
            self._sync_cordon_taint(new)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        self._state.store.put(new, self._state.now)
        self._after_write()
        return self._state.store.read_copy(
            self._live(kind, old["metadata"].get("namespace"), old["metadata"]["name"])
        )

    def _restart_changed_containers(self, old: Obj, new: Obj) -> None:
        run = self._state.pods.get(old["metadata"]["uid"])
        if run is None:
            return
        before = {c["name"]: c.get("image") for c in old["spec"].get("containers", [])}
        for c in new["spec"].get("containers", []):
            if before.get(c["name"]) != c.get("image") and c["name"] in run.containers:
                prev = run.containers[c["name"]]
                prev.state, prev.ready = "waiting", False
                events.record(
                    self._state,
                    old,
                    "Killing",
                    f"Container {c['name']} definition changed, will be restarted",
                    host=run.node,
                    field_path=f"spec.containers{{{c['name']}}}",
                )

    @staticmethod
    def _sync_cordon_taint(node: Obj) -> None:
        taints = [
            t
            for t in node["spec"].get("taints", []) or []
            if t.get("key") != "node.kubernetes.io/unschedulable"
        ]
        if node["spec"].get("unschedulable"):
            taints.append(
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": None}
            )
        if taints:
            node["spec"]["taints"] = taints
        else:
            node["spec"].pop("taints", None)

    # -- clock ------------------------------------------------------------------------------------
    def now(self) -> float:
        """Simulated unix time; telemetry windows end here."""
        return self._state.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (restart counts grow, deadlines pass) and reconcile."""
        if seconds < 0:
            raise SimError(f"advance(seconds) needs seconds >= 0, got {seconds}")
        self._state.now += seconds
        self._after_write()

    # -- reads ------------------------------------------------------------------------------------
    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Copies of the objects of ``kind`` (all namespaces when ``namespace`` is None)."""
        kind = canonical_kind(kind)
        key = ("list", kind, namespace, label_selector, field_selector)
        blob: bytes = self._cached(
            key,
            lambda: pickle.dumps(
                self._select(kind, namespace, label_selector, field_selector),
                protocol=pickle.HIGHEST_PROTOCOL,
            ),
        )
        result: list[Obj] = pickle.loads(blob)
        return result

    def _select(
        self, kind: str, namespace: str | None, label_selector: str | None, field_selector: str | None
    ) -> list[Obj]:
        labels_ok = parse_label_selector(label_selector)
        fields_ok = parse_field_selector(field_selector)
        cutoff = iso(self._state.now - EVENT_TTL_S)
        return [
            obj
            for obj in self._state.store.items(kind, namespace)
            if (kind != "Event" or obj["lastTimestamp"] >= cutoff)
            and labels_ok(obj["metadata"].get("labels") or {})
            and fields_ok(obj)
        ]

    def get_object(self, kind: str, namespace: str | None, name: str) -> Obj:
        """A copy of one object; raises ``NotFound``."""
        return self._state.store.read_copy(self._live(kind, namespace, name))

    def snapshot_state(self) -> Obj:
        """Everything observable through the object API, by kind (for honesty checks and debugging)."""
        return {
            "now": self._state.now,
            "objects": {k: [clone(o) for o in self._state.store.items(k)] for k in API_VERSIONS},
        }

    # -- writes -----------------------------------------------------------------------------------
    def patch_object(
        self, kind: str, namespace: str | None, name: str, patch: Any, patch_type: str = "merge"
    ) -> Obj:
        """Apply a merge / strategic / JSON patch; validation errors raise ``Invalid``."""
        kind = canonical_kind(kind)
        live = self._live(kind, namespace, name)
        new = apply_patch(clone(live), patch, patch_type)
        return self._replace(kind, live, new)

    def scale(self, namespace: str, deployment: str, replicas: int) -> Obj:
        """Set replicas of a Deployment (or StatefulSet); returns the autoscaling/v1 Scale object."""
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise Invalid(f"replicas: Invalid value: {replicas!r}: must be a non-negative integer")
        live = self._workload(namespace, deployment)
        new = clone(live)
        new["spec"]["replicas"] = replicas
        obj = self._replace(live["kind"], live, new)
        selector = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"].get("matchLabels", {}).items())
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: obj["metadata"][k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": replicas},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": selector},
        }

    def delete_object(self, kind: str, namespace: str | None, name: str) -> Obj:
        """Delete an object; owned objects are garbage-collected, controllers recreate what they own."""
        kind = canonical_kind(kind)
        live = self._live(kind, namespace, name)
        state = self._state
        if kind == "Namespace":
            for k in API_VERSIONS:
                if k not in CLUSTER_SCOPED:
                    for obj in state.store.items(k, name):
                        if k == "Pod":
                            state.pods.pop(obj["metadata"]["uid"], None)
                        state.store.remove(k, name, obj["metadata"]["name"])
            state.apps.pop(name, None)
        elif kind == "Pod":
            from aoi.sim.kube.controllers import delete_pod

            delete_pod(state, live)
            live = clone(live)
        elif kind == "PersistentVolumeClaim" and self._claim_in_use(namespace or "", name):
            live["metadata"]["deletionTimestamp"] = iso(state.now)  # pvc-protection: Terminating until unused
            state.store.touch(live)
            self._after_write()
            return clone(live)
        elif kind == "Node":
            for pod in state.store.items("Pod"):
                if pod["spec"].get("nodeName") == name:
                    from aoi.sim.kube.controllers import delete_pod

                    delete_pod(state, pod)
        if kind != "Pod":
            live = state.store.remove(kind, namespace or "", name)
        self._after_write()
        return clone(live)

    def _claim_in_use(self, namespace: str, claim: str) -> bool:
        return any(
            (v.get("persistentVolumeClaim") or {}).get("claimName") == claim
            for p in self._state.store.items("Pod", namespace)
            for v in p["spec"].get("volumes") or []
        )

    def set_image(self, namespace: str, deployment: str, container: str, image: str) -> Obj:
        """``kubectl set image deployment/NAME CONTAINER=IMAGE``."""
        live = self._workload(namespace, deployment)
        new = clone(live)
        containers = new["spec"]["template"]["spec"]["containers"]
        target = next((c for c in containers if c["name"] == container), None)
        if target is None:
            names = ", ".join(c["name"] for c in containers)
            raise NotFound(
                f'unable to find container named "{container}" in {deployment}; containers: {names}'
            )
        target["image"] = image
        return self._replace(live["kind"], live, new)

    def rollout_restart(self, namespace: str, deployment: str) -> Obj:
        """``kubectl rollout restart``: stamp the pod template so every pod is replaced."""
        live = self._workload(namespace, deployment)
        new = clone(live)
        meta = new["spec"]["template"].setdefault("metadata", {})
        meta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = iso(self._state.now)
        return self._replace(live["kind"], live, new)

    def rollout_undo(self, namespace: str, deployment: str, to_revision: int | None = None) -> Obj:
        """``kubectl rollout undo``: restore the template of the previous (or given) revision."""
        from aoi.sim.kube.controllers import REVISION, owned_by

        live = self._state.store.get("Deployment", namespace, deployment)
        if live is None:
            raise NotFound(f'deployments.apps "{deployment}" not found in namespace "{namespace}"')
        current = int(live["metadata"].get("annotations", {}).get(REVISION, "0"))
        history = {
            int(rs["metadata"]["annotations"].get(REVISION, "0")): rs
            for rs in self._state.store.items("ReplicaSet", namespace)
            if owned_by(rs, live)
        }
        if to_revision in (None, 0):
            older = [r for r in history if r < current]
            if not older:
                raise SimError(f'no rollout history found for deployment "{deployment}"')
            target = history[max(older)]
        elif to_revision not in history:
            raise SimError(f"unable to find specified revision {to_revision} in history")
        else:
            target = history[to_revision]
        new = clone(live)
        template = clone(target["spec"]["template"])
        template["metadata"]["labels"].pop("pod-template-hash", None)
        new["spec"]["template"] = template
        return self._replace("Deployment", live, new)

    def cordon(self, node: str) -> Obj:
        """Mark a node unschedulable."""
        return self.patch_object("Node", None, node, {"spec": {"unschedulable": True}})

    def uncordon(self, node: str) -> Obj:
        """Mark a node schedulable again."""
        return self.patch_object("Node", None, node, {"spec": {"unschedulable": None}})

    def exec_command(
        self, namespace: str, pod: str, argv: list[str], container: str | None = None
    ) -> ExecResult:
        """``kubectl exec POD [-c CONTAINER] -- ARGV...`` (see ``aoi.sim.behaviour.pod_shell``).

        Raises ``NotFound``/``SimError`` when the pod or a running container is missing.
        """
        from aoi.sim.behaviour.pod_shell import exec_in_pod

        result = exec_in_pod(self._state, namespace, pod, list(argv), container)
        self._after_write()
        return result

    def exec_db(self, namespace: str, pod: str, command: str) -> str:
        """Run a database shell command line in a pod; returns its output (stderr, then stdout).

        ``command``: ``mongo ...``, ``sh -c '...' [NAME ARG...]`` or bare statements (see
        ``pod_shell.command_argv``). A non-zero exit raises ``SimError("command terminated with exit
        code N: <stderr>")``, as ``kubectl exec`` reports it.
        """
        from aoi.sim.behaviour.pod_shell import command_argv

        result = self.exec_command(namespace, pod, command_argv(command))
        if result.code != 0:
            raise SimError(
                f"command terminated with exit code {result.code}: {(result.stderr or result.stdout).strip()}"
            )
        return result.stderr + result.stdout
