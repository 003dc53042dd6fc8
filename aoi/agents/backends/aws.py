"""The AWS backend: CloudWatch metrics and alarms, CloudWatch Logs, ECS and EC2 through boto3.

Two classes built from two *different* boto3 sessions (DESIGN.md §3): ``AwsReader`` here (the
Observer's tools) only describes and lists; ``aws_writer.AwsWriter`` (the executor's, in its own
module so that investigation code never imports it) performs the three AWS verbs of the policy.
Give them different profiles (e.g. ``aoi-read`` and ``aoi-write``) so that even a bug in an
investigation cannot change anything. Every method returns plain JSON-able data (unix-second times,
no boto3 objects); every failure raises a ``BackendError`` subclass whose message is the full AWS
error (``ForbiddenError`` for AccessDenied, ``NotFoundError`` for missing clusters, services, log
groups and instances).

Minimal read-only IAM policy for the reader's profile (``READ_ONLY_IAM_POLICY``)::

    {"Version": "2012-10-17", "Statement": [{"Sid": "AoiReadOnly", "Effect": "Allow", "Resource": "*",
      "Action": ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:DescribeAlarms",
                 "logs:DescribeLogGroups", "logs:FilterLogEvents",
                 "ecs:ListClusters", "ecs:DescribeClusters", "ecs:ListServices", "ecs:DescribeServices",
                 "ec2:DescribeInstances", "ec2:DescribeInstanceStatus"]}]}

The write policy is in ``aws_writer``. See docs/cloud-permissions.md for both, with the GCP roles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from aoi.agents.backends.aws_common import AwsClients, unix_seconds, utc_datetime
from aoi.agents.backends.base import NotFoundError

READ_ONLY_IAM_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AoiReadOnly",
            "Effect": "Allow",
            "Action": [
                "cloudwatch:GetMetricData",
                "cloudwatch:ListMetrics",
                "cloudwatch:DescribeAlarms",
                "logs:DescribeLogGroups",
                "logs:FilterLogEvents",
                "ecs:ListClusters",
                "ecs:DescribeClusters",
                "ecs:ListServices",
                "ecs:DescribeServices",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
            ],
            "Resource": "*",
        }
    ],
}


class AwsReader(AwsClients):
    """Read-only AWS telemetry and inventory for the Observer's tools (never changes anything)."""

    def now(self) -> float:
        return time.time()

    def _window(self, start: float | None, end: float | None, default_s: float = 3600) -> tuple[float, float]:
        # Whole seconds, rounded up: the API serialises times to the second, so a plain ``now`` would
        # drop datapoints written earlier in the current second.
        end = float(math.ceil(self.now())) if end is None else end
        return (end - default_s if start is None else start), end

    def cloudwatch_metrics(
        self,
        namespace: str,
        metric_name: str,
        dimensions: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
        period: int = 60,
        stat: str = "Average",
    ) -> dict[str, Any]:
        """One metric's datapoints (``GetMetricData``), oldest first, over ``[start, end]``.

        The window defaults to the last hour; ``points`` are ``(unix_seconds, value)`` pairs.
        """
        start, end = self._window(start, end)
        query = {
            "Id": "m0",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": metric_name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
                },
                "Period": period,
                "Stat": stat,
            },
        }
        args: dict[str, Any] = {
            "MetricDataQueries": [query],
            "StartTime": utc_datetime(start),
            "EndTime": utc_datetime(end),
            "ScanBy": "TimestampAscending",
        }
        points: list[tuple[float, float]] = []
        status = "Complete"
        for result in self._pages("cloudwatch", "get_metric_data", "MetricDataResults", 100, **args):
            points += [
                (unix_seconds(t) or 0.0, float(v))
                for t, v in zip(result["Timestamps"], result["Values"], strict=False)
            ]
            status = result.get("StatusCode", status)
        return {
            "namespace": namespace,
            "metric": metric_name,
            "dimensions": dict(dimensions or {}),
            "stat": stat,
            "period": period,
            "status": status,
            "points": sorted(points),
        }

    def list_metrics(
        self, namespace: str | None = None, metric_name: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Metrics that exist (``ListMetrics``): namespace, name and dimensions of each."""
        args = {k: v for k, v in (("Namespace", namespace), ("MetricName", metric_name)) if v}
        return [
            {
                "namespace": m["Namespace"],
                "metric": m["MetricName"],
                "dimensions": {d["Name"]: d["Value"] for d in m.get("Dimensions", [])},
            }
            for m in self._pages("cloudwatch", "list_metrics", "Metrics", limit, **args)
        ]

    def alarms(
        self, state: str | None = None, prefix: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Metric alarms (``DescribeAlarms``), optionally only those in ``state`` (OK, ALARM, ...)."""
        args = {k: v for k, v in (("StateValue", state), ("AlarmNamePrefix", prefix)) if v}
        return [
            {
                "name": a["AlarmName"],
                "state": a["StateValue"],
                "reason": a.get("StateReason", ""),
                "updated": unix_seconds(a.get("StateUpdatedTimestamp")),
                "namespace": a.get("Namespace"),
                "metric": a.get("MetricName"),
                "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
                "comparison": a.get("ComparisonOperator"),
                "threshold": a.get("Threshold"),
            }
            for a in self._pages("cloudwatch", "describe_alarms", "MetricAlarms", limit, **args)
        ]

    def log_groups(self, prefix: str | None = None, limit: int = 200) -> list[str]:
        """Log group names (``DescribeLogGroups``)."""
        args = {"logGroupNamePrefix": prefix} if prefix else {}
        return [
            g["logGroupName"] for g in self._pages("logs", "describe_log_groups", "logGroups", limit, **args)
        ]

    def log_events(
        self,
        log_group: str,
        filter_pattern: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 200,
        stream_prefix: str | None = None,
    ) -> list[dict[str, Any]]:
        """Log lines of one group (``FilterLogEvents``), oldest first, over ``[start, end]`` (default: 1 h).

        ``filter_pattern`` is CloudWatch Logs filter syntax (``ERROR``, ``"connection refused"``...).
        """
        start, end = self._window(start, end)
        args: dict[str, Any] = {
            "logGroupName": log_group,
            "startTime": int(start * 1000),
            "endTime": int(end * 1000),
        }
        if filter_pattern:
            args["filterPattern"] = filter_pattern
        if stream_prefix:
            args["logStreamNamePrefix"] = stream_prefix
        events = [
            {
                "timestamp": (unix_seconds(e["timestamp"]) or 0.0) / 1000,
                "stream": e.get("logStreamName", ""),
                "message": e["message"],
            }
            for e in self._pages("logs", "filter_log_events", "events", limit, **args)
        ]
        return sorted(events, key=lambda event: event["timestamp"])

    def ecs_clusters(self, limit: int = 100) -> list[dict[str, Any]]:
        """ECS clusters with their task and service counts."""
        arns = list(self._pages("ecs", "list_clusters", "clusterArns", limit))
        clusters = []
        for batch in (arns[i : i + 100] for i in range(0, len(arns), 100)):
            clusters += self._call("ecs", "describe_clusters", clusters=batch)["clusters"]
        return [
            {
                "name": c["clusterName"],
                "status": c.get("status"),
                "running_tasks": c.get("runningTasksCount", 0),
                "pending_tasks": c.get("pendingTasksCount", 0),
                "active_services": c.get("activeServicesCount", 0),
            }
            for c in clusters
        ]

    def ecs_services(
        self, cluster: str, services: list[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Services of one ECS cluster: desired/running/pending counts, deployments and recent events."""
        names = services or list(self._pages("ecs", "list_services", "serviceArns", limit, cluster=cluster))
        described = []
        for batch in (names[i : i + 10] for i in range(0, len(names), 10)):
            reply = self._call("ecs", "describe_services", cluster=cluster, services=batch)
            missing = [f"{f.get('arn')}: {f.get('reason')}" for f in reply.get("failures", [])]
            if missing and services:
                raise NotFoundError(f"aws ecs.describe_services(cluster={cluster!r}): {'; '.join(missing)}")
            described += reply["services"]
        return [ecs_service_summary(s) for s in described]

    def ec2_instances(
        self,
        instance_ids: list[str] | None = None,
        filters: Mapping[str, list[str]] | None = None,
        region: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """EC2 instances with state and status checks (``DescribeInstances`` + ``DescribeInstanceStatus``).

        ``region`` defaults to the reader's; ``filters`` are EC2 filters (``{"tag:app": ["web"]}``).
        """
        args: dict[str, Any] = {}
        if instance_ids:
            args["InstanceIds"] = instance_ids
        if filters:
            args["Filters"] = [{"Name": k, "Values": list(v)} for k, v in filters.items()]
        reservations = self._pages("ec2", "describe_instances", "Reservations", limit, region, **args)
        instances = [i for r in reservations for i in r.get("Instances", [])]
        if not instances:
            return []
        ids = [i["InstanceId"] for i in instances]
        statuses = {
            s["InstanceId"]: s
            for s in self._pages(
                "ec2",
                "describe_instance_status",
                "InstanceStatuses",
                limit,
                region,
                InstanceIds=ids,
                IncludeAllInstances=True,
            )
        }
        return [_instance_summary(i, statuses.get(i["InstanceId"], {})) for i in instances]


def ecs_service_summary(s: Mapping[str, Any]) -> dict[str, Any]:
    """An ECS service as plain data (shared by the reader and the writer's results)."""
    return {
        "name": s["serviceName"],
        "cluster": str(s.get("clusterArn", "")).rsplit("/", 1)[-1],
        "status": s.get("status"),
        "desired": s.get("desiredCount", 0),
        "running": s.get("runningCount", 0),
        "pending": s.get("pendingCount", 0),
        "task_definition": str(s.get("taskDefinition", "")).rsplit("/", 1)[-1],
        "deployments": [
            {
                "id": d.get("id"),
                "status": d.get("status"),
                "desired": d.get("desiredCount", 0),
                "running": d.get("runningCount", 0),
                "rollout_state": d.get("rolloutState"),
                "created": unix_seconds(d.get("createdAt")),
            }
            for d in s.get("deployments", [])
        ],
        "events": [
            {"at": unix_seconds(e.get("createdAt")), "message": e.get("message", "")}
            for e in s.get("events", [])[:10]
        ],
    }


def _check(status: Mapping[str, Any], key: str) -> dict[str, Any]:
    block = status.get(key) or {}
    return {
        "status": block.get("Status", "unknown"),
        "details": {d["Name"]: d["Status"] for d in block.get("Details", [])},
    }


def _instance_summary(i: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": i["InstanceId"],
        "type": i.get("InstanceType"),
        "state": i.get("State", {}).get("Name"),
        "az": i.get("Placement", {}).get("AvailabilityZone"),
        "private_ip": i.get("PrivateIpAddress"),
        "launched": unix_seconds(i.get("LaunchTime")),
        "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])},
        "system_status": _check(status, "SystemStatus"),
        "instance_status": _check(status, "InstanceStatus"),
        "events": [
            {
                "code": e.get("Code"),
                "description": e.get("Description"),
                "not_before": unix_seconds(e.get("NotBefore")),
            }
            for e in status.get("Events", [])
        ],
    }
