"""A minimal ``mongo`` shell for exec in a MongoDB pod: enough for the user-management repairs an SRE
runs against it.

Invoked with an argv (``mongo admin -u admin -p PASS --authenticationDatabase admin --quiet --eval
"..."``, also ``mongosh``; see ``aoi.sim.behaviour.pod_shell`` for ``sh -c`` and bare scripts).
Statements, separated by ``;`` or newlines: ``use DB``, ``show users``, ``db = db.getSiblingDB(DB)``,
and ``db.<method>(...)`` or ``db.getSiblingDB(DB).<method>(...)`` for ``getUsers``, ``getUser``,
``createUser``, ``grantRolesToUser``, ``revokeRolesFromUser``, ``dropUser``, ``updateUser``,
``changeUserPassword``, ``auth``, ``runCommand({ping: 1})``, ``version``. Arguments are JS literals;
``process.env["VAR"]`` / ``process.env.VAR`` read the container's environment (as in ``mongosh``), so
a password can go from the pod's Secret to the database without passing through the caller.
With ``--auth`` on the server, user management needs a user with ``userAdminAnyDatabase`` or ``root``
— except the localhost exception (no users at all). ``-u/-p`` that do not authenticate end the shell
with exit code 1 before any statement runs, as the real shell does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aoi.sim.behaviour.mongo import server_settings
from aoi.sim.behaviour.pod_shell import ExecResult
from aoi.sim.errors import SimError
from aoi.sim.world import ContainerRun, MongoData, MongoUser, State

ADMIN_ROLES = {("userAdminAnyDatabase", "admin"), ("root", "admin"), ("userAdmin", "admin")}
_SIBLING = r"""db\.getSiblingDB\(\s*("[^"]*"|'[^']*')\s*\)"""
_CALL = re.compile(rf"^(?:{_SIBLING}|db)\.(\w+)\((.*)\)$", re.S)
_SWITCH = re.compile(rf"^(?:var\s+)?db\s*=\s*{_SIBLING}$", re.S)
_ENV = re.compile(r"""process\.env(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"]*)"|'([^']*)')\s*\])""")
BANNER, SERVER = "MongoDB shell version v4.4.6", "MongoDB server version: 4.4.6"


def _with_env(text: str, env: dict[str, str]) -> str:
    """Replace ``process.env`` reads outside string literals by their value (``null`` when unset)."""
    out: list[str] = []
    i, quote = 0, ""
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
            i += 1
            continue
        if ch in "'\"":
            quote = ch
            out.append(ch)
            i += 1
            continue
        found = _ENV.match(text, i)
        if found:
            name = found.group(1) or found.group(2) or found.group(3) or ""
            out.append(json.dumps(env[name]) if name in env else "null")
            i = found.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _js_to_json(text: str, env: dict[str, str]) -> Any:
    """Parse JavaScript literals (unquoted keys, single quotes, ``process.env`` reads) as JSON."""
    out = re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m.group(1)), _with_env(text, env))
    out = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r'\1"\2":', out)
    try:
        return json.loads(f"[{out}]")
    except json.JSONDecodeError as exc:
        raise SimError(
            f"uncaught exception: SyntaxError: cannot parse arguments ({text.strip()[:80]}): {exc.msg}"
        ) from exc


def _roles(items: Any, current_db: str) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        raise SimError("uncaught exception: Error: roles must be an array")
    out = []
    for r in items:
        if isinstance(r, str):
            out.append((r, current_db))
        elif isinstance(r, dict) and "role" in r:
            out.append((str(r["role"]), str(r.get("db", current_db))))
        else:
            raise SimError(f"uncaught exception: Error: invalid role {r!r}")
    return out


