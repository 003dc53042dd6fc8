"""Build the Kubernetes objects of an app (and the cluster's nodes) from its validated spec.

The result is what ``helm install`` / ``kubectl apply`` would have created: Namespace, Deployments or
StatefulSets with pod templates, Services, ConfigMaps, Secrets (base64 data), PersistentVolumeClaims
and the PersistentVolumes they bind to. Pods, ReplicaSets and Endpoints are left to the controllers.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from aoi.sim.apps import AppSpec, ServiceSpec

Obj = dict[str, Any]
WORKER_NODES = ("kind-worker", "kind-worker2", "kind-worker3")
CONTROL_PLANE = "kind-control-plane"
KUBE_VERSION = "v1.30.0"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def stable_int(*parts: object) -> int:
    """A deterministic integer from arbitrary parts (stable across processes, unlike ``hash``)."""
    return _stable("|".join(map(str, parts)))


@functools.lru_cache(maxsize=65536)
def _stable(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _hex_id(*parts: object) -> str:
    """A stable 32-hex-digit id (like /etc/machine-id) derived from ``parts``."""
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def _uuid(*parts: object) -> str:
    """A stable UUID-formatted id (boot id, DMI system UUID) derived from ``parts``."""
    h = _hex_id(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def build_nodes() -> list[Obj]:
    """One control-plane and three worker nodes, as a kind cluster reports them."""
    nodes = []
    for i, name in enumerate((CONTROL_PLANE, *WORKER_NODES)):
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
        }
        taints = []
        if name == CONTROL_PLANE:
            labels["node-role.kubernetes.io/control-plane"] = ""
            taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        capacity = {"cpu": "8", "memory": "32863796Ki", "pods": "110", "ephemeral-storage": "102626232Ki"}
        nodes.append(
            {
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {
                        "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                },
                "spec": {
                    "podCIDR": f"10.244.{i}.0/24",
                    "podCIDRs": [f"10.244.{i}.0/24"],
                    "providerID": f"kind://docker/kind/{name}",
                    **({"taints": taints} if taints else {}),
                },
                "status": {
                    "conditions": [
                        {
                            "type": t,
                            "status": "False",
                            "reason": f"KubeletHas{r}",
                            "message": m,
                            "lastHeartbeatTime": "2025-05-30T08:00:00Z",
                            "lastTransitionTime": "2025-05-30T08:00:00Z",
                        }
                        for t, r, m in (
                            ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                            ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                            ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"),
                        )
                    ]
                    + [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": "2025-05-30T08:00:00Z",
                            "lastTransitionTime": "2025-05-30T08:00:00Z",
                        }
                    ],
                    "capacity": capacity,
                    "allocatable": dict(capacity),
                    "addresses": [
                        {"type": "InternalIP", "address": f"172.18.0.{i + 2}"},
                        {"type": "Hostname", "address": name},
                    ],
                    "nodeInfo": {
                        "architecture": "amd64",
                        "bootID": _uuid("boot", name),
                        "containerRuntimeVersion": "containerd://1.7.15",
                        "kernelVersion": "6.8.0-1017-gcp",
                        "kubeProxyVersion": KUBE_VERSION,
                        "kubeletVersion": KUBE_VERSION,
                        "machineID": _hex_id("machine", name),
                        "operatingSystem": "linux",
                        "osImage": "Debian GNU/Linux 12 (bookworm)",
                        "systemUUID": _uuid("system", name),
                    },
                },
            }
        )
    return nodes


def build_namespace(name: str) -> Obj:
    return {
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _labels(app: AppSpec, svc: str) -> dict[str, str]:
    labels = {app.label_key: svc, **{k: svc for k in app.name_labels}, **app.pod_labels}
    return labels


def _container(app: AppSpec, spec: ServiceSpec) -> Obj:
    env: list[Obj] = [{"name": k, "value": v} for k, v in spec.env.items()]
    if spec.kind == "mongodb":
        env.append({"name": "MONGO_DATABASE", "value": spec.database or ""})
    for var, ref in spec.env_secrets.items():
        secret, _, key = ref.partition("/")
        env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    ports = [p for p in (spec.container_port, *spec.extra_ports) if p is not None]
    mounts = [{"name": m.configmap, "mountPath": m.path, "subPath": m.key} for m in spec.mounts]
    if spec.pvc:
        mounts.append({"name": "data", "mountPath": "/data/db"})
    container: Obj = {
        "name": f"{app.container_prefix}{spec.name}",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(spec.command),
        "ports": [{"containerPort": p, "protocol": "TCP"} for p in ports],
        "resources": {k: dict(v) for k, v in spec.resources.items()},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if spec.args:
        container["args"] = list(spec.args)
    if env:
        container["env"] = env
    if mounts:
        container["volumeMounts"] = mounts
    return container


def build_pod_template(app: AppSpec, spec: ServiceSpec) -> Obj:
    volumes: list[Obj] = []
    for m in spec.mounts:
        if not any(v["name"] == m.configmap for v in volumes):
            volumes.append({"name": m.configmap, "configMap": {"name": m.configmap, "defaultMode": 420}})
    if spec.pvc:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": spec.pvc}})
    pod_spec: Obj = {
        "containers": [_container(app, spec)],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "securityContext": {},
    }
    if volumes:
        pod_spec["volumes"] = volumes
    return {"metadata": {"labels": _labels(app, spec.name)}, "spec": pod_spec}


def build_workload(app: AppSpec, spec: ServiceSpec) -> Obj:
    meta = {
        "name": spec.name,
        "namespace": app.namespace,
        "generation": 1,
        "labels": _labels(app, spec.name),
        "annotations": dict(app.annotations),
    }
    selector = {"matchLabels": {app.label_key: spec.name}}
    template = build_pod_template(app, spec)
    if spec.workload == "StatefulSet":
        return {
            "kind": "StatefulSet",
            "metadata": meta,
            "spec": {
                "replicas": spec.replicas,
                "selector": selector,
                "serviceName": spec.name,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "template": template,
            },
        }
    strategy: Obj = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    if spec.pvc:
        strategy = {"type": "Recreate"}
    return {
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": spec.replicas,
            "selector": selector,
            "strategy": strategy,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": template,
        },
    }


def cluster_ip(namespace: str, name: str) -> str:
    n = stable_int("svc", namespace, name)
    return f"10.96.{(n >> 8) % 250 + 1}.{n % 250 + 2}"


def build_service(app: AppSpec, spec: ServiceSpec) -> Obj | None:
    if spec.port is None:
        return None
    ports = [
        {"name": str(spec.port), "port": spec.port, "targetPort": spec.container_port, "protocol": "TCP"}
    ]
    ports += [{"name": str(p), "port": p, "targetPort": p, "protocol": "TCP"} for p in spec.extra_ports]
    ip = cluster_ip(app.namespace, spec.name)
    return {
        "kind": "Service",
        "metadata": {
            "name": spec.name,
            "namespace": app.namespace,
            "labels": _labels(app, spec.name),
            "annotations": dict(app.annotations),
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": ports,
            "selector": {app.label_key: spec.name},
        },
        "status": {"loadBalancer": {}},
    }


def build_config(app: AppSpec) -> list[Obj]:
    objs: list[Obj] = []
    for cm in app.configmaps:
        objs.append(
            {
                "kind": "ConfigMap",
                "metadata": {
                    "name": cm.name,
                    "namespace": app.namespace,
                    "annotations": dict(app.annotations),
                },
                "data": dict(cm.data),
            }
        )
    for s in app.secrets:
        objs.append(
            {
                "kind": "Secret",
                "type": s.type,
                "metadata": {
                    "name": s.name,
                    "namespace": app.namespace,
                    "annotations": dict(app.annotations),
                },
                "data": {k: b64(v) for k, v in s.data.items()},
            }
        )
    return objs


def build_storage(app: AppSpec) -> list[Obj]:
    """A PVC per stateful service and a statically provisioned local PV for it (reclaim: Retain)."""
    objs: list[Obj] = []
    for i, spec in enumerate(s for s in app.services if s.pvc):
        claim = spec.pvc or ""
        prefix = claim.removesuffix("-pvc")
        storage_class = f"{prefix}-storage"
        node = WORKER_NODES[i % len(WORKER_NODES)]
        objs.append(
            {
                "kind": "PersistentVolume",
                "metadata": {
                    "name": f"{prefix}-pv",
                    "labels": {"app": app.name},
                    "finalizers": ["kubernetes.io/pv-protection"],
                },
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": storage_class,
                    "volumeMode": "Filesystem",
                    "local": {"path": f"/data/volumes/{prefix}-pv"},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                                    ]
                                }
                            ]
                        }
                    },
                },
                "status": {"phase": "Available"},
            }
        )
        objs.append(
            {
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": claim,
                    "namespace": app.namespace,
                    "finalizers": ["kubernetes.io/pvc-protection"],
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": storage_class,
                    "volumeMode": "Filesystem",
                },
                "status": {"phase": "Pending"},
            }
        )
    return objs


def build_app(app: AppSpec) -> list[Obj]:
    """All objects an install of ``app`` creates, in apply order (config before workloads)."""
    objs: list[Obj] = [build_namespace(app.namespace), *build_config(app), *build_storage(app)]
    for spec in app.services:
        svc = build_service(app, spec)
        if svc is not None:
            objs.append(svc)
    objs.extend(build_workload(app, spec) for spec in app.services)
    return objs
