"""The message that represents one Alertmanager alert in ``AOI_ALERT_CHANNEL``.

Firing and resolved are two states of the same message (keyed by the alert's fingerprint), so a
resolved alert updates the thread's root instead of opening a new one.
"""

from __future__ import annotations

from aoi.handlers.blocks.common import Block, context, escape, fields_section, header, section, truncate


def build_alert_blocks(
    *,
    status: str,
    title: str,
    description: str,
    labels: dict[str, str],
    starts_at: str,
    ends_at: str | None,
    generator_url: str | None,
) -> list[Block]:
    """The alert's root message: firing (red) or resolved (green), with its labels and source link."""
    firing = status == "firing"
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    blocks: list[Block] = [header(f"{icon} {'FIRING' if firing else 'RESOLVED'}: {title}")]
    if description:
        blocks.append(section(escape(truncate(description, 2500))))
    shown = [(k, f"`{escape(v)}`") for k, v in sorted(labels.items()) if k != "alertname"]
    if shown:
        blocks.append(fields_section(shown[:10]))
    when = f"Started {escape(starts_at)}"
    if not firing and ends_at:
        when += f" · resolved {escape(ends_at)}"
    source = f" · <{generator_url}|source>" if generator_url and generator_url.startswith("http") else ""
    blocks.append(context(when + source + (" · AOI is investigating in the thread" if firing else "")))
    return blocks
