"""Pod logs as a read tool: tail, grep, previous container, collapsed repeats.

``name`` may be a pod or a workload (Deployment/StatefulSet) name; for a workload the logs of its
least healthy pod are shown (what ``kubectl logs deploy/NAME`` would pick is arbitrary; a crashing
replica is the useful one).
"""

from __future__ import annotations

import re

from aoi.agents.backends.base import NotFoundError, ReadBackend
from aoi.agents.tools.base import ToolCall, read_tool
from aoi.agents.tools.kube import pods_of
from aoi.agents.tools.render import meta, pod_status


def _pick_pod(backend: ReadBackend, namespace: str, name: str) -> tuple[str, bool]:
    """(pod name, whether ``name`` was a workload)."""
    try:
        backend.get_object("Pod", namespace, name)
        return name, False
    except NotFoundError:
        pods = pods_of(backend, namespace, name)
        if not pods:
            raise
        pods.sort(key=lambda p: (pod_status(p)["healthy"], -pod_status(p)["restarts"]))
        return str(meta(pods[0]).get("name")), True


MAX_TAIL = 2000  # lines per read: the prompt shows 5,000 characters of them anyway
MAX_GREP = 200
# a quantified group that itself holds a quantifier — ``(0+)+``, ``(a*)*``, ``(x|y+){2,}`` — can take
# exponential time on a short line, and Python's regex engine holds the GIL while it does
_NESTED_QUANTIFIER = re.compile(r"\([^()]*[+*}][^()]*\)\s*[+*{]")


def _matcher(grep: str) -> re.Pattern[str]:
    """The model's pattern as a case-insensitive regex, or as literal text when it does not compile,
    is over ``MAX_GREP`` characters or nests quantifiers (catastrophic backtracking)."""
    if len(grep) <= MAX_GREP and not _NESTED_QUANTIFIER.search(grep):
        try:
            return re.compile(grep, re.IGNORECASE)
        except re.error:
            pass
    return re.compile(re.escape(grep[:MAX_GREP]), re.IGNORECASE)


@read_tool("get_logs", max_chars=5000, dedupe=True)
def get_logs(
    backend: ReadBackend,
    call: ToolCall,
    namespace: str,
    name: str,
    container: str | None = None,
    tail: int = 200,
    grep: str | None = None,
    previous: bool = False,
) -> str:
    """Read a pod's logs (or a workload's least healthy pod); repeated lines are collapsed with counts.

    Args:
        namespace: the pod's namespace
        name: a pod name, or a deployment/statefulset name
        container: container name when the pod has several
        tail: number of most recent lines to read (default 200, at most 2000)
        grep: only lines matching this case-insensitive regular expression
        previous: the previous (crashed) container instance's logs
    """
    if tail <= 0:
        tail = 200
    tail = min(tail, MAX_TAIL)
    pod, via_workload = name, False
    target = name
    call.invocation = " ".join(
        x
        for x in (
            "kubectl logs",
            target,
            f"-n {namespace}",
            f"-c {container}" if container else "",
            f"--tail={tail}",
            "--previous" if previous else "",
            f"| grep -iE '{grep}'" if grep else "",
        )
        if x
    )
    pod, via_workload = _pick_pod(backend, namespace, name)
    if via_workload:
        call.invocation = call.invocation.replace(f"kubectl logs {name} ", f"kubectl logs {pod} ", 1)
    text = backend.pod_logs(namespace, pod, container=container, tail_lines=tail, previous=previous)
    lines = text.splitlines()[-tail:]  # a backend that ignores the tail must not flood the tool
    if grep:
        pattern = _matcher(grep)
        lines = [line for line in lines if pattern.search(line)]
    call.data = {"pod": pod, "lines": lines}
    if not lines:
        return ""
    header = f"# logs of pod {pod}" + (f" (workload {name})" if via_workload else "")
    return "\n".join([header, *lines])
