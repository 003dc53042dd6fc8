"""Alertmanager's webhook payload (version 4), validated, and the incident text AOI derives from it.

Alertmanager posts a *group* of alerts; each alert carries a stable ``fingerprint`` that AOI uses as
the key of its thread (firing opens or reuses it, resolved updates it). Validation errors name the
field that was wrong so a mis-configured receiver is easy to fix.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

AlertStatus = Literal["firing", "resolved"]


class Alert(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    ends_at: str | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=128)  # the store keeps 128

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "unnamed alert")

    @property
    def title(self) -> str:
        summary = self.annotations.get("summary") or self.annotations.get("title")
        return f"{self.name}: {summary}" if summary else self.name

    @property
    def description(self) -> str:
        return self.annotations.get("description") or self.annotations.get("message") or ""

    @property
    def resolved_end(self) -> str | None:
        """``endsAt`` of a resolved alert (Alertmanager sends a zero time while firing)."""
        if self.status != "resolved" or not self.ends_at or self.ends_at.startswith("0001-"):
            return None
        return self.ends_at

    def incident_text(self) -> str:
        """What the Observer is told: the alert's name, summary, description and identifying labels.

        Labels and annotations are untrusted text; the Observer treats the incident as data, and any
        fix it proposes still goes through policy and approval.
        """
        parts = [f"Alert {self.title}"]
        if self.description:
            parts.append(self.description)
        keys = ("namespace", "service", "deployment", "pod", "job", "severity", "cluster")
        labels = ", ".join(f"{k}={self.labels[k]}" for k in keys if k in self.labels)
        if labels:
            parts.append(f"({labels})")
        return " ".join(parts)


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: str = "4"
    status: AlertStatus
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[Alert] = Field(min_length=1, max_length=500)


class AlertPayloadError(ValueError):
    """The body was not an Alertmanager webhook; the message says which field and what was expected."""


def parse_alertmanager_payload(data: Any) -> AlertmanagerWebhook:
    """Validate a decoded JSON body as an Alertmanager v4 webhook or raise ``AlertPayloadError``."""
    if not isinstance(data, dict):
        raise AlertPayloadError(
            f"expected a JSON object (Alertmanager webhook v4), got {type(data).__name__}"
        )
    if str(data.get("version", "4")) != "4":
        raise AlertPayloadError(
            f"unsupported Alertmanager webhook version {data.get('version')!r}; expected '4'"
        )
    try:
        return AlertmanagerWebhook.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise AlertPayloadError(f"invalid Alertmanager webhook: {problems}") from exc
