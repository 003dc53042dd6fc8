"""Server-side log lines of databases, derived from what their clients experience.

A MongoDB whose clients fail TLS, authentication or authorisation logs it (``ACCESS``/``NETWORK``
components, with the client's address), including attempts by crash-looping clients at start-up.
"""

from __future__ import annotations

import random

from aoi.sim.apps import AppSpec
from aoi.sim.behaviour.health import AppHealth
from aoi.sim.telemetry.logstyle import render

MONGO_ISSUES = {"tls", "auth_failed", "unauthorized", "unauthenticated"}


def _fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out.replace("{{", "{").replace("}}", "}")


def mongo_server_lines(
    app: AppSpec, svc: str, health: AppHealth, t: float, rng: random.Random, pod: str
) -> list[tuple[float, str]]:
    """What a MongoDB prints when its clients fail TLS, authentication or authorisation at ``t``."""
    out: list[tuple[float, str]] = []
    for caller, st in sorted(health.services.items()):
        cs = st.calls.get(svc)
        issue = cs.kind if cs and cs.conn_fail > 0 and cs.kind in MONGO_ISSUES else None
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
        src, msg = {
            "auth_failed": (
                "I|ACCESS|20249|conn{n}",
                'Authentication failed|{{"mechanism":"SCRAM-SHA-1",'
                '"speculative":false,"principalName":"admin","authenticationDatabase":"admin",'
                '"remote":"{remote}","extraInfo":{{}},"error":"UserNotFound: Could not find user '
                '\\"admin\\" for db \\"admin\\""}}',
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
        n = str(rng.randint(100, 9000))
        values = {"n": n, "remote": remote, "db": db, "coll": db.split("-")[0]}
        out.append((te, render("mongodb", te, "info", _fill(src, values), _fill(msg, values), pod, svc)))
    return out
