"""``aoi models list|promote|rollback``: the registry of trained adapters and which one is served."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from aoi.bot.settings import Settings, get_settings, normalise_database_url
from aoi.store import Store, StoreError
from aoi.store.db import make_engine, require_existing
from aoi.store.migrate import ensure_current
from aoi.training.registry import DEFAULT_MODEL_NAME, ModelRegistry, RegisteredModel, RegistryError

app = typer.Typer(help="List, promote and roll back trained models (LoRA adapters).", no_args_is_help=True)

UrlOption = typer.Option(None, "--url", help="Database URL (default: AOI_DATABASE_URL or the SQLite file).")
NameOption = typer.Option(DEFAULT_MODEL_NAME, "--name", help="Model name in the registry.")


def registry_root(settings: Settings) -> Path:
    """Where registered adapters live: ``<AOI_DATA_DIR>/models/registry``."""
    return settings.data_dir / "models" / "registry"


def open_store(url: str | None = None) -> Store:
    """The configured store, checked to be at the migration head (else: run ``aoi db upgrade``)."""
    target = normalise_database_url(url) if url else get_settings().effective_database_url
    require_existing(target)
    store = Store(make_engine(target))
    ensure_current(store)
    return store


def open_registry(url: str | None = None, name: str = DEFAULT_MODEL_NAME) -> ModelRegistry:
    return ModelRegistry(open_store(url), registry_root(get_settings()), name=name)


def fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    name: str = NameOption,
    url: str | None = UrlOption,
) -> None:
    """List registered versions, newest first (status: candidate, promoted or retired)."""
    try:
        models = open_registry(url, name).versions()
    except StoreError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps([m.to_json() for m in models], indent=2))
        return
    if not models:
        typer.echo(f"no versions of {name!r} registered yet (train one with `aoi train grpo`)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"model registry: {name}")
    table.add_column("version", no_wrap=True)  # whole, so it can be copied into `aoi models promote`
    for column in ("status", "method", "dataset", "key metric", "adapter"):
        table.add_column(column)
    for m in models:
        metric = next(
            (f"{k}={m.metrics[k]:.3f}" for k in ("avg_at_1", "reward_last", "loss_last") if k in m.metrics),
            "",
        )
        method = m.version.split("-", 1)[1] if "-" in m.version else ""
        table.add_row(m.version, m.status, method, (m.dataset_hash or "")[:12], metric, m.adapter_path or "")
    Console().print(table)


HotLoadOption = typer.Option(
    True,
    "--hot-load/--no-hot-load",
    help="With AOI_LLM_BASE_URL set, load the adapter into that vLLM server now (as the weekly job does).",
)


def serve(model: RegisteredModel, hot_load: bool) -> tuple[str, bool]:
    """Make what serves the model follow the registry, or say how: a promotion that only changed a
    database row while vLLM kept serving the old adapter would leave a bad model in production after
    a "rolled back" message. Returns (what happened, whether serving now matches the registry)."""
    settings = get_settings()
    path = model.adapter_path
    if path is None:
        return "it has no adapter: serve the base model itself (AOI_LLM_MODEL / AOI_LOCAL_MODEL_PATH)", True
    if settings.llm_base_url and hot_load:
        from aoi.training.vllm_client import VLLM_LORA_NAME, VllmAdapterClient, VllmAdapterError

        base = settings.llm_base_url.rstrip("/").removesuffix("/v1")
        try:
            VllmAdapterClient(base, settings.llm_api_key).load_adapter(VLLM_LORA_NAME, path)
        except VllmAdapterError as exc:
            return f"the registry changed, but loading {path} into vLLM failed: {exc}", False
        return f"loaded into vLLM at {base} as {VLLM_LORA_NAME!r}", True
    return (
        f"to serve it: AOI_PLANNER=local AOI_LOCAL_ADAPTER_PATH={path} and restart aoi bot / aoi worker "
        "(or set AOI_LLM_BASE_URL to hot-load it into vLLM)",
        True,
    )


def _report(model: RegisteredModel, done: str, as_json: bool, hot_load: bool) -> None:
    serving, ok = serve(model, hot_load)
    if as_json:
        typer.echo(json.dumps({**model.to_json(), "serving": serving, "served": ok}, indent=2))
    else:
        typer.echo(f"{done}\n{serving}" if ok else done)
    if not ok:
        typer.secho(f"error: {serving}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


@app.command()
def promote(
    version: str = typer.Argument(..., help="Version string or registry id (mdl_…) to serve."),
    as_json: bool = typer.Option(False, "--json", help="Print the promoted version as JSON."),
    hot_load: bool = HotLoadOption,
    name: str = NameOption,
    url: str | None = UrlOption,
) -> None:
    """Serve VERSION from now on (the currently promoted version is retired)."""
    try:
        model = open_registry(url, name).promote(version, actor="cli")
    except (StoreError, RegistryError) as exc:
        raise fail(exc) from None
    _report(model, f"promoted {model.name} {model.version}", as_json, hot_load)


@app.command()
def rollback(
    as_json: bool = typer.Option(False, "--json", help="Print the re-promoted version as JSON."),
    hot_load: bool = HotLoadOption,
    name: str = NameOption,
    url: str | None = UrlOption,
) -> None:
    """Go back to the newest earlier version that was promoted before, in one step (repeated
    rollbacks walk further back; to go forward, promote a version)."""
    try:
        model = open_registry(url, name).rollback(actor="cli")
    except (StoreError, RegistryError) as exc:
        raise fail(exc) from None
    _report(model, f"rolled back {model.name} to {model.version}", as_json, hot_load)
