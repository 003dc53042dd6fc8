"""Per-fault test data: a problem, what an SRE would look at, the right fix and a plausible wrong fix.

Fixes use only the public write API (what the executor can do); symptoms use only the read API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aoi.sim import SimCluster
from aoi.sim.problems import Problem

HOTEL, SOCIAL, ASTRO = "test-hotel-reservation", "test-social-network", "astronomy-shop"
LABEL = {HOTEL: "io.kompose.service", SOCIAL: "service", ASTRO: "opentelemetry.io/name"}
Fix = Callable[[SimCluster], Any]


def pods(c: SimCluster, ns: str, svc: str) -> list[dict]:
    return c.list_objects("Pod", ns, label_selector=f"{LABEL[ns]}={svc}")


def logs(c: SimCluster, ns: str, svc: str, previous: bool = False) -> str:
    out = []
    for p in pods(c, ns, svc):
        try:
            out.append(c.pod_logs(ns, p["metadata"]["name"], previous=previous))
        except Exception as exc:  # waiting containers have no log; the message is what kubectl prints
            out.append(str(exc))
    return "\n".join(out)


def statuses(c: SimCluster, ns: str, svc: str) -> list[dict]:
    return [cs for p in pods(c, ns, svc) for cs in p["status"].get("containerStatuses", [])]


def events(c: SimCluster, ns: str) -> str:
    return "\n".join(f"{e['reason']}: {e['message']}" for e in c.list_objects("Event", ns))


def delete_pods(c: SimCluster, ns: str, svc: str) -> None:
    for p in pods(c, ns, svc):
        c.delete_object("Pod", ns, p["metadata"]["name"])


def mongo_pod(c: SimCluster, ns: str, svc: str) -> str:
    return str(pods(c, ns, svc)[0]["metadata"]["name"])


def flag_off_and_restart(c: SimCluster, flag: str) -> None:
    cm = c.get_object("ConfigMap", ASTRO, "flagd-config")
    doc = json.loads(cm["data"]["demo.flagd.json"])
    doc["flags"][flag]["defaultVariant"] = "off"
    c.patch_object(
        "ConfigMap", ASTRO, "flagd-config", {"data": {"demo.flagd.json": json.dumps(doc, indent=2)}}
    )
    c.rollout_restart(ASTRO, "flagd")


def fix_config_typo(c: SimCluster) -> None:
    cm = c.get_object("ConfigMap", HOTEL, "service-config")
    text = cm["data"]["config.json"].replace('"mogodb-geo:27017"', '"mongodb-geo:27017"')
    c.patch_object("ConfigMap", HOTEL, "service-config", {"data": {"config.json": text}})
    c.rollout_restart(HOTEL, "geo")


def release_volumes(c: SimCluster) -> None:
    for pv in c.list_objects("PersistentVolume"):
        if pv["status"]["phase"] == "Released":
            c.patch_object("PersistentVolume", None, pv["metadata"]["name"], {"spec": {"claimRef": None}})


@dataclass(frozen=True)
class Case:
    fault: str
    app: str
    target: str | None
    symptom: Callable[[SimCluster], bool]
    fix: Fix
    wrong: Fix
    params: dict[str, Any] | None = None
    self_healing: bool = False

    def problem(self, task: str = "mitigation") -> Problem:
        """The case as a problem; self-healing faults have no mitigation task, so they get detection."""
        task = "detection" if self.self_healing and task == "mitigation" else task
        return Problem.model_validate(
            {
                "id": f"case-{self.fault}",
                "app": self.app,
                "task": task,
                "split": "test",
                "fault": {"type": self.fault, "target": self.target, "params": self.params or {}},
            }
        )


GRANT = (
    "mongo admin -u admin -p admin --authenticationDatabase admin --eval \"db.grantRolesToUser('admin', "
    "[{role: 'readWrite', db: 'geo-db'}])\""
)
CREATE = (
    "mongo admin --eval \"db.createUser({user: 'admin', pwd: 'admin', roles: [{role: "
    "'userAdminAnyDatabase', db: 'admin'}, {role: 'readWrite', db: 'geo-db'}]})\""
)

CASES: list[Case] = [
    Case(
        "misconfig_k8s",
        "social-network",
        "user-service",
        lambda c: (
            "<Host: user-service Port: 9090>: Connection refused" in logs(c, SOCIAL, "compose-post-service")
            and bool(c.get_object("Endpoints", SOCIAL, "user-service")["subsets"][0]["addresses"])
        ),
        lambda c: c.patch_object(
            "Service",
            SOCIAL,
            "user-service",
            {"spec": {"ports": [{"name": "9090", "port": 9090, "targetPort": 9090}]}},
        ),
        lambda c: c.rollout_restart(SOCIAL, "user-service"),
    ),
    Case(
        "scale_pods_to_zero",
        "social-network",
        "user-service",
        lambda c: (
            not pods(c, SOCIAL, "user-service")
            and c.get_object("Deployment", SOCIAL, "user-service")["spec"]["replicas"] == 0
        ),
        lambda c: c.scale(SOCIAL, "user-service", 1),
        lambda c: c.rollout_restart(SOCIAL, "user-service"),
    ),
    Case(
        "assign_to_non_existent_node",
        "social-network",
        "user-service",
        lambda c: "didn't match Pod's node affinity/selector" in events(c, SOCIAL),
        lambda c: c.rollout_undo(SOCIAL, "user-service"),
        lambda c: delete_pods(c, SOCIAL, "user-service"),
    ),
    Case(
        "redeploy_without_pv",
        "hotel-reservation",
        None,
        lambda c: (
            c.get_object("PersistentVolume", None, "geo-pv")["status"]["phase"] == "Released"
            and c.get_object("PersistentVolumeClaim", HOTEL, "geo-pvc")["status"]["phase"] == "Pending"
        ),
        release_volumes,
        lambda c: c.rollout_restart(HOTEL, "mongodb-geo"),
    ),
    Case(
        "wrong_bin_usage",
        "hotel-reservation",
        "profile",
        lambda c: (
            pods(c, HOTEL, "profile")[-1]["spec"]["containers"][0]["command"] == ["geo"]
            and "dial tcp" in logs(c, HOTEL, "frontend")
            and ":8081: connect: connection refused" in logs(c, HOTEL, "frontend")
        ),
        lambda c: c.rollout_undo(HOTEL, "profile"),
        lambda c: c.rollout_restart(HOTEL, "profile"),
    ),
    Case(
        "auth_miss_mongodb",
        "social-network",
        "url-shorten-mongodb",
        lambda c: (
            "SSLHandshakeFailed" in logs(c, SOCIAL, "url-shorten-mongodb")
            and "connection closed calling hello" in logs(c, SOCIAL, "url-shorten-service")
        ),
        lambda c: c.rollout_undo(SOCIAL, "url-shorten-mongodb"),
        lambda c: c.rollout_restart(SOCIAL, "url-shorten-service"),
    ),
    Case(
        "revoke_auth",
        "hotel-reservation",
        "mongodb-geo",
        lambda c: (
            "not authorized on geo-db" in logs(c, HOTEL, "geo")
            and "Checking authorization failed" in logs(c, HOTEL, "mongodb-geo")
        ),
        lambda c: c.exec_db(HOTEL, mongo_pod(c, HOTEL, "mongodb-geo"), GRANT),
        lambda c: c.rollout_restart(HOTEL, "geo"),
    ),
    Case(
        "storage_user_unregistered",
        "hotel-reservation",
        "mongodb-geo",
        lambda c: (
            "Authentication failed." in logs(c, HOTEL, "geo")
            and "UserNotFound" in logs(c, HOTEL, "mongodb-geo")
        ),
        lambda c: c.exec_db(HOTEL, mongo_pod(c, HOTEL, "mongodb-geo"), CREATE),
        lambda c: c.rollout_restart(HOTEL, "geo"),
    ),
    Case(
        "misconfig_app",
        "hotel-reservation",
        "geo",
        lambda c: (
            "no reachable servers" in logs(c, HOTEL, "geo")
            and any("CrashLoopBackOff" in json.dumps(s["state"]) for s in statuses(c, HOTEL, "geo"))
        ),
        lambda c: c.rollout_undo(HOTEL, "geo"),
        lambda c: delete_pods(c, HOTEL, "geo"),
    ),
    Case(
        "pod_failure",
        "hotel-reservation",
        "user",
        lambda c: any(s["restartCount"] > 0 and not s["ready"] for s in statuses(c, HOTEL, "user")),
        lambda c: delete_pods(c, HOTEL, "user"),
        lambda c: c.rollout_restart(HOTEL, "frontend"),
    ),
    Case(
        "pod_kill",
        "hotel-reservation",
        "user",
        lambda c: "Stopping container hotel-reserv-user" in events(c, HOTEL),
        lambda c: None,
        lambda c: None,
        self_healing=True,
    ),
    Case(
        "container_kill",
        "hotel-reservation",
        "geo",
        lambda c: statuses(c, HOTEL, "geo")[0]["lastState"]["terminated"]["exitCode"] == 137,
        lambda c: None,
        lambda c: None,
        self_healing=True,
    ),
    Case(
        "network_loss",
        "hotel-reservation",
        "user",
        lambda c: "context deadline exceeded" in logs(c, HOTEL, "frontend"),
        lambda c: delete_pods(c, HOTEL, "user"),
        lambda c: c.rollout_restart(HOTEL, "frontend"),
    ),
    Case(
        "network_delay",
        "hotel-reservation",
        "user",
        lambda c: any(
            s["duration"] > 1_500_000
            for t in c.find_traces(service="user", limit=5, start=c.now() - 300)
            for s in t["spans"]
        ),
        lambda c: delete_pods(c, HOTEL, "user"),
        lambda c: c.rollout_restart(HOTEL, "frontend"),
    ),
    Case(
        "otel_flag",
        "astronomy-shop",
        "ad",
        lambda c: "Ad service failed" in logs(c, ASTRO, "ad"),
        lambda c: flag_off_and_restart(c, "adFailure"),
        lambda c: c.rollout_restart(ASTRO, "ad"),
        params={"flag": "adFailure"},
    ),
    Case(
        "oom_memory_limit",
        "hotel-reservation",
        "geo",
        lambda c: any(
            s["lastState"].get("terminated", {}).get("reason") == "OOMKilled"
            for s in statuses(c, HOTEL, "geo")
        ),
        lambda c: c.rollout_undo(HOTEL, "geo"),
        lambda c: delete_pods(c, HOTEL, "geo"),
    ),
    Case(
        "missing_secret_ref",
        "hotel-reservation",
        "geo",
        lambda c: any(
            s["state"].get("waiting", {}).get("message") == 'secret "mongodb-credentials-v2" not found'
            for s in statuses(c, HOTEL, "geo")
        ),
        lambda c: c.rollout_undo(HOTEL, "geo"),
        lambda c: delete_pods(c, HOTEL, "geo"),
    ),
    Case(
        "liveness_probe_misconfig",
        "hotel-reservation",
        "geo",
        lambda c: "Liveness probe failed: dial tcp" in events(c, HOTEL),
        lambda c: c.rollout_undo(HOTEL, "geo"),
        lambda c: delete_pods(c, HOTEL, "geo"),
    ),
    Case(
        "readiness_probe_misconfig",
        "hotel-reservation",
        "geo",
        lambda c: (
            "Readiness probe failed" in events(c, HOTEL)
            and any(not s["ready"] for s in statuses(c, HOTEL, "geo"))
        ),
        lambda c: c.rollout_undo(HOTEL, "geo"),
        lambda c: delete_pods(c, HOTEL, "geo"),
    ),
    Case(
        "cpu_throttling",
        "hotel-reservation",
        "frontend",
        lambda c: any(
            p[-1][1] > p[0][1]
            for _, p in c.metric_series(
                "container_cpu_cfs_throttled_periods_total", c.now() - 300, c.now(), 60
            )
        ),
        lambda c: c.rollout_undo(HOTEL, "frontend"),
        lambda c: delete_pods(c, HOTEL, "frontend"),
    ),
    Case(
        "service_selector_mismatch",
        "hotel-reservation",
        "geo",
        lambda c: "subsets" not in c.get_object("Endpoints", HOTEL, "geo") and bool(pods(c, HOTEL, "geo")),
        lambda c: c.patch_object("Service", HOTEL, "geo", {"spec": {"selector": {"version": None}}}),
        lambda c: c.rollout_restart(HOTEL, "geo"),
    ),
    Case(
        "node_cordoned",
        "hotel-reservation",
        "mongodb-geo",
        lambda c: "were unschedulable" in events(c, HOTEL),
        lambda c: c.uncordon("kind-worker"),
        lambda c: delete_pods(c, HOTEL, "mongodb-geo"),
    ),
    Case(
        "configmap_typo",
        "hotel-reservation",
        "geo",
        lambda c: (
            "Read database URL: mogodb-geo:27017" in logs(c, HOTEL, "geo")
            and "no reachable servers" in logs(c, HOTEL, "geo")
        ),
        fix_config_typo,
        lambda c: c.rollout_restart(HOTEL, "geo"),
    ),
    Case(
        "tls_cert_expired",
        "hotel-reservation",
        "geo",
        lambda c: (
            "x509: certificate has expired or is not yet valid" in logs(c, HOTEL, "search")
            and any(
                v.get("secret", {}).get("secretName") == "geo-tls"
                for v in pods(c, HOTEL, "geo")[0]["spec"]["volumes"]
            )
        ),
        lambda c: c.rollout_restart(HOTEL, "geo"),
        lambda c: c.rollout_restart(HOTEL, "search"),
    ),
    Case(
        "image_tag_not_found",
        "hotel-reservation",
        "geo",
        lambda c: "ImagePullBackOff" in json.dumps(statuses(c, HOTEL, "geo")),
        lambda c: c.rollout_undo(HOTEL, "geo"),
        lambda c: delete_pods(c, HOTEL, "geo"),
    ),
]
