"""MongoDB access as a client experiences it: TLS mode, authentication and authorisation.

The server's settings come from the arguments its running mongod was started with (``--auth``,
``--tlsMode requireTLS``); its users live in ``State.mongo`` (the data on its volume). A client
authenticates with ``MONGO_USER``/``MONGO_PASSWORD`` from the environment its process loaded.
"""

from __future__ import annotations

from aoi.sim.behaviour.network import Reach
from aoi.sim.world import MongoData, Snapshot, State

WRITE_ROLES = {"readWrite", "dbOwner"}
ANY_DB_ROLES = {("readWriteAnyDatabase", "admin"), ("root", "admin"), ("dbOwner", "admin")}


def server_settings(args: tuple[str, ...]) -> tuple[bool, bool]:
    """(auth enabled, TLS required) from mongod's command-line arguments."""
    joined = " ".join(args).replace("=", " ").split()
    auth = "--auth" in joined
    tls = False
    for flag in ("--tlsMode", "--sslMode"):
        if flag in joined:
            idx = joined.index(flag)
            tls = idx + 1 < len(joined) and joined[idx + 1] in {"requireTLS", "requireSSL"}
    return auth, tls


def can_write(data: MongoData, user: str, database: str) -> bool:
    u = data.users.get(user)
    if u is None:
        return False
    return any((role in WRITE_ROLES and db == database) or (role, db) in ANY_DB_ROLES for role, db in u.roles)


def mongo_issue(state: State, namespace: str, client: Snapshot, r: Reach, database: str) -> str | None:
    """Why a connected client cannot use ``database`` on the server behind ``r``; None if it can.

    Kinds: ``tls`` (server requires TLS, client speaks plain TCP), ``unauthenticated`` (no
    credentials configured), ``auth_failed`` (no such user / wrong password), ``unauthorized`` (user
    lacks readWrite on ``database``).
    """
    if not r.backends or r.service is None:
        return None
    auth, tls = server_settings(r.backends[0][1].snapshot.args)
    if tls and client.env.get("MONGO_TLS", "").lower() not in {"1", "true"}:
        return "tls"
    if not auth:
        return None
    user, password = client.env.get("MONGO_USER"), client.env.get("MONGO_PASSWORD")
    if not user:
        return "unauthenticated"
    data = state.mongo.get((namespace, r.service), MongoData())
    known = data.users.get(user)
    if known is None or known.password != password:
        return "auth_failed"
    if not can_write(data, user, database):
        return "unauthorized"
    return None
