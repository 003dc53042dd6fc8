"""The CLI entry point exists and reports the installed version."""

from importlib.metadata import version

from typer.testing import CliRunner

from aoi.bot.cli import app


def test_version_command_prints_installed_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == version("aoi")
