"""The simulated cloud: AIOpsLab's apps on a simulated Kubernetes cluster, faults, problems, grader.

Public interface (docs/CONTRACTS.md): ``SimCluster``, ``Problem``, ``load_problem``, ``load_suite``,
``grade``, ``GradeResult``, ``NotFound`` (and the other errors). ``sim`` imports nothing else from
``aoi``.
"""

from aoi.sim.cluster import SimCluster
from aoi.sim.errors import Conflict, FaultError, Invalid, NotFound, ProblemError, SimError
from aoi.sim.grader import GradeResult, grade
from aoi.sim.problems import Problem, load_problem, load_suite

__all__ = [
    "Conflict",
    "FaultError",
    "GradeResult",
    "Invalid",
    "NotFound",
    "Problem",
    "ProblemError",
    "SimCluster",
    "SimError",
    "grade",
    "load_problem",
    "load_suite",
]
