"""Prometheus metrics for the Slack surfaces and the work they start (served at ``GET /metrics``).

Module-level collectors on the default registry: one set per process, which is what a Prometheus
scrape of a web or worker pod expects.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SLACK_EVENTS = Counter("aoi_slack_events_total", "Slack events received, by type", ["type"])
SLACK_DUPLICATES = Counter("aoi_slack_duplicate_events_total", "Slack retries dropped as already handled")
INVESTIGATIONS = Counter("aoi_investigations_total", "Investigations finished, by outcome", ["outcome"])
INVESTIGATION_SECONDS = Histogram(
    "aoi_investigation_seconds",
    "Wall time of an investigation, from start to diagnosis",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
DECISIONS = Counter("aoi_proposal_clicks_total", "Approve/Reject clicks, by result", ["result"])
EXECUTIONS = Counter("aoi_executions_total", "Approved fixes executed, by outcome", ["outcome"])
FEEDBACK = Counter("aoi_feedback_total", "Feedback recorded, by kind", ["kind"])
ALERTS = Counter("aoi_alerts_total", "Alertmanager alerts received, by status", ["status"])
