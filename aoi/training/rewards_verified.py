"""The verified-outcome reward: roll the completed step out on the simulator and score what happened.

Beyond AOI's judge (which only compares with the expert), this reward asks the world. For each
completion, on the row's problem (``problem_id`` column):

=========  ===========================================================================================
step       reward in [0, 1]
=========  ===========================================================================================
invalid    0
probe      the read tool really runs on the problem's cluster: output with an anomaly signal (error,
           refused, CrashLoopBackOff, not ready …) 1.0; healthy output 0.6; no data 0.3; an error
           (unknown pod, bad arguments) 0
propose    the action is executed on a fresh cluster through the executor (policy re-checked, approved
           as an evaluation click), then the mitigation is graded: repaired 1.0, executed but still
           broken 0.2, refused by policy or failed 0
submit     the diagnosis is graded (for mitigation tasks after executing its top remediation): 1 or 0
=========  ===========================================================================================

A row without a problem (a production investigation from Slack: there is no simulator problem to
roll it out on) scores NaN — "not applicable", what trl makes of a ``None`` reward: its weighted sum
and logged means skip it, and the judge alone scores that row.

Pure in the trl sense (no state leaks between calls): probes share one read-only cluster per problem
(reads never change state), every write happens on a fresh cluster that is then thrown away.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aoi.agents.backends.sim import SimReadBackend
from aoi.agents.evaluation.runner import execute_top_proposal
from aoi.agents.planners.base import PlannerError
from aoi.agents.proposals import parse_action_request, policy_annotator
from aoi.agents.records import Diagnosis, RootCause, Step
from aoi.agents.tools import read_tools
from aoi.agents.tools.base import Tool
from aoi.policies.schema import Policy, load_policy
from aoi.sim import Problem, SimCluster, grade
from aoi.training.rewards import completion_text, parse_step_completion

_ANOMALY = re.compile(
    r"(error|fail|refused|timeout|timed out|crashloop|backoff|denied|unauthori[sz]ed|oomkilled|"
    r"unavailable|not ?ready|pending|evicted|unreachable|exceeded|notready|0/\d)",
    re.IGNORECASE,
)


class VerifiedOutcomeReward:
    """trl reward function over the ``problem_id`` column (see the module docstring)."""

    __name__ = "verified_outcome_reward"

    def __init__(self, problems: Mapping[str, Problem], policy: Policy | None = None) -> None:
        self.problems = dict(problems)
        self.policy = policy or load_policy(None)
        self._tools: dict[str, dict[str, Tool]] = {}

    def _problem(self, problem_id: str) -> Problem:
        try:
            return self.problems[problem_id]
        except KeyError:
            raise KeyError(
                f"row problem_id {problem_id!r} is not among the {len(self.problems)} problems this reward "
                "was built with; build it with the suite the dataset came from"
            ) from None

    def _read_tools(self, problem_id: str) -> dict[str, Tool]:
        if problem_id not in self._tools:
            cluster = SimCluster.from_problem(self._problem(problem_id))
            self._tools[problem_id] = {t.name: t for t in read_tools(SimReadBackend(cluster))}
        return self._tools[problem_id]

    def probe_score(self, problem_id: str, step: Step) -> float:
        tool = self._read_tools(problem_id).get(step.tool or "")
        if tool is None:
            return 0.0
        try:
            result = tool(**step.args)
        except ValueError:  # ToolArgumentError: the model's arguments do not fit the schema
            return 0.0
        if result.status == "error":
            return 0.0
        if result.status == "no_data":
            return 0.3
        return 1.0 if _ANOMALY.search(result.output) else 0.6

    def _graded(self, problem: Problem, diagnosis: Diagnosis) -> tuple[bool, bool]:
        """(success, executed) after executing the top remediation on a fresh cluster for mitigation."""
        cluster = SimCluster.from_problem(problem)
        executed = False
        if problem.task == "mitigation":
            result = execute_top_proposal(cluster, diagnosis, self.policy)
            executed = result is not None and result.status != "refused"
        verdict = grade(problem, cluster, diagnosis.to_json_dict())
        return bool(verdict.success), executed

    def propose_score(self, problem_id: str, step: Step) -> float:
        problem = self._problem(problem_id)
        try:
            request = parse_action_request(step.args)
        except PlannerError:  # a malformed action request is simply a failed proposal
            return 0.0
        remediations = policy_annotator(self.policy)([request])
        if not remediations:
            return 0.0  # not whitelisted
        if problem.task != "mitigation":
            return 0.1  # a proposal is off-task for detection/localization/analysis
        diagnosis = Diagnosis(detected=True, faulty_components=[request.target], remediations=remediations)
        success, executed = self._graded(problem, diagnosis)
        return 1.0 if success else (0.2 if executed else 0.0)

    def submit_score(self, problem_id: str, step: Step) -> float:
        problem = self._problem(problem_id)
        args = step.args
        raw_root = args.get("root_cause")
        root: dict[str, Any] = raw_root if isinstance(raw_root, dict) else {}
        requests = []
        for raw in args.get("remediations") or []:
            try:
                requests.append(parse_action_request(raw))
            except PlannerError:  # a malformed remediation is dropped
                continue
        diagnosis = Diagnosis(
            detected=bool(args.get("detected", True)),
            faulty_components=[str(c) for c in args.get("faulty_components") or []],
            root_cause=RootCause(
                system_level=str(args.get("system_level") or root.get("system_level") or ""),
                fault_type=str(args.get("fault_type") or root.get("fault_type") or ""),
                summary=str(args.get("summary") or root.get("summary") or step.summary),
            ),
            remediations=policy_annotator(self.policy)(requests) if requests else [],
        )
        success, _ = self._graded(problem, diagnosis)
        return 1.0 if success else 0.0

    def score(self, problem_id: str, completion: str, tool_names: Sequence[str] | None = None) -> float:
        step = parse_step_completion(completion, tool_names).step
        if step is None:
            return 0.0
        if step.action_type == "probe":
            return self.probe_score(problem_id, step)
        if step.action_type == "propose":
            return self.propose_score(problem_id, step)
        return self.submit_score(problem_id, step)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        if "problem_id" not in columns:
            raise KeyError("the verified reward needs a 'problem_id' column in the step rows")
        problem_ids = columns["problem_id"]
        tools = columns.get("tool_names") or [None] * len(completions)
        return [
            self.score(str(pid), completion_text(c), names) if pid else math.nan
            for c, pid, names in zip(completions, problem_ids, tools, strict=True)
        ]