def _split(script: str) -> list[str]:
    """Statements of a script: split at ``;``/newlines outside brackets and string literals."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote, escaped = 0, "", False
    for ch in script:
        if quote:
            quote = "" if ch == quote and not escaped else quote
            escaped = ch == "\\" and not escaped
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


_WITH_VALUE = {"-u": "user", "--username": "user", "-p": "pwd", "--password": "pwd", "--eval": "eval"}
_SKIP_VALUE = {"--authenticationDatabase", "--host", "--port", "--authenticationMechanism"}


def _parse_invocation(argv: list[str]) -> tuple[str, str | None, str | None, str]:
    """(database, user, password, script) from a ``mongo``/``mongosh`` argv."""
    found: dict[str, str] = {}
    db = "test"
    i = 1
    while i < len(argv):
        arg, value = argv[i].split("=", 1) if argv[i].startswith("--") and "=" in argv[i] else (argv[i], None)
        if arg in _WITH_VALUE or arg in _SKIP_VALUE:
            if value is None and i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            if arg in _WITH_VALUE and value is not None:
                found[_WITH_VALUE[arg]] = value
        elif not arg.startswith("-"):
            db = arg.rsplit("/", 1)[-1].split("?", 1)[0] or "test"
        i += 1
    if not found.get("eval", "").strip():
        raise SimError(
            f"{argv[0]}: no statements to run: this pod has no terminal, pass them with --eval '...'"
        )
    return db, found.get("user"), found.get("pwd"), found["eval"]


class _Session:
    def __init__(
        self,
        data: MongoData,
        auth_on: bool,
        db: str,
        login: tuple[str | None, str | None],
        env: dict[str, str],
    ) -> None:
        self.data, self.auth_on, self.db, self.env = data, auth_on, db, env
        self.user: str | None = None
        user, pwd = login
        self.out: list[str] = []
        if user is not None:
            self.login(user, pwd or "", fatal=True)

    def login(self, user: str, pwd: str, fatal: bool) -> bool:
        known = self.data.users.get(user)
        if known is None or known.password != pwd:
            if fatal:
                raise SimError(
                    "Error: Authentication failed. :\n"
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
                f"uncaught exception: Error: not authorized on "
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
        switch = _SWITCH.match(stmt)
        if switch:
            self.db = str(_js_to_json(switch.group(1), self.env)[0])
            return
        m = _CALL.match(stmt)
        if not m:
            raise SimError(f"uncaught exception: SyntaxError: unexpected statement: {stmt[:80]}")
        sibling, fn, raw = m.group(1), m.group(2), m.group(3)
        args = _js_to_json(raw, self.env) if raw.strip() else []
        current = self.db
        if sibling is not None:
            self.db = str(_js_to_json(sibling, self.env)[0])
        try:
            getattr(self, f"_{fn}", self._unknown(fn))(args)
        finally:
            self.db = current

    def _unknown(self, fn: str) -> Any:
        def fail(args: list[Any]) -> None:
            raise SimError(f"uncaught exception: TypeError: db.{fn} is not a function")

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
            raise SimError("uncaught exception: Error: createUser needs user and pwd")
        if name in self.data.users:
            raise SimError(
                f'uncaught exception: Error: couldn\'t add user: User "{name}@admin" already exists'
            )
        self.data.users[str(name)] = MongoUser(str(pwd), _roles(spec.get("roles", []), self.db))
        shown = {k: v for k, v in spec.items() if k != "pwd"}
        self.out.append(f"Successfully added user: {json.dumps(shown)}")

    def _need_user(self, name: str) -> MongoUser:
        u = self.data.users.get(name)
        if u is None:
            raise SimError(f'uncaught exception: Error: Could not find user "{name}" for db "admin"')
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


def run_mongo(
    state: State, namespace: str, mongod: ContainerRun, argv: list[str], env: dict[str, str]
) -> ExecResult:
    """Run a ``mongo``/``mongosh`` ``argv`` next to ``mongod`` (the database container of a pod).

    The shell connects to the server on localhost; ``env`` is the exec'd process's environment
    (``process.env``). Statements run in order; the first failing one ends the shell with exit code 1
    and its error on stderr, after the output of those before it — as the real shell does.
    """
    service = mongod.persona or ""
    data = state.mongo.setdefault((namespace, service), MongoData())
    auth_on, _ = server_settings(mongod.snapshot.args)
    try:
        db, user, pwd, script = _parse_invocation(argv)
    except SimError as exc:
        return ExecResult("", f"{exc}\n", 1)
    lines = (
        [] if "--quiet" in argv[1:] else [BANNER, f"connecting to: mongodb://127.0.0.1:27017/{db}", SERVER]
    )
    error = ""
    try:
        session = _Session(data, auth_on, db, (user, pwd), env)
        try:
            for stmt in _split(script):
                session.run(stmt)
        finally:
            lines += session.out
    except SimError as exc:
        error = f"{exc}\n"
    return ExecResult("".join(f"{line}\n" for line in lines), error, 1 if error else 0)
