"""Kubernetes resource quantities (``500m``, ``1``, ``256Mi``, ``1G``) as numbers."""

from __future__ import annotations

import re

from aoi.sim.errors import Invalid

_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3,
}  # fmt: skip
_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def parse_quantity(value: str | int | float, field: str = "quantity") -> float:
    """The value in base units (cores for CPU, bytes for memory); raises ``Invalid`` with the field."""
    if isinstance(value, int | float):
        return float(value)
    m = _RE.match(str(value).strip())
    if not m:
        raise Invalid(
            f"{field}: Invalid value: {value!r}: must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. 500m, 1, 256Mi)"
        )
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def memory_bytes(value: str | int | float | None) -> float | None:
    return None if value is None else parse_quantity(value, "memory")


def cpu_millicores(value: str | int | float | None) -> float | None:
    return None if value is None else parse_quantity(value, "cpu") * 1000
