"""The evaluation harness: run a planner k times over a problem suite on the simulator and grade it.

``evaluate_suite`` is what ``aoi eval`` and ``bench/bench_observer.py`` call; the JSON it returns is
DESIGN.md §9's. The grader sees only the Diagnosis (and, for mitigation, the cluster's end state after
the top proposal was executed through the executor by an evaluation approver, as a click would).
"""

from aoi.agents.evaluation.runner import EVAL_ACTOR, RunRecord, incident_text, run_problem
from aoi.agents.evaluation.suite import EvalResult, evaluate_suite, load_problems

__all__ = [
    "EVAL_ACTOR",
    "EvalResult",
    "RunRecord",
    "evaluate_suite",
    "incident_text",
    "load_problems",
    "run_problem",
]
