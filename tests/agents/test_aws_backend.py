"""The AWS backend against moto's real HTTP server, with seeded failures and IAM enforced.

Seeded incident: an alarm in ALARM on checkout's 5xx rate, ERROR lines in its log group, its ECS
service scaled to 0, and an EC2 instance whose status checks fail. The reader and the writer use
two IAM users whose policies are the module's own READ_ONLY_IAM_POLICY / WRITE_IAM_POLICY, so the
tests also prove those policies are sufficient — and that neither identity can do the other's job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.ec2.models.instances import Instance
from moto.server import ThreadedMotoServer

from aoi.agents.backends.aws import READ_ONLY_IAM_POLICY, AwsReader
from aoi.agents.backends.aws_writer import WRITE_IAM_POLICY, AwsWriter
from aoi.agents.backends.base import BackendError, ForbiddenError, NotFoundError, UnsupportedError
from aoi.policies import load_catalogue, load_policy, render_command

REGION = "us-east-1"
CLUSTER = "prod-main"
LOG_GROUP = "/ecs/checkout"
IMPAIRED = {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]}


def _impaired_on(instance_id: str, healthy: property) -> Any:
    """A status-check getter that reports IMPAIRED for one instance and moto's own answer otherwise."""

    def status(self: Any) -> Any:
        return IMPAIRED if self.id == instance_id else healthy.fget(self)  # type: ignore[misc]

    return status


def _for_moto(policy: dict[str, Any]) -> str:
    """moto authorises CloudWatch as ``monitoring:*`` (its endpoint prefix; real IAM says
    ``cloudwatch:``) and checks every request against Resource ``*``, so resource-scoped statements
    must be widened here. The actions — what these tests prove sufficient — are unchanged."""
    statements = [{**s, "Resource": "*"} for s in policy["Statement"]]
    return json.dumps({**policy, "Statement": statements}).replace('"cloudwatch:', '"monitoring:')


def _user(iam: Any, name: str, policy: dict[str, Any]) -> boto3.session.Session:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=_for_moto(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
    )


def _seed(admin: boto3.session.Session, url: str) -> dict[str, str]:
    cw = admin.client("cloudwatch", endpoint_url=url)
    now = datetime.now(UTC)
    cw.put_metric_data(
        Namespace="AOI/Web",
        MetricData=[
            {
                "MetricName": "HTTPCode_5XX",
                "Dimensions": [{"Name": "Service", "Value": "checkout"}],
                "Timestamp": now - timedelta(minutes=minutes),
                "Value": 50.0 if minutes < 5 else 0.0,
            }
            for minutes in range(10)
        ],
    )
    alarm = {"Namespace": "AOI/Web", "MetricName": "HTTPCode_5XX", "Statistic": "Sum", "Period": 60}
    alarm |= {"EvaluationPeriods": 1, "Threshold": 10.0, "ComparisonOperator": "GreaterThanThreshold"}
    cw.put_metric_alarm(
        AlarmName="checkout-5xx", Dimensions=[{"Name": "Service", "Value": "checkout"}], **alarm
    )
    cw.put_metric_alarm(AlarmName="api-5xx", Dimensions=[{"Name": "Service", "Value": "api"}], **alarm)
    cw.set_alarm_state(
        AlarmName="checkout-5xx", StateValue="ALARM", StateReason="Threshold Crossed: 5 datapoints > 10"
    )
    cw.set_alarm_state(AlarmName="api-5xx", StateValue="OK", StateReason="fine")

    logs = admin.client("logs", endpoint_url=url)
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="checkout/1")
    ms = int(time.time() * 1000)
    lines = ["INFO GET /cart 200", "ERROR payment call failed: connection refused", "INFO GET /health 200"]
    lines += ["ERROR payment call failed: connection refused"]
    events = [{"timestamp": ms - 60_000 + i * 1000, "message": line} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName="checkout/1", logEvents=events)

    ecs = admin.client("ecs", endpoint_url=url)
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="checkout", containerDefinitions=[{"name": "app", "image": "x", "memory": 128}]
    )
    ecs.create_service(cluster=CLUSTER, serviceName="checkout", taskDefinition="checkout", desiredCount=0)
    ecs.create_service(cluster=CLUSTER, serviceName="api", taskDefinition="checkout", desiredCount=2)

    ec2 = admin.client("ec2", endpoint_url=url)
    ids = {}
    for name in ("web-1", "web-2"):
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}]
        reply = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=tags)
        ids[name] = reply["Instances"][0]["InstanceId"]
    return ids


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    admin = boto3.session.Session(
        aws_access_key_id="admin", aws_secret_access_key="admin", region_name=REGION
    )
    iam = admin.client("iam", endpoint_url=url)
    reader_session, writer_session = (
        _user(iam, "aoi-read", READ_ONLY_IAM_POLICY),
        _user(iam, "aoi-write", WRITE_IAM_POLICY),
    )
    ids = _seed(admin, url)
    patch = pytest.MonkeyPatch()
    impaired_id = ids["web-2"]
    for prop in ("system_status", "instance_status"):  # moto has no failing status checks: seed one
        patch.setattr(Instance, prop, property(_impaired_on(impaired_id, getattr(Instance, prop))))
    requests.post(
        f"{url}/moto-api/reset-auth", data=b"0", timeout=10
    ).raise_for_status()  # enforce IAM from now on
    try:
        yield {
            "url": url,
            "ids": ids,
            "reader": AwsReader(reader_session, endpoint_url=url),
            "writer": AwsWriter(writer_session, endpoint_url=url),
            "reader_session": reader_session,
            "writer_session": writer_session,
        }
    finally:
        requests.post(f"{url}/moto-api/reset-auth", data=b"inf", timeout=10)
        patch.undo()
        server.stop()


