"""What ``kubectl exec`` can run in a simulated pod: its database shell, directly or through ``sh -c``.

Why a shell at all: a realistic repair never hands the database password to whoever runs the exec.
The command runs in the database pod and the pod's own shell expands the credentials from the
container's environment (loaded from its Secrets when the container started), e.g.::

    sh -c 'mongo admin -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" --eval "$1"' \
        repair 'db.getSiblingDB("geo-db").grantRolesToUser("admin", ["readWrite"])'

Supported (a POSIX ``sh`` subset, enough for such one-liners): words with ``'…'``, ``"…"`` and
backslash quoting; ``$NAME``, ``${NAME}`` and ``$0``…``$9`` (``sh -c PROGRAM NAME ARG…`` sets them;
unquoted expansions are split on blanks); commands joined by ``&&``, ``||``, ``;`` or newlines;
``#`` comments. Programs: ``mongo``/``mongosh`` (``aoi.sim.behaviour.mongo_shell``) and ``echo``.
Pipes, redirections, subshells, background jobs and command substitution are refused with exit code
2 and a message saying so — the simulated pod has no other programs to feed them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from aoi.sim.errors import NotFound, SimError
from aoi.sim.world import ContainerRun, State

SHELLS = ("sh", "bash")
DB_SHELLS = ("mongo", "mongosh")
NOT_FOUND, SYNTAX = 127, 2  # POSIX: command not found; shell syntax error
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSUPPORTED = {
    "|": "pipes",
    "&": "background jobs",
    "<": "redirections",
    ">": "redirections",
    "(": "subshells",
    ")": "subshells",
    "`": "command substitution",
}


@dataclass(frozen=True)
class ExecResult:
    """What an exec'd process left behind: its stdout, its stderr and its exit code."""

    stdout: str
    stderr: str
    code: int


class ShellSyntaxError(Exception):
    """The program uses shell syntax this pod's shell does not offer (exit code 2)."""


Program = Callable[[list[str], dict[str, str]], ExecResult]


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _expand(name: str, env: dict[str, str], positional: list[str]) -> str:
    if name.isdigit():
        index = int(name)
        return positional[index] if index < len(positional) else ""
    return env.get(name, "")


