"""The Observer: a budgeted, read-only investigation loop that ends in a Diagnosis (DESIGN.md §5).

Safety by construction: the constructor refuses any tool whose ``effect`` is not ``"read"``, the loop
only ever *calls* read tools, and a fix is recorded as data (``ActionRequest``) — this module never
imports the executor or a ``WriteBackend`` (import-linter checks that).

Each iteration asks the planner for one step. Probe results are compressed and redacted by the tools
before they enter the history. A planner that raises, returns an unusable step, names an unknown tool
or loops is retried within budget; after ``budget.max_retries`` consecutive failures the heuristic
planner takes over from the same history and the diagnosis is marked ``degraded`` with a note. When
steps, tokens or time run out, the heuristic planner concludes from what has been seen so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from aoi.agents.coverage import discounted, unread_sources
from aoi.agents.memory import build_memory
from aoi.agents.planners.base import (
    BudgetLeft,
    FallbackPlanner,
    HistoryItem,
    Planner,
    PlannerContext,
    PlannerError,
    PlannerOutput,
    TaskType,
)
from aoi.agents.planners.heuristic import HeuristicPlanner
from aoi.agents.planners.model_steps import ModelMisconfiguredError
from aoi.agents.proposals import annotate_remediations, parse_action_request
from aoi.agents.records import (
    ActionRequest,
    Diagnosis,
    Evidence,
    RootCause,
    Step,
    TokenCount,
    ToolResult,
    Trajectory,
    TrajectoryStep,
)
from aoi.agents.redaction import redact
from aoi.agents.symptoms import SURVEY_PROBES, symptoms
from aoi.agents.tools.base import Tool, ToolArgumentError

GuidanceSource = Callable[[str], list[str]]
REDACTION_MARK = "[REDACTED:"
MAX_REPEATS = 2  # an identical probe (tool and args) is run at most this many times per investigation


class WriteToolRefused(ValueError):
    """The Observer was handed a tool that can write; it only ever accepts read tools."""


UNDETERMINED_SUMMARY = (
    "Not determined: no read of the cluster succeeded before the investigation ended, so nothing "
    "was checked and no fault can be ruled out."
)
# the notes that say the model planner stopped and the fallback took over (failures, out of time): a
# run that merely used up its step budget is the planner's own result, concluded for it
FELL_BACK_NOTES = ("fell back to the", "used its share of the")


def fell_back(notes: Sequence[str]) -> bool:
    """Whether a diagnosis with these notes was taken over by the fallback planner."""
    return any(marker in note for note in notes for marker in FELL_BACK_NOTES)


FALLBACK_RESERVE_SHARE = 0.25
FALLBACK_RESERVE_MAX_S = 30.0


@dataclass(frozen=True)
class Budget:
    """Limits of one investigation: planner steps, total tokens, wall-clock seconds, retries per step."""

    max_steps: int = 25
    max_tokens: int = 200_000
    deadline_s: float = 120.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.max_tokens < 1 or self.deadline_s <= 0 or self.max_retries < 0:
            raise ValueError(f"invalid budget {self}: steps, tokens and deadline must be positive")

    @property
    def fallback_reserve_s(self) -> float:
        """Seconds of the deadline a model planner may not spend: the fallback's time to investigate
        when the model fails late. Without it, two hung requests of 60 s took a 120 s deadline whole
        and the fallback concluded from nothing (a "no fault found" after zero reads)."""
        return min(FALLBACK_RESERVE_MAX_S, self.deadline_s * FALLBACK_RESERVE_SHARE)


class Observer:
    """``Observer(tools, planner, budget).run(incident, task) -> Trajectory`` (see module docstring)."""

    def __init__(
        self,
        tools: Sequence[Tool],
        planner: Planner,
        budget: Budget | None = None,
        *,
        fallback: FallbackPlanner | None = None,
        guidance: GuidanceSource | None = None,
        annotate: Callable[[list[ActionRequest]], list[Any]] | None = None,
    ) -> None:
        writers = [t.name for t in tools if getattr(t, "effect", None) != "read"]
        if writers:
            raise WriteToolRefused(
                f"the Observer only takes read tools; refusing {writers} (effect != 'read'). "
                "Writes belong to the executor, after policy and approval."
            )
        names = [t.name for t in tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate tool names {duplicates}")
        self.tools = {t.name: t for t in tools}
        self.planner = planner
        self.budget = budget or Budget()
        self.fallback: FallbackPlanner = fallback or HeuristicPlanner()
        self.guidance = guidance
        self.annotate = annotate or annotate_remediations

    # -- one investigation -------------------------------------------------------------------
    def run(self, incident: str, task: TaskType | None = None, problem_id: str | None = None) -> Trajectory:
        # Incident text is untrusted input like any tool output: redact it before a model or the
        # returned trajectory (which is stored) sees it.
        incident = redact(incident)
        run = _Run(self, incident, task)
        trajectory = Trajectory(
            problem_id=problem_id, incident=incident, task=task, planner=self.planner.name
        )
        diagnosis = run.loop(trajectory)
        trajectory.diagnosis = diagnosis
        return trajectory


class _Run:
    """The mutable state of one ``Observer.run`` (kept out of the Observer so it is reusable)."""

    def __init__(self, observer: Observer, incident: str, task: TaskType | None) -> None:
        self.o = observer
        self.incident = incident
        self.task = task
        self.started = time.monotonic()
        self.history: list[HistoryItem] = []
        self.proposals: list[ActionRequest] = []
        self.tokens_in = 0
        self.tokens_out = 0
        self.failed_tokens = 0  # of which spent by attempts that failed
        self.attempts = 0
        self.planner: Planner = observer.planner
        self.degraded = False
        self.notes: list[str] = []
        self.rejected: str | None = None  # why the last step was not carried out (for the planner)
        self.asked = symptoms(incident, ())  # the text guidance was last asked with
        self.guidance = observer.guidance(self.asked) if observer.guidance else []

    def reask_guidance(self) -> None:
        """Ask for guidance again with what the probes saw (``aoi.agents.symptoms``), from the
        ``SURVEY_PROBES``-th probe on, each time new error lines have shown: an incident text alone
        often matches the notes of several faults of one app equally, the observed lines tell them
        apart. The answer replaces the earlier notes, an empty one included. A source that fails
        here leaves the notes as they were: guidance improves an investigation, it never stops one."""
        if self.o.guidance is None or len(self.history) < SURVEY_PROBES:
            return
        text = symptoms(self.incident, (item.result for item in self.history))
        if text == self.asked:
            return
        self.asked = text
        try:
            notes = list(self.o.guidance(text))
        except Exception as exc:  # a store or embedder failure mid-investigation
            self.notes.append(f"guidance re-ask failed, keeping the earlier notes: {_short(exc)}")
            return
        if notes != self.guidance:
            self.notes.append(
                f"guidance re-asked with the error lines of {len(self.history)} probes: {len(notes)} note(s)"
            )
        self.guidance = notes

    # -- budget ------------------------------------------------------------------------------
    def left(self) -> BudgetLeft:
        b = self.o.budget
        return BudgetLeft(
            steps=b.max_steps - self.attempts,
            tokens=b.max_tokens - self.tokens_in - self.tokens_out,
            seconds=b.deadline_s - (time.monotonic() - self.started),
        )

    def planner_left(self) -> BudgetLeft:
        """What the current planner is told remains: a model planner's seconds stop short of the
        fallback's reserve (it sizes its request timeouts from them)."""
        left = self.left()
        if self.planner is self.o.fallback:
            return left
        return replace(left, seconds=left.seconds - self.o.budget.fallback_reserve_s)

    def model_out_of_time(self) -> None:
        """The model planner reached the fallback's reserve: hand over (once) so there is time to read."""
        if self.planner is self.o.fallback or self.planner_left().seconds > 0:
            return
        self.degraded = True
        self.notes.append(
            f"planner {self.planner.name} used its share of the {self.o.budget.deadline_s:.0f}s deadline; "
            f"the {self.o.fallback.name} planner investigated in the {self.left().seconds:.0f}s kept for it"
        )
        self.planner = self.o.fallback

    def exhausted(self) -> str | None:
        left = self.left()
        if left.steps <= 0:
            return f"step budget of {self.o.budget.max_steps} exhausted"
        if left.tokens <= 0:
            return f"token budget of {self.o.budget.max_tokens} exhausted"
        if left.seconds <= 0:
            return f"deadline of {self.o.budget.deadline_s:.0f}s passed"
        return None

    def context(self) -> PlannerContext:
        return PlannerContext(
            incident=self.incident,
            task=self.task,
            tools=[t.spec for t in self.o.tools.values()],
            history=list(self.history),
            memory=build_memory(self.history),
            guidance=list(self.guidance),
            budget_left=self.planner_left(),
            rejected=self.rejected,
        )

    # -- the loop ----------------------------------------------------------------------------
    def loop(self, trajectory: Trajectory) -> Diagnosis:
        failures = 0
        while True:
            reason = self.exhausted()
            if reason:
                self.notes.append(f"{reason}; concluded from the evidence gathered so far")
                self.degraded = True
                step = self.o.fallback.conclude(self.context())
                return self.finish(trajectory, step, self.o.fallback.name)
            self.model_out_of_time()
            context = self.context()
            self.attempts += 1
            try:
                output = self.planner.next_step(context)
                self.tokens_in += max(0, output.prompt_tokens)
                self.tokens_out += max(0, output.completion_tokens)
                try:
                    step = self.validate(output)
                except Exception as exc:
                    self.rejected = redact(_short(exc))  # told to the planner on its next try
                    raise
            except Exception as exc:  # any planner failure is retried, then falls back
                failures += 1
                self.charge_failed_attempt(exc)
                # an endpoint's error body can echo the request's bearer token: redacted like tool output
                self.notes.append(
                    f"planner {self.planner.name} step {self.attempts} failed: {redact(_short(exc))}"
                )
                if failures > self.o.budget.max_retries or isinstance(exc, ModelMisconfiguredError):
                    if self.planner is self.o.fallback:
                        raise  # the heuristic planner failing is a bug, not a model hiccup
                    self.degraded = True
                    self.notes.append(
                        f"planner {self.planner.name} failed {failures} times in a row; "
                        f"fell back to the {self.o.fallback.name} planner"
                    )
                    self.planner = self.o.fallback
                    failures = 0
                continue
            failures = 0
            self.rejected = None
            if step.action_type == "submit":
                return self.finish(trajectory, step, self.planner.name, output)
            result = self.act(step)
            index = len(self.history) + 1
            self.history.append(HistoryItem(index=index, step=step, result=result))
            trajectory.steps.append(
                TrajectoryStep(
                    index=index,
                    step=step,
                    result=result,
                    planner=self.planner.name,
                    prompt_tokens=output.prompt_tokens,
                    completion_tokens=output.completion_tokens,
                )
            )
            self.reask_guidance()

    def charge_failed_attempt(self, exc: BaseException) -> None:
        """Tokens a failed ``next_step`` spent (model planners' errors carry ``prompt_tokens`` and
        ``completion_tokens``): they count against the budget and in the Diagnosis like any others.
        Tokens of a step that came back but failed validation were already counted above."""
        spent_in, spent_out = _tokens_of(exc, "prompt_tokens"), _tokens_of(exc, "completion_tokens")
        self.tokens_in += spent_in
        self.tokens_out += spent_out
        self.failed_tokens += spent_in + spent_out

    def validate(self, output: PlannerOutput) -> Step:
        """Reject steps the Observer cannot carry out; the error text tells the planner why."""
        step = output.step
        if not isinstance(step, Step):
            raise PlannerError(f"planner returned {type(step).__name__}, expected a Step")
        if step.action_type == "probe":
            if step.tool not in self.o.tools:
                raise PlannerError(f"unknown tool {step.tool!r}; available: {sorted(self.o.tools)}")
            step.args = self.o.tools[step.tool].validate(step.args)
            repeats = [h for h in self.history if h.step.tool == step.tool and h.step.args == step.args]
            if len(repeats) >= MAX_REPEATS:
                # the same read again (in a row, or cycling through a few) adds nothing: a tool loop
                raise PlannerError(
                    f"loop: {step.tool}({step.args}) was already made {len(repeats)} times; "
                    "use its result from the history or conclude"
                )
        elif step.action_type == "propose":
            parse_action_request(step.args)
        else:
            _submission(step)
        return step

    def act(self, step: Step) -> ToolResult | None:
        if step.action_type == "propose":
            self.proposals.append(parse_action_request(step.args))
            return None
        assert step.tool is not None
        try:
            return self.o.tools[step.tool](**step.args)
        except ToolArgumentError as exc:
            return ToolResult(
                tool=step.tool, invocation=f"{step.tool}({step.args})", status="error", error=str(exc)
            )
        except Exception as exc:  # a backend failing in a way it does not translate: unread, not fatal
            return ToolResult(
                tool=step.tool,
                invocation=f"{step.tool}({step.args})",
                status="error",
                error=redact(f"backend failure: {_short(exc)}"),
            )

    # -- the answer --------------------------------------------------------------------------
    def finish(
        self, trajectory: Trajectory, step: Step, planner_name: str, output: PlannerOutput | None = None
    ) -> Diagnosis:
        args = _submission(step)
        index = len(self.history) + 1
        trajectory.steps.append(
            TrajectoryStep(
                index=index,
                step=step,
                planner=planner_name,
                prompt_tokens=output.prompt_tokens if output else 0,
                completion_tokens=output.completion_tokens if output else 0,
            )
        )
        requests = list(self.proposals) + [parse_action_request(r) for r in args.get("remediations") or []]
        unique: dict[str, ActionRequest] = {}
        for request in requests:
            key = request.model_dump_json(exclude={"rationale"})
            if REDACTION_MARK in key:
                # a value copied from redacted tool output: writing it back would destroy the secret
                self.notes.append(
                    f"proposal {request.verb} {request.target} dropped: it contains redacted text"
                )
                continue
            unique.setdefault(key, request)
        remediations = self.o.annotate(list(unique.values()))
        dropped = len(unique) - len(remediations)  # refused by the policy
        if dropped:
            self.notes.append(f"{dropped} proposed action(s) dropped: not allowed by the action whitelist")
        if self.failed_tokens:
            self.notes.append(f"{self.failed_tokens} tokens were spent on failed planner attempts")
        unread = unread_sources(self.history)
        if unread:
            self.notes.append(
                f"partial diagnosis: {len(unread)} read(s) failed ({'; '.join(unread[:3])}"
                + (f"; and {len(unread) - 3} more" if len(unread) > 3 else "")
                + ")"
            )
        raw_root = args.get("root_cause")
        root: dict[str, Any] = raw_root if isinstance(raw_root, dict) else {}
        detected = bool(args.get("detected", True))
        read_any = any(h.result is not None and h.result.status != "error" for h in self.history)
        undetermined = not detected and not read_any
        confidence = discounted(step.confidence, len(unread))
        if undetermined:
            # "nothing found" after reading nothing is not a finding: say so instead of "healthy"
            self.notes.append(
                "undetermined: no read of the cluster succeeded, so no fault could be ruled out"
            )
            args = {**args, "summary": UNDETERMINED_SUMMARY, "system_level": "", "fault_type": ""}
            root = {}
            confidence = 0.0
        return Diagnosis(
            detected=detected,
            faulty_components=[str(c) for c in args.get("faulty_components") or []],
            root_cause=RootCause(
                system_level=str(args.get("system_level") or root.get("system_level") or ""),
                fault_type=str(args.get("fault_type") or root.get("fault_type") or ""),
                summary=str(args.get("summary") or root.get("summary") or step.summary),
            ),
            evidence=self.evidence(args.get("evidence")),
            remediations=remediations,
            confidence=confidence,
            steps=index,
            tokens=TokenCount.model_validate({"in": self.tokens_in, "out": self.tokens_out}),
            seconds=round(time.monotonic() - self.started, 4),
            trajectory_id=trajectory.id,
            planner=planner_name if not self.degraded else f"{self.o.planner.name}->{planner_name}",
            model_version=getattr(self.o.planner, "model_version", None),
            degraded=self.degraded,
            notes=self.notes,
            unread=unread,
            undetermined=undetermined,
        )

    def evidence(self, cited: Any) -> list[Evidence]:
        """Evidence the planner cited (``[{"step", "finding"}]`` or step indexes), else the last probes."""
        by_index = {h.index: h for h in self.history if h.result is not None}
        out: list[Evidence] = []
        items = cited if isinstance(cited, list) else []
        for item in items:
            index = item.get("step") if isinstance(item, dict) else item
            finding = item.get("finding", "") if isinstance(item, dict) else ""
            h = by_index.get(index) if isinstance(index, int) else None
            if h is not None and h.result is not None:
                out.append(
                    Evidence(
                        tool=h.result.tool,
                        invocation=h.result.invocation,
                        finding=str(finding or h.step.summary),
                    )
                )
        if not out:
            for h in list(by_index.values())[-3:]:
                assert h.result is not None
                out.append(
                    Evidence(tool=h.result.tool, invocation=h.result.invocation, finding=h.step.summary)
                )
        return out


def _submission(step: Step) -> dict[str, Any]:
    """Validate a submit step's args (shape only); raises PlannerError with what is wrong."""
    args = step.args
    if not isinstance(args, dict):
        raise PlannerError("submit args must be an object")
    if "detected" in args and not isinstance(args["detected"], bool):
        raise PlannerError(f"submit: 'detected' must be true or false, got {args['detected']!r}")
    components = args.get("faulty_components", [])
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise PlannerError("submit: 'faulty_components' must be a list of strings")
    remediations = args.get("remediations") or []
    if not isinstance(remediations, list):
        raise PlannerError("submit: 'remediations' must be a list of action requests")
    try:
        for r in remediations:
            parse_action_request(r)
    except (ValidationError, PlannerError) as exc:
        raise PlannerError(f"submit: invalid remediation: {_short(exc)}") from exc
    return args


def _tokens_of(exc: BaseException, name: str) -> int:
    value = getattr(exc, name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "…"
