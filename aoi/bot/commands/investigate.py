"""``aoi diagnose``, ``aoi demo`` and ``aoi eval``: the Observer from the command line (DESIGN.md §9).

- ``diagnose`` investigates one problem (simulated, or through the Kubernetes backend against a real or
  ``aoi sim serve`` cluster) and prints the Diagnosis (``--json``: exactly the §5 JSON).
- ``demo`` runs the whole loop offline: a simulated incident, the investigation step by step, the
  diagnosis and the proposed fix as the Slack thread would show them, an approval prompt, execution
  through the scoped executor, verification, and the grader's verdict. Exit 0 only when mitigated.
- ``eval`` scores a planner k times over a suite in parallel workers (§9 JSON, optional report).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aoi.agents.audit import InMemoryAuditSink, InMemoryLedger
from aoi.agents.backends.base import ReadBackend
from aoi.agents.evaluation import evaluate_suite, incident_text, load_problems
from aoi.agents.evaluation.report import write_report
from aoi.agents.executor import Executor
from aoi.agents.observer import Observer, fell_back
from aoi.agents.planners.factory import PLANNERS, PlannerSpec, make_planner
from aoi.agents.proposals import policy_annotator
from aoi.agents.records import Diagnosis, Trajectory, TrajectoryStep, new_id
from aoi.agents.tools import read_tools
from aoi.bot.commands.slack_preview import render_message
from aoi.bot.settings import get_settings
from aoi.policies.errors import PolicyError
from aoi.policies.evaluate import Actor
from aoi.policies.schema import Policy, load_policy

if TYPE_CHECKING:
    from aoi.sim import Problem

app = typer.Typer(no_args_is_help=True)
DEMO_APPROVER = Actor(user_id="demo-operator")

PlannerOpt = Annotated[
    str | None, typer.Option("--planner", help=f"one of {', '.join(PLANNERS)} (default AOI_PLANNER)")
]
SuiteFileOpt = Annotated[
    Path | None, typer.Option("--suite", help="problem file (default: the packaged AIOpsLab suite)")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def load_one_problem(problem_id: str, suite: Path | None) -> Problem:
    """A problem by id from ``suite`` (a file) or the packaged AIOpsLab suite; clear error otherwise."""
    from aoi.sim import ProblemError, load_suite

    source = str(suite) if suite else "aiopslab"
    if suite is not None and not suite.exists():
        raise _fail(f"suite file {suite} does not exist")
    try:
        problems = load_suite(source)
    except ProblemError as exc:
        raise _fail(str(exc)) from exc
    if problem_id not in problems:
        close = [p for p in problems if problem_id.split("-")[0] in p][:5] or sorted(problems)[:5]
        raise _fail(
            f"no problem {problem_id!r} in {source}; e.g. {', '.join(close)} (see `aoi problems list`)"
        )
    return problems[problem_id]


def planner_spec_for(name: str | None) -> PlannerSpec:
    """``--planner`` (or ``AOI_PLANNER``) with its options from settings."""
    from aoi.bot.services import planner_spec

    settings = get_settings()
    chosen = name or settings.planner
    if chosen not in PLANNERS:
        raise _fail(f"unknown planner {chosen!r}; expected one of {', '.join(PLANNERS)}")
    try:
        return planner_spec(settings.model_copy(update={"planner": chosen}))
    except ValueError as exc:
        raise _fail(str(exc)) from exc


def _namespace_of(app_name: str) -> str:
    from aoi.sim.apps import load_app

    return str(load_app(app_name).namespace)


def configured_policy() -> Policy:
    """``AOI_POLICY_FILE`` (or the packaged policy), or a clear error naming the file."""
    path = get_settings().policy_file
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _fail(f"AOI_POLICY_FILE {path}: {exc}", code=1) from None


def _investigate(
    reader: ReadBackend,
    problem: Problem,
    spec: PlannerSpec,
    on_step: Callable[[TrajectoryStep], None] | None = None,
) -> Trajectory:
    policy = configured_policy()
    try:
        planner = make_planner(spec)
    except (ValueError, OSError) as exc:  # a model path that is not there, a missing endpoint setting
        raise _fail(f"cannot build the {spec.name} planner: {exc}", code=1) from None
    if on_step is not None:
        from aoi.handlers.progress import ProgressPlanner

        planner = ProgressPlanner(planner, on_step)
    observer = Observer(read_tools(reader), planner, annotate=policy_annotator(policy))
    incident = incident_text(problem.app, _namespace_of(problem.app), problem.task)
    return observer.run(incident, problem.task, problem.id)


def _print_diagnosis(console: Console, diagnosis: Diagnosis) -> None:
    table = Table(show_header=False, box=None)
    detected = "undetermined (no read succeeded)" if diagnosis.undetermined else str(diagnosis.detected)
    table.add_row("detected", detected)
    table.add_row("faulty components", ", ".join(diagnosis.faulty_components) or "-")
    table.add_row("root cause", f"{diagnosis.root_cause.system_level} / {diagnosis.root_cause.fault_type}")
    table.add_row("summary", diagnosis.root_cause.summary)
    for rem in diagnosis.remediations:
        table.add_row("proposed fix", f"{rem.command}  [dim](risk {rem.risk}, rule {rem.rule_id})[/dim]")
    table.add_row("planner", f"{diagnosis.planner}{' (degraded)' if diagnosis.degraded else ''}")
    table.add_row("steps / seconds", f"{diagnosis.steps} / {diagnosis.seconds:.2f}")
    for note in diagnosis.notes:  # why it degraded, what could not be read: the operator's first question
        table.add_row("note", escape(note))
    console.print(Panel(table, title="Diagnosis", title_align="left"))


@app.command()
def diagnose(
    problem: Annotated[str, typer.Option("--problem", help="problem id (see `aoi problems list`)")],
    suite: SuiteFileOpt = None,
    planner: PlannerOpt = None,
    backend: Annotated[str, typer.Option("--backend", help="sim (in-process) or kubernetes")] = "sim",
    json_out: Annotated[bool, typer.Option("--json", help="print the Diagnosis JSON only")] = False,
) -> None:
    """Investigate one problem and print the diagnosis (exit 1 when nothing could be read: the
    result is then "undetermined", not a diagnosis)."""
    spec = planner_spec_for(planner)
    chosen = load_one_problem(problem, suite)
    if backend == "sim":
        from aoi.agents.backends.sim import SimReadBackend
        from aoi.sim import SimCluster

        reader: ReadBackend = SimReadBackend(SimCluster.from_problem(chosen))
    elif backend == "kubernetes":
        from aoi.bot.cluster import cluster_backends

        settings = get_settings().model_copy(update={"backend": "kubernetes"})
        try:
            reader = cluster_backends(settings).reader()
        except Exception as exc:
            raise _fail(f"cannot reach the Kubernetes backend: {exc}") from exc
    else:
        raise _fail(f"unknown backend {backend!r}; expected sim or kubernetes")
    trajectory = _investigate(reader, chosen, spec)
    assert trajectory.diagnosis is not None
    if json_out:
        typer.echo(json.dumps(trajectory.diagnosis.to_json_dict(), indent=2))
    else:
        _print_diagnosis(Console(), trajectory.diagnosis)
    if trajectory.diagnosis.undetermined:
        raise typer.Exit(code=1)


def _step_line(console: Console, step: TrajectoryStep) -> None:
    result = step.result
    status = {"ok": "[green]ok[/green]", "error": "[red]error[/red]", "no_data": "[yellow]no data[/yellow]"}
    shown = status.get(result.status, "") if result else ""
    console.print(f"  [bold]#{step.index}[/bold] {step.step.summary or step.step.tool}  {shown}")
    if result is not None:
        console.print(f"     [dim]$ {result.invocation}[/dim]", highlight=False)


def _approve(console: Console, yes: bool) -> bool:
    if yes:
        console.print("[bold]Approve?[/bold] yes (--yes)")
        return True
    if not sys.stdin.isatty():
        console.print(
            "[yellow]No terminal to ask for approval and no --yes: treating the fix as declined.[/yellow]"
        )
        return False
    return typer.confirm("Approve this fix?", default=False)


@app.command()
def demo(
    problem: Annotated[
        str | None, typer.Option("--problem", help="problem id (default AOI_SIM_PROBLEM)")
    ] = None,
    suite: SuiteFileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="approve the proposed fix without asking")] = False,
) -> None:
    """The whole loop offline: incident → investigation → diagnosis → approval → fix → verification."""
    from aoi.agents.backends.sim import SimReadBackend, SimWriteBackend
    from aoi.handlers.blocks.diagnosis import build_diagnosis_blocks
    from aoi.handlers.blocks.proposals import ProposalView, build_proposal_blocks
    from aoi.sim import SimCluster, grade

    settings = get_settings()
    policy = configured_policy()  # before the show starts: a bad policy file is an error, not a crash
    console = Console()
    chosen = load_one_problem(problem or settings.sim_problem, suite or settings.sim_suite)
    cluster = SimCluster.from_problem(chosen)
    reader = SimReadBackend(cluster)
    namespace = _namespace_of(chosen.app)
    pods = {t.name: t for t in read_tools(reader)}["get_pods"](namespace=namespace)
    unready = [p["name"] for p in pods.data or [] if not p["healthy"]]
    console.print(
        Panel(
            f"[bold]#inc-{chosen.app}[/bold] — simulated incident in namespace [cyan]{namespace}[/cyan]\n"
            f"{len(unready)} of {len(pods.data or [])} pods not Ready"
            + (f": {', '.join(unready[:5])}" if unready else " (degradation reported by users)"),
            title="🚨 Alert",
            border_style="red",
        )
    )
    console.print("[bold]🔍 Investigating[/bold] (read-only tools)…")
    trajectory = _investigate(
        reader, chosen, planner_spec_for(None), on_step=lambda s: _step_line(console, s)
    )
    diagnosis = trajectory.diagnosis
    assert diagnosis is not None
    render_message(
        console, build_diagnosis_blocks(diagnosis, trajectory.id, None), "AOI · diagnosis (thread summary)"
    )
    if not diagnosis.remediations:
        console.print("[yellow]No fix to propose: nothing to execute.[/yellow]")
        raise typer.Exit(1)
    top = diagnosis.remediations[0]
    proposal_id = new_id("prop")
    view = ProposalView(proposal_id=proposal_id, remediation=top, rule_id=top.rule_id)
    render_message(console, build_proposal_blocks(view), "AOI · proposed fix")
    if not _approve(console, yes):
        console.print("Declined: nothing was changed.")
        raise typer.Exit(1)
    audit = InMemoryAuditSink()
    executor = Executor(
        SimWriteBackend(cluster),
        reader,
        policy,
        audit,
        ledger=InMemoryLedger(),
        extra_approvers=[DEMO_APPROVER.user_id],
        verify_timeout_s=600.0,
        verify_interval_s=10.0,
        sleep=cluster.advance,
    )
    result = executor.execute(proposal_id, top, DEMO_APPROVER)
    view.status, view.approved_by = result.status, [DEMO_APPROVER.user_id]
    view.outcome, view.verification = result.detail, result.verification
    render_message(console, build_proposal_blocks(view), "AOI · proposal (updated in place)")
    console.print(f"[dim]audit: {', '.join(e.action for e in audit.events)}[/dim]")
    # whatever the problem's task, the demo's question is whether the fault is gone: the simulator's
    # mitigation check (the world's truth, shown after the fact; AOI never reads it)
    as_mitigation = (
        chosen if chosen.task == "mitigation" else chosen.model_copy(update={"task": "mitigation"})
    )
    verdict = grade(as_mitigation, cluster, diagnosis.to_json_dict())
    mitigated = result.status == "succeeded" and result.confirmed and verdict.success
    console.print(
        f"Grader: {'[green]mitigated[/green]' if verdict.success else '[red]not mitigated[/red]'} "
        f"({json.dumps(verdict.details, default=str)[:300]})"
    )
    if result.status == "succeeded" and not result.confirmed:
        console.print("[yellow]The fix ran, but AOI's checks could not confirm it changed anything.[/yellow]")
    raise typer.Exit(0 if mitigated else 1)


@app.command(name="eval")
def eval_command(
    suite: Annotated[
        str, typer.Option("--suite", help="aiopslab, train, test or a problem file")
    ] = "aiopslab",
    planner: PlannerOpt = None,
    k: Annotated[int, typer.Option("--k", min=1, help="runs per problem")] = 1,
    workers: Annotated[int, typer.Option("--workers", min=1, help="parallel worker processes")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="print the §9 JSON only")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="write summary.md and PNG charts here")
    ] = None,
    allow_degraded: Annotated[
        bool,
        typer.Option(
            "--allow-degraded", help="exit 0 even when runs crashed or fell back to the heuristic planner"
        ),
    ] = False,
) -> None:
    """Score a planner over a problem suite: best@k, avg@k, by task and split.

    Exits 1 when any run crashed or fell back to the heuristic planner (unless --allow-degraded):
    the scores are then not the named planner's."""
    spec = planner_spec_for(planner)
    try:
        problems = load_problems(suite)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if not problems:
        raise _fail(f"suite {suite!r} holds no problems: nothing to score")
    policy = configured_policy()
    if report is not None:  # before the run: a bad path must not cost a finished evaluation
        try:
            report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(f"--report {report}: {exc.strerror or exc}", code=1) from None
    err = Console(stderr=True)
    columns = (
        TextColumn("[bold]eval[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=json_out) as progress:
        task = progress.add_task(f"{spec.name} on {suite}", total=len(problems) * k)
        result = evaluate_suite(
            problems,
            spec,
            k,
            suite=suite,
            workers=workers,
            on_record=lambda _r: progress.advance(task),
            policy=policy,
        )
    data = result.to_json()
    records = [r for runs in result.records.values() for r in runs]
    errored = [r for r in records if r.error]
    # taken over by the fallback (the model failed or ran out of time); a run that used up its step
    # budget and was concluded for it is the planner's own result
    degraded = [r for r in records if not r.error and fell_back(r.diagnosis.get("notes") or [])]
    data["runs_errored"], data["runs_degraded"] = len(errored), len(degraded)
    if report is not None:
        paths = write_report(result, report)
        err.print(f"report: {', '.join(str(p) for p in paths)}")
    if json_out:
        typer.echo(json.dumps(data))
    else:
        _print_scores(data, spec.name, suite, k)
    if errored or degraded:
        first = f" (first: {errored[0].error})" if errored else ""
        err.print(
            f"{len(errored)} of {len(records)} runs crashed{first} and {len(degraded)} fell back to the "
            f"heuristic planner: these scores are not {spec.name}'s",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        if not allow_degraded:
            raise typer.Exit(code=1)


def _print_scores(data: dict[str, Any], planner: str, suite: str, k: int) -> None:
    table = Table(title=f"{planner} on {suite}: {data['n']} problems, k={k}")
    for column in ("group", "n", f"best@{k}", f"avg@{k}"):
        table.add_column(column)
    table.add_row("all", str(data["n"]), f"{data['best_at_k']:.3f}", f"{data['avg_at_k']:.3f}")
    for group in ("by_task", "by_split"):
        for name, g in data[group].items():
            table.add_row(name, str(g["n"]), f"{g['best_at_k']:.3f}", f"{g['avg_at_k']:.3f}")
    Console().print(table)
