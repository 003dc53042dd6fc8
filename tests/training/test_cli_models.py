"""`aoi models list|promote|rollback` drive the registry through the configured store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aoi.bot.cli import app
from aoi.bot.settings import get_settings
from aoi.store.db import Store
from aoi.training.registry import ModelRegistry
from aoi.training.runs import TrainResult
from tests.training.test_vllm_client import FakeVllm, fake_vllm  # noqa: F401 - the fixture


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelRegistry]:
    url = f"sqlite:///{tmp_path / 'aoi.db'}"
    monkeypatch.setenv("AOI_DATABASE_URL", url)
    monkeypatch.setenv("AOI_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    store = Store.open(url, migrate=True)
    yield ModelRegistry(store, tmp_path / "data" / "models" / "registry")
    store.dispose()
    get_settings.cache_clear()


def _register(registry: ModelRegistry, tmp_path: Path, name: str) -> str:
    adapter = tmp_path / name / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    result = TrainResult("grpo", adapter, "base", f"h-{name}", {}, {"reward_last": 0.5})
    return registry.register(result).version


def test_list_json_promote_and_rollback(configured: ModelRegistry, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["models", "list", "--json"])
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.output) == []

    first = _register(configured, tmp_path, "a")
    second = _register(configured, tmp_path, "b")
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert {m["version"] for m in listed} == {first, second}
    assert all(m["status"] == "candidate" and m["base_model"] == "base" for m in listed)

    assert runner.invoke(app, ["models", "promote", first]).exit_code == 0
    promoted = runner.invoke(app, ["models", "promote", second, "--json"])
    assert json.loads(promoted.output)["status"] == "promoted"

    rolled = runner.invoke(app, ["models", "rollback"])
    assert rolled.exit_code == 0
    assert first in rolled.output
    current = configured.current()
    assert current is not None and current.version == first

    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "promoted" in table.output


def test_promote_unknown_version_exits_1_with_a_clear_error(configured: ModelRegistry) -> None:
    result = CliRunner().invoke(app, ["models", "promote", "nope"])
    assert result.exit_code == 1
    assert "no version 'nope'" in result.output


def test_rollback_with_nothing_promoted_exits_1(configured: ModelRegistry) -> None:
    result = CliRunner().invoke(app, ["models", "rollback"])
    assert result.exit_code == 1
    assert "nothing to roll back" in result.output


def test_promote_and_rollback_load_the_adapter_into_vllm_so_serving_follows_the_registry(
    configured: ModelRegistry,
    tmp_path: Path,
    fake_vllm: tuple[FakeVllm, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = fake_vllm
    monkeypatch.setenv("AOI_LLM_BASE_URL", f"{url}/v1")
    get_settings.cache_clear()
    runner = CliRunner()
    first, second = _register(configured, tmp_path, "a"), _register(configured, tmp_path, "b")
    path = {m.version: m.adapter_path for m in configured.versions()}
    assert runner.invoke(app, ["models", "promote", first]).exit_code == 0
    assert fake.loaded == {"aoi-observer": path[first]}
    promoted = runner.invoke(app, ["models", "promote", second, "--json"])
    assert json.loads(promoted.output)["served"] is True and fake.loaded == {"aoi-observer": path[second]}
    rolled = runner.invoke(app, ["models", "rollback"])
    assert rolled.exit_code == 0 and "loaded into vLLM" in rolled.output
    assert fake.loaded == {"aoi-observer": path[first]}  # the bad adapter is no longer served


def test_a_failed_hot_load_exits_1_saying_the_registry_changed_but_serving_did_not(
    configured: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AOI_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    get_settings.cache_clear()
    first = _register(configured, tmp_path, "a")
    result = CliRunner().invoke(app, ["models", "promote", first])
    assert result.exit_code == 1
    assert "the registry changed, but loading" in result.output and "into vLLM failed" in result.output
    current = configured.current()
    assert current is not None and current.version == first
    skipped = CliRunner().invoke(app, ["models", "promote", first, "--no-hot-load"])
    assert skipped.exit_code == 0 and "AOI_LOCAL_ADAPTER_PATH=" in skipped.output


def test_without_a_vllm_server_promote_says_how_to_serve_the_adapter(
    configured: ModelRegistry, tmp_path: Path
) -> None:
    first = _register(configured, tmp_path, "a")
    result = CliRunner().invoke(app, ["models", "promote", first])
    assert result.exit_code == 0
    assert f"promoted aoi-observer {first}" in result.output and "AOI_LOCAL_ADAPTER_PATH=" in result.output
