"""The three patch types of ``kubectl patch``: JSON merge (RFC 7386), strategic merge and JSON patch
(RFC 6902).

Strategic merge follows Kubernetes' rules for the lists an operator patches in practice: lists of
objects merge by their merge key (``containers``/``env``/``volumes`` by ``name``, container ``ports``
by ``containerPort``, Service ``ports`` by ``port``), items carrying ``$patch: delete`` are removed, a
list carrying ``{"$patch": "replace"}`` replaces; other lists are replaced. Functions return new data
and never modify their inputs.
"""

from __future__ import annotations

from typing import Any

from aoi.sim.errors import SimError
from aoi.sim.kube.store import clone

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "tolerations": "key",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, everything else replaces."""
    return _merge_in_place(clone(target), clone(patch))


def _merge_in_place(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_in_place(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any], parent_path: str) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        if "containerPort" in sample:
            return "containerPort"
        return "port"
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any, path: str = "") -> Any:
    """Kubernetes strategic merge patch (the subset documented in the module docstring)."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value, f"{path}.{key}")
        elif isinstance(value, dict):
            result[key] = strategic_merge_patch(result.get(key), value, f"{path}.{key}")
        else:
            result[key] = clone(value)
    return result


def _merge_list(field: str, current: list[Any], patch: list[Any], path: str) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [clone(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    key = _merge_key(field, current + patch, path)
    if key is None or not all(isinstance(i, dict) for i in current + patch):
        return clone(patch)
    out = [clone(i) for i in current]
    for item in patch:
        if key not in item:
            raise SimError(f"strategic merge patch: item of {path} lacks its merge key {key!r}: {item}")
        idx = next((n for n, cur in enumerate(out) if cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(clone(item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item, f"{path}[{item[key]}]")
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise SimError(f"JSON patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError) as exc:
                raise SimError(f"JSON patch path {path!r}: no list index {part!r}") from exc
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise SimError(f"JSON patch path {path!r}: no member {part!r}")
    return cur


def _add(doc: Any, parts: list[str], value: Any, path: str, replace: bool) -> Any:
    if not parts:
        return clone(value)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(clone(value))
            return doc
        try:
            idx = int(last)
        except ValueError as exc:
            raise SimError(f"JSON patch path {path!r}: {last!r} is not a list index") from exc
        if not 0 <= idx <= len(parent) - (1 if replace else 0):
            raise SimError(f"JSON patch path {path!r}: index {idx} out of range")
        if replace:
            parent[idx] = clone(value)
        else:
            parent.insert(idx, clone(value))
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise SimError(f"JSON patch replace: path {path!r} does not exist")
        parent[last] = clone(value)
    else:
        raise SimError(f"JSON patch path {path!r}: parent is not an object or list")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        raise SimError("JSON patch: cannot remove the whole document")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError) as exc:
            raise SimError(f"JSON patch remove: path {path!r} does not exist") from exc
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    raise SimError(f"JSON patch remove: path {path!r} does not exist")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 operations ``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``."""
    if not isinstance(ops, list):
        raise SimError(
            "a JSON patch must be a list of operations like {'op': 'replace', 'path': ..., 'value': ...}"
        )
    doc = clone(target)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise SimError(f"JSON patch operation #{n} must be an object with 'op' and 'path': {op!r}")
        kind, path = op["op"], op["path"]
        parts = _pointer(path)
        if kind in ("add", "replace", "test") and "value" not in op:
            raise SimError(f"JSON patch operation #{n} ({kind} {path}) needs a 'value'")
        if kind == "add":
            doc = _add(doc, parts, op["value"], path, replace=False)
        elif kind == "replace":
            doc = _add(doc, parts, op["value"], path, replace=True)
        elif kind == "remove":
            _remove(doc, parts, path)
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = _remove(doc, src, op["from"]) if kind == "move" else clone(_walk(doc, src, op["from"]))
            doc = _add(doc, parts, value, path, replace=False)
        elif kind == "test":
            if _walk(doc, parts, path) != op["value"]:
                raise SimError(f"JSON patch test failed at {path!r}")
        else:
            raise SimError(
                f"JSON patch operation #{n}: unknown op {kind!r}; "
                "expected add, remove, replace, move, copy, test"
            )
    return doc


def apply_patch(target: dict[str, Any], patch: Any, patch_type: str) -> dict[str, Any]:
    """Dispatch on ``patch_type`` (``merge``, ``strategic`` or ``json``)."""
    if patch_type == "merge":
        if not isinstance(patch, dict):
            raise SimError("a merge patch must be a JSON object")
        result = merge_patch(target, patch)
    elif patch_type == "strategic":
        if not isinstance(patch, dict):
            raise SimError("a strategic merge patch must be a JSON object")
        result = strategic_merge_patch(target, patch)
    elif patch_type == "json":
        result = json_patch(target, patch)
    else:
        raise SimError(f"unknown patch type {patch_type!r}; expected 'merge', 'strategic' or 'json'")
    if not isinstance(result, dict):
        raise SimError("the patched object is no longer a JSON object")
    return result
