"""A minimal ``mongo`` shell for ``SimCluster.exec_db``: enough for the user-management repairs an SRE
runs against a MongoDB pod.

Accepted: a full invocation (``mongo admin -u admin -p PASS --authenticationDatabase admin --eval
"..."``, also ``mongosh``) or bare statements separated by ``;`` or newlines. Statements: ``use DB``,
``show users``, ``db.getUsers()``, ``db.getUser(u)``, ``db.createUser({...})``,
``db.grantRolesToUser(u, [...])``, ``db.revokeRolesFromUser(u, [...])``, ``db.dropUser(u)``,
``db.updateUser(u, {...})``, ``db.changeUserPassword(u, p)``, ``db.auth(u, p)``,
``db.runCommand({ping: 1})``, ``db.version()``. With ``--auth`` on the server, user management needs a
user with ``userAdminAnyDatabase`` or ``root`` — except the localhost exception (no users at all).
Errors raise ``SimError`` carrying the shell's output and exit code, like ``kubectl exec`` reports.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from aoi.sim.behaviour.mongo import server_settings
from aoi.sim.errors import NotFound, SimError
from aoi.sim.world import MongoData, MongoUser, State

ADMIN_ROLES = {("userAdminAnyDatabase", "admin"), ("root", "admin"), ("userAdmin", "admin")}
_CALL = re.compile(r"^db\.(\w+)\((.*)\)$", re.S)


def _js_to_json(text: str) -> Any:
    """Parse a JavaScript literal (unquoted keys, single quotes) as JSON."""
    out = re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m.group(1)), text)
    out = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r'\1"\2":', out)
    try:
        return json.loads(f"[{out}]")
    except json.JSONDecodeError as exc:
        raise SimError(
            f"command terminated with exit code 1: uncaught exception: SyntaxError: cannot parse "
            f"arguments ({text.strip()[:80]}): {exc.msg}"
        ) from exc


def _roles(items: Any, current_db: str) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        raise SimError(
            "command terminated with exit code 1: uncaught exception: Error: roles must be an array"
        )
    out = []
    for r in items:
        if isinstance(r, str):
            out.append((r, current_db))
        elif isinstance(r, dict) and "role" in r:
            out.append((str(r["role"]), str(r.get("db", current_db))))
        else:
            raise SimError(
                f"command terminated with exit code 1: uncaught exception: Error: invalid role {r!r}"
            )
    return out


def _split(script: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in script:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in ";\n" and depth == 0 and not quote:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _parse_invocation(command: str) -> tuple[str, str | None, str | None, str]:
    """(database, user, password, script) from a mongo/mongosh command line or a bare script."""
    stripped = command.strip()
    if not re.match(r"^(mongo|mongosh)(\s|$)", stripped):
        return "test", None, None, stripped
    try:
        argv = shlex.split(stripped)
    except ValueError as exc:
        raise SimError(f"cannot parse the command line: {exc}") from exc
    db, user, pwd, script = "test", None, None, ""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-u", "--username") and i + 1 < len(argv):
            user, i = argv[i + 1], i + 2
        elif arg in ("-p", "--password") and i + 1 < len(argv):
            pwd, i = argv[i + 1], i + 2
        elif arg == "--eval" and i + 1 < len(argv):
            script, i = argv[i + 1], i + 2
        elif arg in ("--authenticationDatabase", "--host", "--port") and i + 1 < len(argv):
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            db = arg.rsplit("/", 1)[-1] or "test"
            i += 1
    if not script:
        raise SimError("exec_db needs statements to run: pass --eval '...' or the statements themselves")
    return db, user, pwd, script


class _Session:
    def __init__(self, data: MongoData, auth_on: bool, db: str, user: str | None, pwd: str | None) -> None:
        self.data, self.auth_on, self.db = data, auth_on, db
        self.user: str | None = None
        self.out: list[str] = []
        if user is not None:
            self.login(user, pwd or "", fatal=True)

    def login(self, user: str, pwd: str, fatal: bool) -> bool:
        known = self.data.users.get(user)
        if known is None or known.password != pwd:
            if fatal:
                raise SimError(
                    "command terminated with exit code 1: Error: Authentication failed. :\n"
                    "connect@src/mongo/shell/mongo.js:374:17\nexception: connect failed\n"
                    "exiting with code 1"
                )
            return False
        self.user = user
        return True

    def require_admin(self, command: str) -> None:
        if not self.auth_on or (not self.data.users and self.user is None):
            return  # auth disabled, or the localhost exception
        roles = set(self.data.users[self.user].roles) if self.user in self.data.users else set()
        if not roles & ADMIN_ROLES:
            raise SimError(
                f"command terminated with exit code 1: uncaught exception: Error: not authorized on "
                f"{self.db} to execute command {{ {command}: ... }}"
            )

    def user_doc(self, name: str, u: MongoUser) -> dict[str, Any]:
        return {
            "_id": f"admin.{name}",
            "userId": {"$binary": "hidden"},
            "user": name,
            "db": "admin",
            "roles": [{"role": r, "db": d} for r, d in u.roles],
            "mechanisms": ["SCRAM-SHA-1", "SCRAM-SHA-256"],
        }

    def run(self, stmt: str) -> None:
        if stmt.startswith("use "):
            self.db = stmt[4:].strip()
            self.out.append(f"switched to db {self.db}")
            return
        if stmt == "show users":
            stmt = "db.getUsers()"
        m = _CALL.match(stmt)
        if not m:
            raise SimError(
                f"command terminated with exit code 1: uncaught exception: SyntaxError: unexpected "
                f"statement: {stmt[:80]}"
            )
        fn, args = m.group(1), _js_to_json(m.group(2)) if m.group(2).strip() else []
        getattr(self, f"_{fn}", self._unknown(fn))(args)

    def _unknown(self, fn: str) -> Any:
        def fail(args: list[Any]) -> None:
            raise SimError(
                f"command terminated with exit code 1: uncaught exception: TypeError: db.{fn} is not a "
                "function"
            )

        return fail

    def _version(self, args: list[Any]) -> None:
        self.out.append("4.4.6")

    def _runCommand(self, args: list[Any]) -> None:
        self.out.append(json.dumps({"ok": 1}))

    _adminCommand = _runCommand

    def _auth(self, args: list[Any]) -> None:
        self.out.append(
            "1"
            if self.login(str(args[0]), str(args[1]) if len(args) > 1 else "", fatal=False)
            else "Error: Authentication failed.\n0"
        )

    def _getUsers(self, args: list[Any]) -> None:
        self.require_admin("usersInfo")
        self.out.append(
            json.dumps([self.user_doc(n, u) for n, u in sorted(self.data.users.items())], indent=2)
        )

    def _getUser(self, args: list[Any]) -> None:
        self.require_admin("usersInfo")
        u = self.data.users.get(str(args[0]))
        self.out.append(json.dumps(self.user_doc(str(args[0]), u), indent=2) if u else "null")

    def _createUser(self, args: list[Any]) -> None:
        self.require_admin("createUser")
        spec = args[0] if args and isinstance(args[0], dict) else {}
        name, pwd = spec.get("user"), spec.get("pwd")
        if not name or pwd is None:
            raise SimError(
                "command terminated with exit code 1: uncaught exception: Error: createUser needs user "
                "and pwd"
            )
        if name in self.data.users:
            raise SimError(
                f"command terminated with exit code 1: uncaught exception: Error: couldn't add user: "
                f'User "{name}@admin" already exists'
            )
        self.data.users[str(name)] = MongoUser(str(pwd), _roles(spec.get("roles", []), self.db))
        shown = {k: v for k, v in spec.items() if k != "pwd"}
        self.out.append(f"Successfully added user: {json.dumps(shown)}")

    def _need_user(self, name: str) -> MongoUser:
        u = self.data.users.get(name)
        if u is None:
            raise SimError(
                f"command terminated with exit code 1: uncaught exception: Error: Could not find user "
                f'"{name}" for db "admin"'
            )
        return u

    def _grantRolesToUser(self, args: list[Any]) -> None:
        self.require_admin("grantRolesToUser")
        u = self._need_user(str(args[0]))
        for role in _roles(args[1] if len(args) > 1 else [], self.db):
            if role not in u.roles:
                u.roles.append(role)

    def _revokeRolesFromUser(self, args: list[Any]) -> None:
        self.require_admin("revokeRolesFromUser")
        u = self._need_user(str(args[0]))
        drop = set(_roles(args[1] if len(args) > 1 else [], self.db))
        u.roles = [r for r in u.roles if r not in drop]

    def _dropUser(self, args: list[Any]) -> None:
        self.require_admin("dropUser")
        self.out.append("true" if self.data.users.pop(str(args[0]), None) else "false")

    def _changeUserPassword(self, args: list[Any]) -> None:
        self.require_admin("updateUser")
        self._need_user(str(args[0])).password = str(args[1])

    def _updateUser(self, args: list[Any]) -> None:
        self.require_admin("updateUser")
        u = self._need_user(str(args[0]))
        update = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        if "pwd" in update:
            u.password = str(update["pwd"])
        if "roles" in update:
            u.roles = _roles(update["roles"], self.db)


def run_mongo_command(state: State, namespace: str, pod_name: str, command: str) -> str:
    """Run ``command`` in the mongod container of ``pod_name``; returns the shell's output."""
    pod = state.store.get("Pod", namespace, pod_name)
    if pod is None:
        raise NotFound(f'pods "{pod_name}" not found in namespace "{namespace}"')
    run = state.pods.get(pod["metadata"]["uid"])
    mongod = next(
        (c for c in (run.containers.values() if run else []) if c.image.split("/")[-1].startswith("mongo")),
        None,
    )
    if mongod is None:
        raise SimError("command terminated with exit code 127: /bin/sh: 1: mongo: not found")
    if mongod.state != "running":
        raise SimError(f'unable to upgrade connection: container not found ("{mongod.name}")')
    db, user, pwd, script = _parse_invocation(command)
    service = mongod.persona or ""
    data = state.mongo.setdefault((namespace, service), MongoData())
    auth_on, _ = server_settings(mongod.snapshot.args)
    session = _Session(data, auth_on, db, user, pwd)
    for stmt in _split(script):
        session.run(stmt)
    banner = [
        "MongoDB shell version v4.4.6",
        f"connecting to: mongodb://127.0.0.1:27017/{db}?compressors=disabled&gssapiServiceName=mongodb",
        "MongoDB server version: 4.4.6",
    ]
    return "\n".join(banner + session.out) + "\n"
