"""Honesty: nothing observable names the fault. For every fault type, everything an agent can read —
all API objects, every container log (current and previous), every metric series, the traces — is
serialised and searched for the fault type's name and for words like "inject", "fault" or "chaos".
Faults here are modelled by their effects only (no Chaos Mesh objects exist), so there is no
exception. Secret values never leak into logs, metrics or traces either."""

from __future__ import annotations

import base64
import json
import re

import pytest

from aoi.sim import SimCluster, SimError
from tests.sim.fault_cases import CASES, Case

BANNED = re.compile(r"(?i)inject|chaos|(?<![a-z])fault")


def observable_text(cluster: SimCluster) -> tuple[str, str]:
    """(API objects as JSON, everything else: logs, metrics and traces)."""
    api = json.dumps(cluster.snapshot_state())
    parts = []
    for pod in cluster.list_objects("Pod"):
        for previous in (False, True):
            try:
                parts.append(
                    cluster.pod_logs(pod["metadata"]["namespace"], pod["metadata"]["name"], previous=previous)
                )
            except SimError as exc:
                parts.append(str(exc))
    for name in cluster.metric_names():
        parts.append(json.dumps(cluster.metric_series(name, cluster.now() - 3600, cluster.now(), 60)))
    parts.append(json.dumps(cluster.find_traces(limit=200)))
    parts.append(json.dumps(cluster.trace_services()))
    return api, "\n".join(parts)


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_nothing_observable_names_the_fault(case: Case) -> None:
    cluster = SimCluster.from_problem(case.problem())
    api, telemetry = observable_text(cluster)
    for text in (api, telemetry):
        assert case.fault.lower() not in text.lower()
        assert case.fault.replace("_", "-") not in text.lower()
        assert BANNED.findall(text) == []
    secrets = [
        base64.b64decode(v).decode() for s in cluster.list_objects("Secret") for v in s["data"].values()
    ]
    for value in secrets:
        if len(value) >= 8:
            assert value not in telemetry