def test_alarm_in_alarm_state_is_reported_with_its_reason(aws: dict[str, Any]) -> None:
    firing = aws["reader"].alarms(state="ALARM")
    assert [a["name"] for a in firing] == ["checkout-5xx"]
    assert firing[0]["reason"].startswith("Threshold Crossed") and firing[0]["dimensions"] == {
        "Service": "checkout"
    }
    assert {a["name"]: a["state"] for a in aws["reader"].alarms()} == {
        "checkout-5xx": "ALARM",
        "api-5xx": "OK",
    }


def test_metric_points_come_back_oldest_first(aws: dict[str, Any]) -> None:
    series = aws["reader"].cloudwatch_metrics(
        "AOI/Web", "HTTPCode_5XX", {"Service": "checkout"}, period=60, stat="Sum"
    )
    values = [value for _, value in series["points"]]
    assert len(values) == 10 and values[:5] == [0.0] * 5 and values[5:] == [50.0] * 5
    assert [t for t, _ in series["points"]] == sorted(t for t, _ in series["points"])


def test_list_metrics_finds_the_seeded_metric(aws: dict[str, Any]) -> None:
    found = aws["reader"].list_metrics(namespace="AOI/Web")
    assert {"namespace": "AOI/Web", "metric": "HTTPCode_5XX", "dimensions": {"Service": "checkout"}} in found


def test_error_logs_are_found_by_filter_pattern(aws: dict[str, Any]) -> None:
    errors = aws["reader"].log_events(LOG_GROUP, filter_pattern="ERROR")
    assert [e["message"] for e in errors] == ["ERROR payment call failed: connection refused"] * 2
    assert len(aws["reader"].log_events(LOG_GROUP)) == 4
    assert aws["reader"].log_groups() == [LOG_GROUP]


def test_missing_log_group_raises_not_found_with_the_aws_message(aws: dict[str, Any]) -> None:
    with pytest.raises(
        NotFoundError, match=r"logs\.filter_log_events\(logGroupName='/nope'.*ResourceNotFound"
    ):
        aws["reader"].log_events("/nope")


def test_ecs_service_scaled_to_zero_is_visible(aws: dict[str, Any]) -> None:
    services = {s["name"]: s for s in aws["reader"].ecs_services(CLUSTER)}
    assert services["checkout"]["desired"] == 0 and services["api"]["desired"] == 2
    assert (
        services["checkout"]["cluster"] == CLUSTER and services["checkout"]["task_definition"] == "checkout:1"
    )
    assert [c["name"] for c in aws["reader"].ecs_clusters()] == [CLUSTER]


def test_unknown_ecs_service_raises_not_found(aws: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError, match="MISSING"):
        aws["reader"].ecs_services(CLUSTER, services=["ghost"])


def test_impaired_instance_shows_failed_status_checks(aws: dict[str, Any]) -> None:
    instances = {i["tags"]["Name"]: i for i in aws["reader"].ec2_instances()}
    assert instances["web-1"]["state"] == "running" and instances["web-1"]["system_status"]["status"] == "ok"
    assert instances["web-2"]["system_status"] == {
        "status": "impaired",
        "details": {"reachability": "failed"},
    }
    only = aws["reader"].ec2_instances(filters={"tag:Name": ["web-2"]})
    assert [i["id"] for i in only] == [aws["ids"]["web-2"]]


