"""The executor's AWS writer: the three AWS verbs of the policy, from its own boto3 session.

Kept apart from ``aws`` (the reader) so that investigation code never imports a writer. Build it
from the *write* profile (the IAM below; docs/cloud-permissions.md has it with the read side). Policy
and approvals are the executor's job; this class only performs an already-approved action, offers a
dry run first, and reports what happened as plain data.

Write IAM policy for the executor's profile (``WRITE_IAM_POLICY``; narrow ``Resource`` to your
clusters and instances — the actions are those ``aoi/policies/verbs.yaml`` lists for the AWS verbs)::

    {"Version": "2012-10-17", "Statement": [
      {"Sid": "AoiEcsWrite", "Effect": "Allow", "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
       "Resource": "arn:aws:ecs:*:*:service/*"},
      {"Sid": "AoiEc2Reboot", "Effect": "Allow",
       "Action": ["ec2:RebootInstances", "ec2:DescribeInstanceStatus"], "Resource": "*"}]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from aoi.agents.backends.aws import ecs_service_summary
from aoi.agents.backends.aws_common import AwsClients, translate_error
from aoi.agents.backends.base import BackendError, NotFoundError, UnsupportedError

WRITE_IAM_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AoiEcsWrite",
            "Effect": "Allow",
            "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
            "Resource": "arn:aws:ecs:*:*:service/*",
        },
        {
            "Sid": "AoiEc2Reboot",
            "Effect": "Allow",
            "Action": ["ec2:RebootInstances", "ec2:DescribeInstanceStatus"],
            "Resource": "*",
        },
    ],
}


def _field(action: Any, name: str) -> Any:
    return action.get(name) if isinstance(action, Mapping) else getattr(action, name, None)


class AwsWriter(AwsClients):
    """The executor's AWS writer: ``execute(action)`` for ``ecs_set_desired_count``,
    ``ecs_force_new_deployment`` and ``ec2_reboot`` (an ActionRequest-shaped object or mapping whose
    ``namespace`` is the ECS cluster, or the region for EC2). Policy and approvals are the
    executor's job; this class only performs an already-approved action and says what happened.
    """

    supports_dry_run = True
    VERBS = ("ecs_set_desired_count", "ecs_force_new_deployment", "ec2_reboot")

    def _handler(self, action: Any) -> Callable[[str, str, Mapping[str, Any], bool], dict[str, Any]]:
        verb = _field(action, "verb")
        handlers = {
            "ecs_set_desired_count": self._ecs_desired,
            "ecs_force_new_deployment": self._ecs_redeploy,
            "ec2_reboot": self._ec2_reboot,
        }
        if verb not in handlers:
            raise UnsupportedError(f"the AWS writer has no verb {verb!r}; it performs {list(self.VERBS)}")
        return handlers[verb]

    def execute(self, action: Any) -> dict[str, Any]:
        """Perform the action; returns ``{"verb", "target", "namespace", "result"}`` (plain data)."""
        return self._run(action, dry_run=False)

    def dry_run(self, action: Any) -> str:
        """Check the action could run (target exists; EC2's own DryRun) without changing anything."""
        return str(self._run(action, dry_run=True)["result"]["would"])

    def _run(self, action: Any, *, dry_run: bool) -> dict[str, Any]:
        handler = self._handler(action)
        target, namespace = _field(action, "target"), _field(action, "namespace")
        params = _field(action, "params") or {}
        if not isinstance(target, str) or not isinstance(namespace, str) or not target or not namespace:
            raise BackendError(
                f"an AWS action needs a target and a namespace (cluster or region), got {action!r}"
            )
        result = handler(target, namespace, params, dry_run)
        return {"verb": _field(action, "verb"), "target": target, "namespace": namespace, "result": result}

    def _service(self, cluster: str, service: str) -> dict[str, Any]:
        reply = self._call("ecs", "describe_services", cluster=cluster, services=[service])
        if not reply["services"]:
            reasons = "; ".join(str(f.get("reason")) for f in reply.get("failures", []))
            raise NotFoundError(
                f"aws ecs.describe_services: service {service!r} in cluster {cluster!r}: {reasons}"
            )
        return ecs_service_summary(reply["services"][0])

    def _ecs_desired(
        self, service: str, cluster: str, params: Mapping[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        desired = params.get("desired_count")
        if type(desired) is not int or desired < 0:
            raise BackendError(f"ecs_set_desired_count needs params.desired_count >= 0, got {desired!r}")
        before = self._service(cluster, service)
        if dry_run:
            return {
                "would": f"set desiredCount of {service} in {cluster} from {before['desired']} to {desired}"
            }
        reply = self._call("ecs", "update_service", cluster=cluster, service=service, desiredCount=desired)
        return {"before": before["desired"], "service": ecs_service_summary(reply["service"])}

    def _ecs_redeploy(
        self, service: str, cluster: str, params: Mapping[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        before = self._service(cluster, service)
        if dry_run:
            return {
                "would": f"start a new deployment of {service} in {cluster} ({before['task_definition']})"
            }
        reply = self._call("ecs", "update_service", cluster=cluster, service=service, forceNewDeployment=True)
        return {"service": ecs_service_summary(reply["service"])}

    def _ec2_reboot(
        self, instance: str, region: str, params: Mapping[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        if not dry_run:
            self._call("ec2", "reboot_instances", region=region, InstanceIds=[instance])
            return {"rebooted": instance, "region": region}
        # The instance must exist (EC2's DryRun alone does not always check), then DryRun checks IAM.
        reply = self._call(
            "ec2", "describe_instance_status", region=region, InstanceIds=[instance], IncludeAllInstances=True
        )
        statuses = reply.get("InstanceStatuses", [])
        if not statuses:
            raise NotFoundError(
                f"aws ec2.describe_instance_status: instance {instance!r} not found in {region}"
            )
        state = statuses[0].get("InstanceState", {}).get("Name", "unknown")
        system = statuses[0].get("SystemStatus", {}).get("Status", "unknown")
        try:
            self._client("ec2", region).reboot_instances(InstanceIds=[instance], DryRun=True)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "DryRunOperation":
                args = {"InstanceIds": [instance], "DryRun": True}
                raise translate_error("ec2", "reboot_instances", args, exc) from exc
        return {"would": f"reboot {instance} in {region} (now {state}, system status {system})"}
