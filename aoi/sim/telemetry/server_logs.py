"""Server-side log lines of databases, derived from what their clients experience.

A MongoDB whose clients fail TLS, authentication or authorisation logs it (``ACCESS``/``NETWORK``
components, with the client's address), including attempts by crash-looping clients at start-up.
Like mongod 4.4+, it also logs every successful SCRAM login (``Authentication succeeded`` with the
principal's name): before each refused command of an authenticated but unauthorised client, and now
and then for healthy clients whose driver opens a new pooled connection.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from aoi.sim.apps import AppSpec
from aoi.sim.behaviour.health import AppHealth
from aoi.sim.telemetry.logstyle import render

MONGO_ISSUES = {"tls", "auth_failed", "unauthorized", "unauthenticated"}
POOL_CHURN = 0.02  # chance per tick that a healthy client's driver opens (and authenticates) a connection
_AUTH_OK = (
    "I|ACCESS|20250|conn{n}",
    'Authentication succeeded|{{"mechanism":"SCRAM-SHA-1","speculative":false,"principalName":"{user}",'
    '"authenticationDatabase":"admin","remote":"{remote}","extraInfo":{{}}}}',
)


def _fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out.replace("{{", "{").replace("}}", "}")


def mongo_server_lines(
    app: AppSpec,
    svc: str,
    health: AppHealth,
    t: float,
    rng: random.Random,
    pod: str,
    principal: Callable[[str], str | None],
) -> list[tuple[float, str]]:
    """What a MongoDB prints about its clients' logins and refusals at ``t``.

    ``principal(caller)`` is the user a calling service authenticates as (from the env its process
    loaded; None when it sends no credentials).
    """
    out: list[tuple[float, str]] = []
    auth = bool(app.service(svc).auth)
    for caller, st in sorted(health.services.items()):
        cs = st.calls.get(svc)
        issue = cs.kind if cs and cs.conn_fail > 0 and cs.kind in MONGO_ISSUES else None
        user = principal(caller) if auth else None
        healthy = cs is not None and cs.attempts > 0 and cs.conn_fail == 0
        if issue is None and user and healthy and rng.random() < POOL_CHURN:
            issue = "pool"
        if issue is None:
            crashing = [
                p
                for p in health.pods.values()
                if p.service == caller and p.crash and any(f.startswith(f"mongo|{svc}|") for f in p.fatal)
            ]
            issue = crashing[0].fatal[0].split("|")[2] if crashing and rng.random() < 0.3 else None
        if issue is None:
            continue
        remote = f"10.244.{rng.randint(1, 3)}.{rng.randint(2, 200)}:{rng.randint(32768, 60999)}"
        te = t + rng.random() * 0.9
        db = app.service(svc).database or "admin"
        n = str(rng.randint(100, 9000))
        values = {"n": n, "remote": remote, "db": db, "coll": db.split("-")[0], "user": user or "admin"}
        if issue in ("pool", "unauthorized") and user:
            src, msg = _AUTH_OK
            out.append((te, render("mongodb", te, "info", _fill(src, values), _fill(msg, values), pod, svc)))
            te += 0.001
            if issue == "pool":
                continue
        src, msg = {
            "auth_failed": (
                "I|ACCESS|20249|conn{n}",
                'Authentication failed|{{"mechanism":"SCRAM-SHA-1",'
                '"speculative":false,"principalName":"{user}","authenticationDatabase":"admin",'
                '"remote":"{remote}","extraInfo":{{}},"error":"UserNotFound: Could not find user '
                '\\"{user}\\" for db \\"admin\\""}}',
            ),
            "unauthorized": (
                "I|ACCESS|20436|conn{n}",
                'Checking authorization failed|{{"error":{{"code":13,'
                '"codeName":"Unauthorized","errmsg":"not authorized on {db} to execute command '
                '{{ find: \\"{coll}\\", $db: \\"{db}\\" }}"}}}}',
            ),
            "unauthenticated": (
                "I|ACCESS|20436|conn{n}",
                'Checking authorization failed|{{"error":{{"code":13,'
                '"codeName":"Unauthorized","errmsg":"command find requires authentication"}}}}',
            ),
            "tls": (
                "I|NETWORK|22988|conn{n}",
                "Error receiving request from client. Ending connection from "
                'remote|{{"error":{{"code":141,"codeName":"SSLHandshakeFailed","errmsg":"The server is '
                'configured to only allow SSL connections"}},"remote":"{remote}","connectionId":{n}}}',
            ),
        }[issue]
        out.append((te, render("mongodb", te, "info", _fill(src, values), _fill(msg, values), pod, svc)))
    return out