def test_reader_credentials_cannot_write(aws: dict[str, Any]) -> None:
    intruder = AwsWriter(aws["reader_session"], endpoint_url=aws["url"])
    action = {
        "verb": "ecs_set_desired_count",
        "target": "checkout",
        "namespace": CLUSTER,
        "params": {"desired_count": 1},
    }
    with pytest.raises(ForbiddenError, match="not authorized to perform: ecs:UpdateService"):
        intruder.execute(action)
    assert {s["name"]: s["desired"] for s in aws["reader"].ecs_services(CLUSTER)}["checkout"] == 0


def test_writer_credentials_cannot_read_logs(aws: dict[str, Any]) -> None:
    with pytest.raises(ForbiddenError, match="logs:FilterLogEvents"):
        AwsReader(aws["writer_session"], endpoint_url=aws["url"]).log_events(LOG_GROUP)


def test_dry_run_then_execute_restores_the_scaled_down_service(aws: dict[str, Any]) -> None:
    action = {
        "verb": "ecs_set_desired_count",
        "target": "checkout",
        "namespace": CLUSTER,
        "params": {"desired_count": 2},
    }
    assert aws["writer"].dry_run(action) == f"set desiredCount of checkout in {CLUSTER} from 0 to 2"
    assert {s["name"]: s["desired"] for s in aws["reader"].ecs_services(CLUSTER)}["checkout"] == 0
    result = aws["writer"].execute(action)
    assert result["result"]["before"] == 0 and result["result"]["service"]["desired"] == 2
    assert {s["name"]: s["desired"] for s in aws["reader"].ecs_services(CLUSTER)}["checkout"] == 2


def test_force_new_deployment_starts_a_deployment(aws: dict[str, Any]) -> None:
    action = {"verb": "ecs_force_new_deployment", "target": "api", "namespace": CLUSTER, "params": {}}
    assert "start a new deployment of api" in aws["writer"].dry_run(action)
    result = aws["writer"].execute(action)
    assert result["result"]["service"]["name"] == "api" and result["result"]["service"]["deployments"]


def test_ec2_reboot_dry_run_and_execute(aws: dict[str, Any]) -> None:
    action = {"verb": "ec2_reboot", "target": aws["ids"]["web-2"], "namespace": REGION, "params": {}}
    expected = f"reboot {aws['ids']['web-2']} in {REGION} (now running, system status impaired)"
    assert aws["writer"].dry_run(action) == expected
    assert aws["writer"].execute(action)["result"] == {"rebooted": aws["ids"]["web-2"], "region": REGION}


def test_ec2_reboot_of_unknown_instance_is_not_found(aws: dict[str, Any]) -> None:
    action = {"verb": "ec2_reboot", "target": "i-0000000000000dead", "namespace": REGION, "params": {}}
    with pytest.raises(NotFoundError, match=r"InvalidInstanceID\.NotFound"):
        aws["writer"].dry_run(action)


def test_writer_refuses_unknown_verbs_and_bad_params(aws: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedError, match="no verb 'terminate'"):
        aws["writer"].execute({"verb": "terminate", "target": "x", "namespace": REGION})
    bad = {
        "verb": "ecs_set_desired_count",
        "target": "api",
        "namespace": CLUSTER,
        "params": {"desired_count": "9"},
    }
    with pytest.raises(BackendError, match="desired_count >= 0"):
        aws["writer"].execute(bad)


def test_policy_command_matches_the_writer_call() -> None:
    action: dict[str, Any] = {"verb": "ecs_set_desired_count", "target": "checkout", "namespace": CLUSTER}
    action["params"] = {"desired_count": 2, "current_count": 0}
    expected = f"aws ecs update-service --cluster {CLUSTER} --service checkout --desired-count 2"
    assert render_command(load_policy(None), action) == expected


def test_write_iam_policy_grants_exactly_the_catalogue_actions() -> None:
    catalogue = {a for spec in load_catalogue().verbs.values() if spec.platform == "aws" for a in spec.iam}
    granted = {a for statement in WRITE_IAM_POLICY["Statement"] for a in statement["Action"]}
    assert granted == catalogue


def test_permissions_doc_carries_both_iam_policies() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cloud-permissions.md").read_text(encoding="utf-8")
    blocks = [json.loads(block.split("```", 1)[0]) for block in doc.split("```json")[1:]]
    assert READ_ONLY_IAM_POLICY in blocks and WRITE_IAM_POLICY in blocks
