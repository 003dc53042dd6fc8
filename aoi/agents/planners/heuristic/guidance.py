"""Evolver guidance the heuristic planner acts on: the probes a note names, made early.

The Evolver (``aoi.training.evolver.guidance_note``) writes notes such as::

    A similar incident failed before (...). Discovery: get_pods {"namespace": "shop"}; ...
    Diagnosis: describe_service {"name": "cart", "namespace": "shop"}; get_logs {"name": "cart",
    "namespace": "shop", "tail": 100}; follow the errors to their source: .... Resolution: propose ...

The structured part this module reads is exactly that **probe form**: a read tool's name, a space,
and its arguments as one JSON object (``tool {"arg": value, ...}``), anywhere in the note, separated
by ``;`` or prose. An operator can write the same form by hand. Everything else is prose and ignored;
so are ``propose ...`` items (a note never makes the planner propose a write) and a probe cut off by
the note's length limit (its JSON does not parse).

A probe is kept only if its tool is one the planner was given and its arguments fit that tool's
schema (names known, required ones present), so a stale or hostile note cannot make the Observer
reject a step. ``namespace`` is rewritten to the incident's namespace (a note learnt on another
deployment of the app names that one), and a probe naming an object this investigation has listed
and not found (a workload, Service or ConfigMap of another app) is skipped. At most
``MAX_GUIDED`` probes per investigation (across the notes the Observer re-asks for), the note's
Diagnosis-phase probes first. They are made once ``symptoms.SURVEY_PROBES`` probes have been, before the
rest of the routine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from aoi.agents.planners.heuristic.facts import Facts
from aoi.agents.planners.heuristic.probes import Probe
from aoi.agents.probe_form import read_calls
from aoi.agents.tools.base import ToolSpec

MAX_GUIDED = 4
GUIDED_WHY = "guidance from a similar past incident"  # a guided probe's summary starts so
DIAGNOSIS = "Diagnosis:"  # the phase of an Evolver note that holds its decisive probes


def parse_probes(note: str, tools: Iterable[ToolSpec]) -> list[tuple[str, dict[str, Any]]]:
    """Every well-formed ``tool {json}`` probe in ``note`` for a tool in ``tools``, in note order."""
    specs = {spec.name: spec for spec in tools if spec.effect == "read"}
    return [
        (tool, args)
        for tool, args in read_calls(note)
        if (spec := specs.get(tool)) is not None and _fits(spec, args)
    ]


def _fits(spec: ToolSpec, args: dict[str, Any]) -> bool:
    props = spec.parameters.get("properties") or {}
    required = spec.parameters.get("required") or []
    return set(args) <= set(props) and all(args.get(name) is not None for name in required)


def _absent_here(facts: Facts, name: str, tool: str) -> bool:
    """Whether ``name`` is known *not* to exist here (the relevant listing was read and lacks it)."""
    if tool == "describe_configmap":
        listing = facts.configmap_names
    elif tool in ("describe_service", "get_endpoints"):
        listing = None if facts.services is None else [s["name"] for s in facts.services]
    elif tool in ("describe_deployment", "get_logs"):
        listing = None if facts.deployments is None and facts.pods is None else facts.workloads()
    else:
        return False
    return listing is not None and name not in listing


def _diagnosis_first(note: str) -> str:
    """The note from its ``Diagnosis:`` phase on, then what came before it: the phase the Evolver
    leads with the reference's decisive probes goes first, the Discovery listings (which the survey
    makes anyway) after, so a tight step budget spends its guided steps on the decisive ones."""
    at = note.find(DIAGNOSIS)
    return note if at <= 0 else f"{note[at:]} {note[:at]}"


def guided_made(summaries: Iterable[str]) -> int:
    """How many of an investigation's steps (their summaries) were guided probes."""
    return sum(1 for summary in summaries if summary.startswith(GUIDED_WHY))


def guided_probes(
    facts: Facts, notes: Iterable[str], tools: Iterable[ToolSpec], made: int = 0
) -> Iterator[Probe]:
    """The notes' probes not made yet, adapted to this investigation (see module doc); ``made`` guided
    probes were made already — under notes the Observer has since replaced, too — and count against
    ``MAX_GUIDED``."""
    specs = list(tools)
    emitted = made
    for note in notes:
        for tool, args in parse_probes(_diagnosis_first(note), specs):
            if emitted >= MAX_GUIDED:
                return
            adapted = dict(args)
            if "namespace" in adapted and facts.namespace:
                adapted["namespace"] = facts.namespace
            name = adapted.get("name")
            if facts.was_done(tool, adapted) or (isinstance(name, str) and _absent_here(facts, name, tool)):
                continue
            emitted += 1
            yield Probe(tool, adapted, f"{GUIDED_WHY}: {tool}")
