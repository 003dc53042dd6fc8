"""The ``heuristic`` planner: an offline SRE expert that sees only tool outputs.

It never sees the problem, the fault or the grader — only ``context.history`` (what the read tools
returned), the incident text (for the namespace) and Evolver guidance notes, whose named probes it
makes once three probes are made, before the rest of its routine (``guidance``). Each step it
rebuilds the facts from the history, asks the agenda for the next read an SRE would make, and when
nothing is left (or the budget is nearly spent) submits a diagnosis with the root cause in AIOpsLab's
taxonomy, the evidence steps and a remediation built from the rule data. Deterministic: the same
tool outputs give the same steps.
"""

from __future__ import annotations

import json

from aoi.agents.planners.base import PlannerContext, PlannerOutput
from aoi.agents.planners.heuristic.agenda import next_probe
from aoi.agents.planners.heuristic.diagnose import submission
from aoi.agents.planners.heuristic.facts import build_facts
from aoi.agents.planners.heuristic.guidance import guided_made, guided_probes
from aoi.agents.planners.heuristic.rules import Rules, load_rules
from aoi.agents.records import Step

__all__ = ["HeuristicPlanner"]


class HeuristicPlanner:
    """Rule-based planner (``Planner`` and ``FallbackPlanner``); ``rules_path`` overrides rules.yaml."""

    name = "heuristic"
    model_version: str | None = None

    def __init__(self, rules_path: str | None = None) -> None:
        self.rules: Rules = load_rules(rules_path)

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        facts = build_facts(context)
        made = guided_made(item.step.summary for item in context.history)
        guided = list(guided_probes(facts, context.guidance, context.tools, made))
        probe = None if context.budget_left.steps <= 1 else next_probe(facts, self.rules, guided)
        known = {spec.name for spec in context.tools}
        if probe is not None and probe.tool in known:
            step = Step(
                summary=probe.why,
                action_type="probe",
                reasoning=probe.why,
                tool=probe.tool,
                args=probe.args,
                targets=[str(probe.args.get("name") or probe.args.get("namespace") or "")],
                confidence=0.5,
            )
        else:
            step = self.conclude(context)
        return PlannerOutput(step=step, raw_text=json.dumps(step.model_dump(mode="json"), sort_keys=True))

    def conclude(self, context: PlannerContext) -> Step:
        facts = build_facts(context)
        args = submission(facts, self.rules)
        confidence = 0.9 if args["detected"] and args.get("remediations") else 0.75
        return Step(
            summary=str(args["summary"]),
            action_type="submit",
            reasoning=str(args["summary"]),
            args=args,
            targets=list(args["faulty_components"]),
            confidence=confidence,
        )