class _Words:
    """Accumulates the words of one command; unquoted expansions split on blanks, as sh does."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current: list[str] = []
        self.started = False

    def add(self, text: str, quoted: bool) -> None:
        if quoted:
            self.current.append(text)
            self.started = True
            return
        pieces = re.split(r"[ \t\n]+", text)
        for index, piece in enumerate(pieces):
            if index:
                self.end()
            if piece:
                self.current.append(piece)
                self.started = True

    def end(self) -> None:
        if self.started:
            self.words.append("".join(self.current))
        self.current, self.started = [], False


def _parameter(text: str, i: int, env: dict[str, str], positional: list[str]) -> tuple[str | None, int]:
    """Expand the parameter at ``text[i] == '$'``: (value, next index), or (None, i + 1) for a bare $."""
    rest = text[i + 1 :]
    if rest.startswith("("):
        raise ShellSyntaxError("command substitution $(...) is not available")
    if rest.startswith("{"):
        end = rest.find("}")
        name = rest[1:end] if end > 0 else ""
        if not (_NAME.fullmatch(name) or name.isdigit()):
            raise ShellSyntaxError(f"Bad substitution: ${{{rest[1:end] if end > 0 else rest[1:]}")
        return _expand(name, env, positional), i + end + 2
    if rest[:1].isdigit():
        return _expand(rest[0], env, positional), i + 2
    found = _NAME.match(rest)
    if found:
        return _expand(found.group(0), env, positional), i + 1 + found.end()
    return None, i + 1


def parse_program(text: str, env: dict[str, str], positional: list[str]) -> list[tuple[str, list[str]]]:
    """``[(connector, argv), ...]`` with parameters expanded; the first connector is ``;``.

    Raises ``ShellSyntaxError`` for unterminated quotes and for syntax outside the supported subset.
    """
    commands: list[tuple[str, list[str]]] = []
    connector, words = ";", _Words()
    i, n = 0, len(text)

    def finish(next_connector: str) -> None:
        nonlocal connector, words
        words.end()
        if words.words:
            commands.append((connector, words.words))
        elif next_connector in ("&&", "||"):
            raise ShellSyntaxError(f'Syntax error: "{next_connector}" unexpected')
        connector, words = next_connector, _Words()

    while i < n:
        ch = text[i]
        if ch in " \t":
            words.end()
            i += 1
        elif ch in ";\n":
            finish(";")
            i += 1
        elif text.startswith("&&", i) or text.startswith("||", i):
            finish(text[i : i + 2])
            i += 2
        elif ch == "#" and not words.started:
            while i < n and text[i] != "\n":
                i += 1
        elif ch in _UNSUPPORTED:
            raise ShellSyntaxError(f"{_UNSUPPORTED[ch]} ({ch!r}) are not available")
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("Syntax error: Unterminated quoted string")
            words.add(text[i + 1 : end], quoted=True)
            i = end + 1
        elif ch == '"':
            i = _double_quoted(text, i + 1, words, env, positional)
        elif ch == "\\":
            words.add(text[i + 1 : i + 2], quoted=True)
            i += 2
        elif ch == "$":
            value, i = _parameter(text, i, env, positional)
            words.add("$" if value is None else value, quoted=value is None)
        else:
            words.add(ch, quoted=True)
            i += 1
    if connector in ("&&", "||") and not (words.started or words.words):
        raise ShellSyntaxError("Syntax error: end of file unexpected")
    finish(";")
    return commands


def _double_quoted(text: str, i: int, words: _Words, env: dict[str, str], positional: list[str]) -> int:
    """Consume a ``"…"`` string starting after its opening quote; returns the index after it."""
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == '"':
            words.add("".join(out), quoted=True)
            return i + 1
        if ch == "\\" and text[i + 1 : i + 2] in ('"', "\\", "$", "`", "\n"):
            out.append(text[i + 1] if text[i + 1] != "\n" else "")
            i += 2
        elif ch == "$":
            value, i = _parameter(text, i, env, positional)
            out.append("$" if value is None else value)
        elif ch == "`":
            raise ShellSyntaxError("command substitution (`) is not available")
        else:
            out.append(ch)
            i += 1
    raise ShellSyntaxError("Syntax error: Unterminated quoted string")


def _echo(argv: list[str], env: dict[str, str]) -> ExecResult:
    newline = not (len(argv) > 1 and argv[1] == "-n")
    text = " ".join(argv[2:] if not newline else argv[1:])
    return ExecResult(text + ("\n" if newline else ""), "", 0)


def run_shell(argv: list[str], env: dict[str, str], programs: dict[str, Program]) -> ExecResult:
    """``sh -c PROGRAM [NAME [ARG...]]`` with ``env`` as the process environment."""
    shell = _basename(argv[0])
    if len(argv) < 3 or argv[1] != "-c":
        return ExecResult(
            "",
            f"{shell}: this simulated pod runs {shell} only as `{shell} -c 'PROGRAM' [NAME [ARG...]]` "
            f"(there is no terminal or stdin; got {shlex.join(argv)})\n",
            SYNTAX,
        )
    positional = [argv[3] if len(argv) > 3 else shell, *argv[4:]]
    try:
        commands = parse_program(argv[2], env, positional)
    except ShellSyntaxError as exc:
        return ExecResult("", f"{shell}: 1: {exc} in this simulated pod's shell\n", SYNTAX)
    stdout: list[str] = []
    stderr: list[str] = []
    code = 0
    for connector, words in commands:
        if (connector == "&&" and code != 0) or (connector == "||" and code == 0):
            continue
        program = programs.get(_basename(words[0]))
        if program is None:
            result = ExecResult("", f"{shell}: 1: {words[0]}: not found\n", NOT_FOUND)
        else:
            result = program(words, env)
        stdout.append(result.stdout)
        stderr.append(result.stderr)
        code = result.code
    return ExecResult("".join(stdout), "".join(stderr), code)


def command_argv(command: str) -> list[str]:
    """The argv ``exec_db`` runs for a command line: ``sh``/``bash``/``mongo``/``mongosh`` lines are
    split as a shell would (``shlex``); anything else is bare statements, run as ``mongo --quiet --eval``.
    """
    words = command.strip().split(None, 1)
    if not words or _basename(words[0]) not in (*SHELLS, *DB_SHELLS):
        return ["mongo", "--quiet", "--eval", command]
    try:
        return shlex.split(command)
    except ValueError as exc:
        raise SimError(f"cannot parse the command line {command[:80]!r}: {exc}") from exc


def _container(state: State, namespace: str, pod_name: str, container: str | None) -> ContainerRun:
    pod = state.store.get("Pod", namespace, pod_name)
    if pod is None:
        raise NotFound(f'pods "{pod_name}" not found in namespace "{namespace}"')
    run = state.pods.get(pod["metadata"]["uid"])
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    name = container or (names[0] if names else "")
    if container is not None and container not in names:
        raise SimError(
            f"container {container} is not valid for pod {pod_name}; containers: {', '.join(names)}"
        )
    ctr = run.containers.get(name) if run else None
    if ctr is None or ctr.state != "running":
        raise SimError(f'unable to upgrade connection: container not found ("{name}")')
    return ctr


def exec_in_pod(
    state: State, namespace: str, pod_name: str, argv: list[str], container: str | None = None
) -> ExecResult:
    """Run ``argv`` in a container of ``pod_name`` (default: its first) as ``kubectl exec`` would.

    Raises ``NotFound``/``SimError`` when there is no such pod or the container is not running (the
    API server refuses before anything runs); otherwise the process's output and exit code.
    """
    if not argv:
        raise SimError("exec needs a command: kubectl exec POD -- COMMAND [ARG...]")
    ctr = _container(state, namespace, pod_name, container)
    from aoi.sim.behaviour.mongo_shell import run_mongo

    def mongo(args: list[str], env: dict[str, str]) -> ExecResult:
        return run_mongo(state, namespace, ctr, args, env)

    has_db_shell = _basename(ctr.image.split(":")[0]).startswith("mongo")
    programs: dict[str, Program] = {"echo": _echo}
    if has_db_shell:
        programs.update({name: mongo for name in DB_SHELLS})
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": pod_name,
        "HOME": "/root",
        **ctr.snapshot.env,
    }
    program = _basename(argv[0])
    if program in SHELLS:
        return run_shell(argv, env, programs)
    if program in programs:
        return programs[program](argv, env)
    runnable = "its database shell (mongo/mongosh)" if has_db_shell else "echo (it has no database shell)"
    return ExecResult(
        "",
        f'OCI runtime exec failed: exec: "{argv[0]}": executable file not found in $PATH '
        f"(the simulated pod can only run {runnable}, directly or through sh -c)\n",
        NOT_FOUND,
    )
