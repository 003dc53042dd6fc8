"""``aoi policy check|show|evaluate|rbac``: the action whitelist from the operator's side.

``check`` validates an edited policy before AOI_POLICY_FILE points at it; ``show`` lists what AOI may
do; ``evaluate`` answers "would this action be allowed, and what exactly would run?"; ``rbac``
writes the executor's and the investigator's Kubernetes RBAC, derived from the policy's verbs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from aoi.bot.settings import get_settings
from aoi.policies import (
    Policy,
    PolicyError,
    evaluate,
    load_catalogue,
    load_policy_digested,
    render_command,
)
from aoi.policies.rbac import build_rbac, dump_manifests, write_manifests

app = typer.Typer(
    help="Check and show the action whitelist; generate the executor's RBAC.", no_args_is_help=True
)

PolicyOption = typer.Option(
    None, "--policy", help="Policy file (default: AOI_POLICY_FILE or the packaged one)."
)


def _load(path: Path | None) -> Policy:
    return _load_digested(path)[0]


def _load_digested(path: Path | None) -> tuple[Policy, str]:
    """The policy and its digest, the one ``/aoi status`` shows for the policy in force."""
    try:
        return load_policy_digested(path if path is not None else get_settings().policy_file)
    except PolicyError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None


@app.command("check")
def check(file: Path = typer.Argument(..., help="The policy YAML file to validate.")) -> None:
    """Validate a policy file; exit 1 with each offending key when it is invalid."""
    policy, digest = _load_digested(file)
    high = sum(rule.risk == "high" for rule in policy.rules)
    typer.echo(
        f"OK: {file} — {len(policy.rules)} rules, {len(policy.verbs)} verbs, {high} high-risk (two-person), "
        f"digest {digest}"
    )


@app.command("show")
def show(policy_file: Path | None = PolicyOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """List the rules: verb, where, risk, approvals and the command template."""
    policy, digest = _load_digested(policy_file)
    if as_json:
        data = policy.model_dump(mode="json", exclude={"definitions"})
        typer.echo(json.dumps({**data, "digest": digest}, indent=2))
        return
    table = Table(title=f"AOI policy: {policy.source} @ {digest}")
    for column in ("rule", "verb", "where", "risk", "approvals", "approvers", "command"):
        table.add_column(column, overflow="fold")
    catalogue = load_catalogue()
    for rule in policy.rules:
        where = ", ".join(rule.namespaces) or f"(cluster-scoped {catalogue.verbs[rule.verb].target_kind})"
        table.add_row(
            rule.id,
            rule.verb,
            where,
            rule.risk,
            str(rule.approvals_required),
            ", ".join(rule.approvers),
            rule.command,
        )
    Console(width=200).print(table)


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


@app.command("evaluate")
def evaluate_command(
    verb: str = typer.Argument(..., help="e.g. scale"),
    target: str = typer.Argument(..., help="the object acted on, e.g. user-service"),
    namespace: str = typer.Option("", "--namespace", "-n", help="namespace (ECS cluster / AWS region)"),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="KEY=VALUE; VALUE is parsed as JSON if it can be"
    ),
    policy_file: Path | None = PolicyOption,
) -> None:
    """Would this action be allowed? Prints the decision and the exact command; exit 1 if refused."""
    policy = _load(policy_file)
    request = {
        "verb": verb,
        "target": target,
        "namespace": namespace,
        "params": dict(map(_parse_param, param)),
    }
    decision = evaluate(policy, request)
    typer.echo(decision.reason)
    if not decision.allowed:
        raise typer.Exit(code=1)
    typer.echo(f"command: {render_command(policy, request)}")


@app.command("rbac")
def rbac(
    policy_file: Path | None = PolicyOption,
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="A concrete namespace covered by a glob in the policy (repeatable)."
    ),
    service_account_namespace: str = typer.Option(
        "aoi", "--service-account-namespace", help="Where AOI runs."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write executor.yaml and investigator.yaml here."),
) -> None:
    """Generate the executor's Roles (derived from the policy's verbs) and the investigator's (read-only)."""
    policy = _load(policy_file)
    manifests = build_rbac(
        policy, extra_namespaces=namespace, service_account_namespace=service_account_namespace
    )
    for warning in manifests.warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    if out is not None:
        try:
            written = write_manifests(manifests, policy, out)
        except OSError as exc:
            typer.secho(f"error: cannot write to {out}: {exc.strerror or exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=1) from None
        for path in written:
            typer.echo(f"wrote {path}")
        return
    name = Path(policy.source).name
    typer.echo(dump_manifests(manifests.executor, name, "Executor"), nl=False)
    typer.echo("---")
    typer.echo(dump_manifests(manifests.investigator, name, "Investigator"), nl=False)
