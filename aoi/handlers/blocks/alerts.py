"""The message that represents one Alertmanager alert in ``AOI_ALERT_CHANNEL``.

Firing and resolved are two states of the same message (keyed by the alert's fingerprint), so a
resolved alert updates the thread's root instead of opening a new one.
"""

from __future__ import annotations

import re

from aoi.agents.redaction import redact
from aoi.handlers.blocks.common import Block, context, escape, fields_section, header, section, truncate

# an http(s) link Slack can show as <url|source>: no spaces, no <, >, | that would end or rewrite it
_SAFE_URL = re.compile(r"https?://[^\s<>|]{1,2000}")


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
    # alert text is untrusted: secrets are redacted and Slack's control characters escaped everywhere,
    # so an annotation cannot post a credential or ping @channel
    blocks: list[Block] = [header(f"{icon} {'FIRING' if firing else 'RESOLVED'}: {redact(title)}")]
    if description:
        blocks.append(section(escape(truncate(redact(description), 2500))))
    shown = [
        (escape(redact(k)), f"`{escape(redact(v))}`") for k, v in sorted(labels.items()) if k != "alertname"
    ]
    if shown:
        blocks.append(fields_section(shown[:10]))
    when = f"Started {escape(starts_at)}"
    if not firing and ends_at:
        when += f" · resolved {escape(ends_at)}"
    source = f" · <{generator_url}|source>" if generator_url and _SAFE_URL.fullmatch(generator_url) else ""
    blocks.append(context(when + source + (" · AOI is investigating in the thread" if firing else "")))
    return blocks
