"""The ``aoi`` command line: one Typer app that mounts each command group from ``aoi.bot.commands``.

Command modules stay small and own one group each; this file only wires them (DESIGN.md §9 fixes
the names and flags, which scripts rely on).
"""

from __future__ import annotations

import importlib
import logging

import typer

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


@app.callback()
def _root() -> None:
    """AOI — Autonomous Operations Intelligence: a self-hosted, Slack-native AI SRE."""


@app.command()
def version() -> None:
    """Print AOI's version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("aoi"))


_mount()


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
