"""``aoi problems list`` and ``aoi problems generate``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aoi.bot.commands.problems import app
from aoi.sim import SimCluster, load_suite


def test_list_json_filters_by_split() -> None:
    result = CliRunner().invoke(app, ["list", "--split", "train", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == len(load_suite("train")) and {r["split"] for r in rows} == {"train"}


def test_list_rejects_an_unknown_split() -> None:
    result = CliRunner().invoke(app, ["list", "--split", "dev"])
    assert result.exit_code == 2 and "--split must be train or test" in result.output


def test_generate_writes_valid_distinct_problems_that_reset(tmp_path: Path) -> None:
    out = tmp_path / "gen.yaml"
    result = CliRunner().invoke(
        app, ["generate", "--n", "25", "--seed", "4", "--split", "test", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    suite = load_suite(out)
    assert len(suite) == 25 and {p.split for p in suite.values()} == {"test"}
    assert all(p.expected for p in suite.values())
    for problem in list(suite.values())[:5]:
        assert SimCluster.from_problem(problem).list_objects("Pod")
    again = tmp_path / "again.json"
    CliRunner().invoke(app, ["generate", "--n", "25", "--seed", "4", "--split", "test", "-o", str(again)])
    assert list(load_suite(again)) == list(suite)


def test_generate_refuses_a_bad_output_suffix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--n", "2", "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and ".json, .yaml or .yml" in result.output
