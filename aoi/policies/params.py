"""Parameter specs of policy rules, and the pure check of one value against one spec.

Every string a write can carry is bounded here: ``str`` parameters need a ``pattern`` or ``choices``
(enforced when the policy is loaded), so a request can never smuggle a shell metacharacter, a
wildcard or a second command through a parameter; free text (ConfigMap values) is the separate
``text`` type with a length bound and no control characters, and is always quoted when rendered.
Checks are strict about types: ``"3"`` is not an integer and ``True`` is not ``1``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aoi.policies import patterns

_MEMORY_UNITS = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_MEMORY_UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_QUANTITY = {
    "memory": re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,6})?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?"),
    "cpu": re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)(m)?"),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# a short string (a name, an image, an env value) has no control or separator characters at all: RE2's
# negated classes (\S, [^\s…]) would let \v, \x1c-\x1f, \x85 or \u2028 through to the cluster
_NOT_IN_STR = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def parse_quantity(text: str, unit: Literal["memory", "cpu"]) -> float:
    """A Kubernetes quantity in base units (bytes, or cores); raises ValueError when malformed."""
    match = _QUANTITY[unit].fullmatch(text)
    if match is None:
        example = "512Mi, 2Gi" if unit == "memory" else "500m, 2"
        raise ValueError(f"{text!r} is not a {unit} quantity (e.g. {example})")
    number, suffix = float(match.group(1)), match.group(2) or ""
    return number / 1000 if unit == "cpu" and suffix == "m" else number * _MEMORY_UNITS.get(suffix, 1)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    required: bool | None = None  # None: as the verb catalogue says


class IntParam(_Spec):
    """An integer in ``[min, max]``; optionally at most ``max_ratio`` × another parameter.

    ``default`` fills the parameter in when a request omits it. ``max_ratio_of`` names the parameter
    holding the observed current value (e.g. ``current_replicas``): the request must carry it, and a
    current value of 0 counts as 1 (so a service scaled to zero can come back to ``max_ratio``).
    """

    type: Literal["int"]
    min: int
    max: int
    max_ratio_of: str | None = None
    max_ratio: float | None = Field(default=None, gt=0)
    default: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> IntParam:
        if self.min > self.max:
            raise ValueError(f"min must be <= max (got {self.min} > {self.max})")
        if self.default is not None and not self.min <= self.default <= self.max:
            raise ValueError(f"default {self.default} is outside {self.min}..{self.max}")
        if (self.max_ratio_of is None) != (self.max_ratio is None):
            raise ValueError("max_ratio_of and max_ratio go together")
        return self


class StrParam(_Spec):
    """A short string that fullmatches ``pattern`` (or is one of ``choices``)."""

    type: Literal["str"]
    pattern: str | None = None
    choices: list[str] | None = None
    max_length: int = Field(default=253, ge=1, le=4096)

    @model_validator(mode="after")
    def _bounded(self) -> StrParam:
        if self.pattern is None and not self.choices:
            raise ValueError("a str parameter needs a `pattern` or `choices` (use type: text for free text)")
        if self.pattern is not None:
            patterns.check_pattern(self.pattern)
        return self


class TextParam(_Spec):
    """Free text (e.g. a ConfigMap value): bounded length, newlines and tabs allowed, no other control."""

    type: Literal["text"]
    max_length: int = Field(default=65536, ge=1, le=1_048_576)


class QuantityParam(_Spec):
    """A Kubernetes resource quantity (``512Mi``, ``250m``) within ``[min, max]``."""

    type: Literal["quantity"]
    unit: Literal["memory", "cpu"]
    min: str
    max: str

    @model_validator(mode="after")
    def _bounds(self) -> QuantityParam:
        low, high = parse_quantity(self.min, self.unit), parse_quantity(self.max, self.unit)
        if low > high:
            raise ValueError(f"min must be <= max (got {self.min} > {self.max})")
        return self


class MapParam(_Spec):
    """A mapping: either fixed ``keys`` each with its own spec, or ``key_pattern`` + one ``values`` spec."""

    type: Literal["map"]
    keys: dict[str, ParamSpec] | None = None
    key_pattern: str | None = None
    values: ParamSpec | None = None
    min_items: int = Field(default=1, ge=0)
    max_items: int = Field(default=16, ge=1, le=256)

    @model_validator(mode="after")
    def _shape(self) -> MapParam:
        fixed = self.keys is not None
        open_ = self.key_pattern is not None or self.values is not None
        if fixed == open_ or (open_ and (self.key_pattern is None or self.values is None)):
            raise ValueError("a map parameter needs either `keys`, or `key_pattern` together with `values`")
        if self.key_pattern is not None:
            patterns.check_pattern(self.key_pattern, "key_pattern")
        return self


class ListParam(_Spec):
    """A list of ``items`` (each checked by its spec), ``min_items``..``max_items`` long, no duplicates."""

    type: Literal["list"]
    items: ParamSpec
    min_items: int = Field(default=1, ge=0)
    max_items: int = Field(default=16, ge=1, le=256)


ParamSpec = Annotated[
    IntParam | StrParam | TextParam | QuantityParam | MapParam | ListParam, Field(discriminator="type")
]
MapParam.model_rebuild()
ListParam.model_rebuild()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_value(spec: ParamSpec, value: Any, where: str) -> str | None:
    """None when ``value`` satisfies ``spec``; else one sentence saying what was wrong and expected."""
    if isinstance(spec, IntParam):
        if type(value) is not int:
            return f"{where} must be an integer, got {_short(value)} ({type(value).__name__})"
        if not spec.min <= value <= spec.max:
            return f"{where} must be within {spec.min}..{spec.max}, got {value}"
        return None
    if isinstance(spec, StrParam | TextParam):
        if not isinstance(value, str):
            return f"{where} must be a string, got {_short(value)} ({type(value).__name__})"
        if len(value) > spec.max_length:
            return f"{where} is {len(value)} characters long; at most {spec.max_length} are allowed"
        if isinstance(spec, TextParam):
            return f"{where} contains control characters" if _CONTROL.search(value) else None
        if _NOT_IN_STR.search(value):
            return f"{where} contains control or line-separator characters"
        if spec.choices and value not in spec.choices:
            return f"{where} must be one of {spec.choices}, got {_short(value)}"
        if spec.pattern is not None and not patterns.fullmatch(spec.pattern, value):
            return f"{where} {_short(value)} does not match the allowed pattern {spec.pattern!r}"
        return None
    if isinstance(spec, QuantityParam):
        if not isinstance(value, str):
            return f"{where} must be a quantity string like '512Mi', got {_short(value)}"
        try:
            amount = parse_quantity(value, spec.unit)
        except ValueError as exc:
            return f"{where}: {exc}"
        low, high = parse_quantity(spec.min, spec.unit), parse_quantity(spec.max, spec.unit)
        if not (math.isfinite(amount) and low <= amount <= high):
            return f"{where} must be within {spec.min}..{spec.max}, got {value}"
        return None
    if isinstance(spec, MapParam):
        return _check_map(spec, value, where)
    return _check_list(spec, value, where)


def _check_map(spec: MapParam, value: Any, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where} must be a mapping, got {_short(value)} ({type(value).__name__})"
    if not spec.min_items <= len(value) <= spec.max_items:
        return f"{where} must have {spec.min_items}..{spec.max_items} entries, got {len(value)}"
    for key, item in value.items():
        if not isinstance(key, str):
            return f"{where} keys must be strings, got {_short(key)}"
        if spec.keys is not None:
            item_spec = spec.keys.get(key)
            if item_spec is None:
                return f"{where} has unexpected key {_short(key)}; allowed keys: {sorted(spec.keys)}"
        else:
            assert spec.key_pattern is not None and spec.values is not None  # by _shape
            if _NOT_IN_STR.search(key):
                return f"{where} key {_short(key)} contains control or line-separator characters"
            if len(key) > 253 or not patterns.fullmatch(spec.key_pattern, key):
                return f"{where} key {_short(key)} does not match the allowed pattern {spec.key_pattern!r}"
            item_spec = spec.values
        problem = check_value(item_spec, item, f"{where}.{key}")
        if problem:
            return problem
    return None


def _check_list(spec: ListParam, value: Any, where: str) -> str | None:
    if not isinstance(value, list):
        return f"{where} must be a list, got {_short(value)} ({type(value).__name__})"
    if not spec.min_items <= len(value) <= spec.max_items:
        return f"{where} must have {spec.min_items}..{spec.max_items} items, got {len(value)}"
    for index, item in enumerate(value):
        problem = check_value(spec.items, item, f"{where}[{index}]")
        if problem:
            return problem
    if len({repr(item) for item in value}) != len(value):
        return f"{where} has duplicate items"
    return None
