"""Kubernetes RBAC derived from a policy: the executor's write Roles and the investigator's read Roles.

The executor's permissions are *derived* — for each namespace, the union of the catalogue's ``rbac``
entries of the verbs the policy allows there — so the credentials never allow a verb the whitelist
does not (DESIGN.md §3, "by credentials"). They are per verb and namespace only: RBAC cannot say
"pods named mongodb-*" or "PodChaos only" (``resourceNames`` are exact names and do not apply to
``list``), so a rule's ``targets`` and parameter choices are enforced by the executor's policy check,
and the generator warns for each rule whose targets RBAC widens. The investigator gets the
catalogue's fixed read-only set (no secrets). RBAC has no namespace globs: a policy glob such as
``team-*`` only yields Roles for the concrete namespaces passed in ``extra_namespaces``; otherwise a
warning says what to pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from aoi.policies.catalogue import Catalogue, RbacRule, load_catalogue
from aoi.policies.schema import Policy, Rule

EXECUTOR = "aoi-executor"
INVESTIGATOR = "aoi-investigator"
_WILDCARDS = set("*?")


@dataclass
class RbacManifests:
    """Both identities' manifests (lists of Kubernetes objects) and any warnings for the operator."""

    executor: list[dict[str, Any]] = field(default_factory=list)
    investigator: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def merge_rules(rules: Iterable[RbacRule]) -> list[dict[str, Any]]:
    """Union PolicyRules, then regroup resources that share an API group and verb set (sorted)."""
    verbs_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in rules:
        for group in rule.api_groups:
            for resource in rule.resources:
                verbs_of[(group, resource)].update(rule.verbs)
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), verbs in verbs_of.items():
        grouped[(group, tuple(sorted(verbs)))].append(resource)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
        for (group, verbs), resources in sorted(grouped.items())
    ]


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "aoi", "app.kubernetes.io/component": component}


def _service_account(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(name)},
    }


def _metadata(name: str, namespace: str | None, **extra: Any) -> dict[str, Any]:
    scope = {} if namespace is None else {"namespace": namespace}
    return {"name": name, **scope, "labels": _labels(name.removesuffix("-cluster")), **extra}


def _role(
    kind: str, name: str, namespace: str | None, rules: list[dict[str, Any]], note: str
) -> dict[str, Any]:
    metadata = _metadata(name, namespace, annotations={"aoi/derived-from": note})
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata, "rules": rules}


def _binding(kind: str, name: str, namespace: str | None, sa_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _metadata(name, namespace),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role" if kind == "RoleBinding" else "ClusterRole",
            "name": name,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": name.removesuffix("-cluster"), "namespace": sa_namespace}
        ],
    }


def _namespaces(
    policy: Policy, catalogue: Catalogue, extra: list[str], warnings: list[str]
) -> dict[str, list[Rule]]:
    """Concrete namespace → the Kubernetes namespaced rules that allow writes there."""
    allowed: dict[str, list[Rule]] = defaultdict(list)
    for rule in policy.rules:
        spec = catalogue.verbs[rule.verb]
        if spec.platform != "kubernetes" or spec.scope != "namespaced":
            continue
        for glob in rule.namespaces:
            if _WILDCARDS & set(glob):
                matched = [ns for ns in extra if fnmatchcase(ns, glob)]
                if not matched:
                    warnings.append(
                        f"rule {rule.id}: namespace glob {glob!r} cannot be expressed in RBAC; "
                        "pass --namespace NAME for each namespace it should cover"
                    )
            else:
                matched = [glob]
            for ns in matched:
                if any(fnmatchcase(ns, denied) for denied in policy.protected_namespaces):
                    warnings.append(
                        f"rule {rule.id}: namespace {ns!r} is denied by the policy; no Role for it"
                    )
                elif rule not in allowed[ns]:
                    allowed[ns].append(rule)
    for ns in extra:
        if ns not in allowed:
            warnings.append(
                f"namespace {ns!r} is not allowed by any Kubernetes rule of the policy; no Role for it"
            )
    return dict(sorted(allowed.items()))


def build_rbac(
    policy: Policy,
    *,
    extra_namespaces: Iterable[str] = (),
    service_account_namespace: str = "aoi",
    catalogue: Catalogue | None = None,
) -> RbacManifests:
    """The executor's and the investigator's ServiceAccounts, Roles, ClusterRoles and bindings."""
    catalogue = catalogue or load_catalogue()
    out = RbacManifests()
    per_namespace = _namespaces(policy, catalogue, list(extra_namespaces), out.warnings)
    sa_ns = service_account_namespace

    out.executor.append(_service_account(EXECUTOR, sa_ns))
    for rule in policy.rules:
        if rule.targets != ["*"] and catalogue.verbs[rule.verb].rbac:
            out.warnings.append(
                f"rule {rule.id}: targets {rule.targets} cannot be expressed in RBAC; the Role grants "
                f"{rule.verb}'s permissions on every object of its kinds in the namespace, and the "
                "executor's policy check is what keeps it to those targets"
            )
    for ns, allowing in per_namespace.items():
        rules = merge_rules(rbac for rule in allowing for rbac in catalogue.verbs[rule.verb].rbac)
        note = "policy rules " + ", ".join(rule.id for rule in allowing)
        out.executor.append(_role("Role", EXECUTOR, ns, rules, note))
        out.executor.append(_binding("RoleBinding", EXECUTOR, ns, sa_ns))
    cluster_rules = [r for r in policy.rules if catalogue.verbs[r.verb].scope == "cluster"]
    if cluster_rules:
        rbac = [entry for rule in cluster_rules for entry in catalogue.verbs[rule.verb].rbac]
        note = "policy rules " + ", ".join(rule.id for rule in cluster_rules)
        out.executor.append(_role("ClusterRole", f"{EXECUTOR}-cluster", None, merge_rules(rbac), note))
        out.executor.append(_binding("ClusterRoleBinding", f"{EXECUTOR}-cluster", None, sa_ns))

    out.investigator.append(_service_account(INVESTIGATOR, sa_ns))
    reader = merge_rules(catalogue.reader.namespaced)
    for ns in per_namespace:
        out.investigator.append(_role("Role", INVESTIGATOR, ns, reader, "verbs.yaml reader.namespaced"))
        out.investigator.append(_binding("RoleBinding", INVESTIGATOR, ns, sa_ns))
    cluster_reader = merge_rules(catalogue.reader.cluster)
    out.investigator.append(
        _role("ClusterRole", f"{INVESTIGATOR}-cluster", None, cluster_reader, "verbs.yaml reader.cluster")
    )
    out.investigator.append(_binding("ClusterRoleBinding", f"{INVESTIGATOR}-cluster", None, sa_ns))
    return out


def dump_manifests(docs: list[dict[str, Any]], policy_name: str, identity: str) -> str:
    """Multi-document YAML with a header saying where it came from and how to regenerate it."""
    header = (
        f"# {identity} RBAC for AOI, generated by `aoi policy rbac` from {policy_name}.\n"
        "# Do not edit by hand: change the policy and regenerate.\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)


def write_manifests(manifests: RbacManifests, policy: Policy, out_dir: Path) -> list[Path]:
    """Write ``executor.yaml`` and ``investigator.yaml`` into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(policy.source).name
    paths = []
    for identity, docs in (("executor", manifests.executor), ("investigator", manifests.investigator)):
        path = out_dir / f"{identity}.yaml"
        path.write_text(dump_manifests(docs, name, identity.capitalize()), encoding="utf-8")
        paths.append(path)
    return paths
