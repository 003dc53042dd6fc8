"""The ``aoi`` command line: one Typer app that mounts each command group from ``aoi.bot.commands``.

Command modules stay small and own one group each; this file only wires them (DESIGN.md §9 fixes
the names and flags, which scripts rely on).
"""

from __future__ import annotations

import importlib
import logging

import typer
from pydantic import ValidationError

app = typer.Typer(
    name="aoi",
    help="AOI — Autonomous Operations Intelligence: a self-hosted, Slack-native AI SRE.",
    no_args_is_help=True,
    add_completion=False,
)

# (module under aoi.bot.commands, group name or None to add its commands at the top level)
COMMAND_MODULES: list[tuple[str, str | None]] = [
    ("sim", "sim"),
    ("problems", "problems"),
    ("investigate", None),
    ("db", "db"),
    ("data", "data"),
    ("bot", None),
    ("policy", "policy"),
    ("train", "train"),
    ("models", "models"),
    ("guidance", "guidance"),
    ("evolve", None),
]


def _mount() -> None:
    for module_name, group in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"aoi.bot.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"aoi.bot.commands.{module_name}":
                continue  # that command group is not built yet
            raise
        sub: typer.Typer = module.app
        if group is None:
            app.registered_commands.extend(sub.registered_commands)
            app.registered_groups.extend(sub.registered_groups)
        else:
            app.add_typer(sub, name=group)


def _aoi_version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version("aoi")


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(_aoi_version())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print AOI's version and exit."
    ),
) -> None:
    """AOI — Autonomous Operations Intelligence: a self-hosted, Slack-native AI SRE."""


@app.command()
def version() -> None:
    """Print AOI's version."""
    typer.echo(_aoi_version())


_mount()


def configuration_error(exc: ValidationError) -> str:
    """One line per bad setting, named as it is set (``AOI_PLANNER: …``)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        given = error.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"  {where}: {error.get('msg', 'invalid')}{shown}")
    return "invalid configuration — check these environment variables (or .env):\n" + "\n".join(lines)


def main() -> None:
    """Console-script entry point. A bad ``AOI_*`` setting is one ``error:`` block and exit 1, not a
    traceback: every command reads the settings, and most do not catch pydantic's error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ValidationError as exc:
        if exc.title != "Settings":
            raise  # another model's error is a bug to see in full
        typer.secho(f"error: {configuration_error(exc)}", fg=typer.colors.RED, err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
