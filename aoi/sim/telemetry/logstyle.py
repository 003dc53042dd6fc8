"""Log line formatting: each program's own format (``messages.yaml``), timestamps and levels.

A style's ``format`` has placeholders ``{ts:FMT}``, ``{lvl:info|warn|error|fatal names}`` (or
``{LVL:...}``), ``{src}``, ``{msg}``, ``{pod}``, ``{svc}``; ``{{``/``}}`` are literal braces. The special
format ``json-mongo`` renders MongoDB's structured JSON log lines.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from aoi.sim.errors import SimError

LEVELS = ("info", "warn", "error", "fatal")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FIELD = re.compile(r"\{(ts|lvl|LVL):([^}]*)\}|\{(src|msg|pod|svc)\}")


class Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: str
    family: str
    startup: list[list[Any]] = []
    ok: list[list[Any]] = []
    noise: list[list[Any]] = []
    access: str | None = None


class Vocabulary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    styles: dict[str, Style]
    client_errors: dict[str, dict[str, str]]
    db_errors: dict[str, dict[str, str]]


@functools.cache
def vocabulary() -> Vocabulary:
    path = Path(__file__).with_name("messages.yaml")
    try:
        vocab = Vocabulary.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        raise SimError(f"{path}: invalid log vocabulary:\n{exc}") from exc
    if "generic" not in vocab.styles:
        raise SimError(f"{path}: the 'generic' style is required as the fallback")
    return vocab


def style(name: str) -> Style:
    styles = vocabulary().styles
    return styles.get(name, styles["generic"])


def timestamp(t: float, fmt: str) -> str:
    d = dt.datetime.fromtimestamp(t, tz=dt.UTC)
    ms, us = int((t % 1) * 1000), int((t % 1) * 1_000_000)
    if fmt == "iso":
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "iso_ms":
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"
    if fmt == "iso_us":
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us:06d}Z"
    if fmt == "iso_ns":
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us:06d}123Z"
    if fmt == "dsb":
        return f"{d.year}-{_MONTHS[d.month - 1]}-{d.day:02d} {d:%H:%M:%S}.{us:06d}"
    if fmt == "slash":
        return d.strftime("%Y/%m/%d %H:%M:%S")
    if fmt == "clf":
        return f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000"
    if fmt == "redis":
        return f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year} {d:%H:%M:%S}.{ms:03d}"
    if fmt == "epoch":
        return f"{t:.6f}"
    if fmt == "epoch_ms":
        return str(int(t * 1000))
    if fmt in ("java",):
        return d.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms:03d}"
    if fmt in ("py", "kafka"):
        return d.strftime("%Y-%m-%d %H:%M:%S,") + f"{ms:03d}"
    if fmt == "php":
        return d.strftime("%a %b ") + f"{d.day:2d}" + d.strftime(" %H:%M:%S %Y")
    return d.isoformat()


def render(style_name: str, t: float, level: str, src: str, msg: str, pod: str, svc: str) -> str:
    """One formatted line of ``style_name``."""
    st = style(style_name)
    if st.format == "json-mongo":
        return _mongo_line(t, src, msg)
    lvl_index = LEVELS.index(level) if level in LEVELS else 0

    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "ts":
            return timestamp(t, m.group(2))
        if m.group(1) in ("lvl", "LVL"):
            names = m.group(2).split("|")
            return names[min(lvl_index, len(names) - 1)]
        value = {"src": src, "msg": msg, "pod": pod, "svc": svc}[m.group(3)]
        return json.dumps(value)[1:-1] if st.format.startswith("{{") else value

    text = st.format.replace("{{", "\x00").replace("}}", "\x01")
    return _FIELD.sub(sub, text).replace("\x00", "{").replace("\x01", "}")


def _mongo_line(t: float, src: str, msg: str) -> str:
    """``src`` is 'S|C|id|ctx'; ``msg`` is the message, optionally followed by '|' and attr JSON."""
    sev, comp, ident, ctx = [*src.split("|"), "I", "-", "0", "-"][:4]
    text, _, attr = msg.partition("|")
    line: dict[str, Any] = {
        "t": {"$date": timestamp(t, "iso_ms").replace("Z", "+00:00")},
        "s": sev,
        "c": comp,
        "id": int(ident),
        "ctx": ctx,
        "msg": text,
    }
    if attr:
        line["attr"] = json.loads(attr)
    return json.dumps(line, separators=(",", ":"))
