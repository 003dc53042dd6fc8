"""Faults in a MongoDB: TLS required without client support, a revoked role, a dropped user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aoi.sim.apps import AppSpec
from aoi.sim.behaviour.mongo import can_write, server_settings
from aoi.sim.faults.base import Injector, clients_of, container_of, restart_pods, runs_of, workload
from aoi.sim.kube.builder import b64
from aoi.sim.world import MongoData

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

TLS_SECRET = "mongodb-tls"
TLS_ARGS = ["--tlsMode", "requireTLS", "--tlsCertificateKeyFile", "/etc/tls/tls.pem"]


def _data(c: SimCluster, app: AppSpec, target: str | None) -> MongoData:
    return c._state.mongo.setdefault((app.namespace, target or ""), MongoData())


def _user(c: SimCluster, app: AppSpec, target: str | None) -> tuple[str, str]:
    spec = app.service(target or "")
    return (
        c._secret_value(app.namespace, spec.env_secrets["MONGO_INITDB_ROOT_USERNAME"]),
        c._secret_value(app.namespace, spec.env_secrets["MONGO_INITDB_ROOT_PASSWORD"]),
    )


class RequireTLS:
    """auth_miss_mongodb: mongod restarted with ``--tlsMode requireTLS``; clients speak plain TCP."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        store = c._state.store
        if store.get("Secret", app.namespace, TLS_SECRET) is None:
            store.put(
                {
                    "kind": "Secret",
                    "type": "kubernetes.io/tls",
                    "metadata": {"name": TLS_SECRET, "namespace": app.namespace},
                    "data": {
                        "tls.crt": b64(
                            "-----BEGIN CERTIFICATE-----\nMIIDdTCCAl2gAwIBAgIU\n-----END CERTIFICATE-----\n"
                        ),
                        "tls.key": b64(
                            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"
                        ),
                    },
                },
                c.now(),
            )
        obj = workload(c, app, target or "")
        ctr = container_of(obj)
        mounts = [*ctr.get("volumeMounts", []), {"name": "tls", "mountPath": "/etc/tls", "readOnly": True}]
        volumes = [
            *obj["spec"]["template"]["spec"].get("volumes", []),
            {"name": "tls", "secret": {"secretName": TLS_SECRET, "defaultMode": 420}},
        ]
        c.patch_object(
            obj["kind"],
            app.namespace,
            target or "",
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": ctr["name"],
                                    "args": [*ctr.get("args", []), *TLS_ARGS],
                                    "volumeMounts": mounts,
                                }
                            ],
                            "volumes": volumes,
                        }
                    }
                }
            },
            "strategic",
        )

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        tls = [
            ct
            for r in runs_of(c, app, target or "")
            for ct in r.containers.values()
            if server_settings(ct.snapshot.args)[1]
        ]
        return not tls, f"{target} {'still requires' if tls else 'does not require'} TLS from its clients"


class RevokeRole:
    """revoke_auth: ``db.revokeRolesFromUser('admin', [{role: 'readWrite', db: DB}])``; clients restart."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        user, _ = _user(c, app, target)
        database = app.service(target or "").database or ""
        u = _data(c, app, target).users[user]
        u.roles = [r for r in u.roles if r != ("readWrite", database)]
        restart_pods(c, app, *clients_of(app, target or ""))

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        user, _ = _user(c, app, target)
        database = app.service(target or "").database or ""
        ok = can_write(_data(c, app, target), user, database)
        return ok, f"user {user} {'can' if ok else 'cannot'} write {database}"


class DropUser:
    """storage_user_unregistered: ``db.dropUser('admin')``; clients restart and fail to authenticate."""

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        user, _ = _user(c, app, target)
        _data(c, app, target).users.pop(user, None)
        restart_pods(c, app, *clients_of(app, target or ""))

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        user, password = _user(c, app, target)
        data = _data(c, app, target)
        database = app.service(target or "").database or ""
        known = data.users.get(user)
        ok = known is not None and known.password == password and can_write(data, user, database)
        return (
            ok,
            f"user {user} {'has' if ok else 'lacks'} the clients' password and readWrite",
        )


INJECTORS: dict[str, Injector] = {
    "auth_miss_mongodb": RequireTLS(),
    "revoke_auth": RevokeRole(),
    "storage_user_unregistered": DropUser(),
}
