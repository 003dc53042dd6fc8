"""Fault injection: the catalogue (``catalogue.yaml``) and one small injector per fault type.

``inject(cluster, fault, app)`` applies a fault the way it happens in a real cluster — ordinary
Kubernetes writes, or changes below the API (a MongoDB's users, a pod's network) — so that all
symptoms follow from state. ``is_fixed(cluster, fault, app)`` is the fault-specific half of the
mitigation check. Only this package and ``aoi.sim.grader`` read a problem's fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aoi.sim.apps import load_app
from aoi.sim.faults.base import Injector, Preparing
from aoi.sim.faults.catalogue import catalogue, check_fault, fault_spec, valid_targets
from aoi.sim.faults.flags import INJECTORS as FLAG_FAULTS
from aoi.sim.faults.k8s import INJECTORS as K8S_FAULTS
from aoi.sim.faults.mongo import INJECTORS as MONGO_FAULTS
from aoi.sim.faults.runtime import INJECTORS as RUNTIME_FAULTS
from aoi.sim.faults.tls import INJECTORS as TLS_FAULTS
from aoi.sim.faults.workload import INJECTORS as WORKLOAD_FAULTS

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster
    from aoi.sim.problems import FaultRef

__all__ = ["INJECTORS", "catalogue", "fault_spec", "inject", "is_fixed", "prepare", "valid_targets"]

INJECTORS: dict[str, Injector] = {
    **K8S_FAULTS,
    **WORKLOAD_FAULTS,
    **MONGO_FAULTS,
    **RUNTIME_FAULTS,
    **FLAG_FAULTS,
    **TLS_FAULTS,
}


def _missing() -> list[str]:
    return sorted(set(catalogue().faults) ^ set(INJECTORS))


if _missing():  # the catalogue and the code must describe the same faults
    raise RuntimeError(f"fault catalogue and injectors disagree on: {_missing()}")


def prepare(cluster: SimCluster, fault: FaultRef, app_name: str, fault_at: float) -> None:
    """Set up what a fault needs to have been true since deployment (before any controller runs).

    Most faults need nothing; an injector with a ``prepare`` method (e.g. a service that has always
    served TLS, for a certificate that lapses at ``fault_at``) changes the freshly built objects.
    """
    params = check_fault(fault.type, fault.target, dict(fault.params), app_name)
    injector = INJECTORS[fault.type]
    if isinstance(injector, Preparing):
        injector.prepare(cluster, load_app(app_name), fault.target, params, fault_at)


def inject(cluster: SimCluster, fault: FaultRef, app_name: str) -> None:
    """Apply ``fault`` to ``cluster`` (validated first; a bad target raises FaultError)."""
    params = check_fault(fault.type, fault.target, dict(fault.params), app_name)
    INJECTORS[fault.type].inject(cluster, load_app(app_name), fault.target, params)


def is_fixed(cluster: SimCluster, fault: FaultRef, app_name: str) -> tuple[bool, str]:
    """(True, why) when the fault's effect is gone from the cluster's state."""
    params = check_fault(fault.type, fault.target, dict(fault.params), app_name)
    return INJECTORS[fault.type].check(cluster, load_app(app_name), fault.target, params)
