"""The AWS stand-in (moto in server mode, with RDS in-progress states) for every suite, and
readers of what the operator left in it (the audit and state tables, the SNS topic)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.aws import create_cluster as create_cluster  # for the suites

SOURCE, TARGET = "us-east-1", "us-west-2"
AUDIT_TABLE, STATE_TABLE = "aurora-restore-audit", "aurora-restore-state"


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsSandbox]:
    # moto keeps its state in module globals, so one server per test process.
    with AwsSandbox(delay_seconds=0) as sandbox:
        yield sandbox


@pytest.fixture
def aws(aws_server: AwsSandbox, monkeypatch: pytest.MonkeyPatch) -> AwsSandbox:
    """The emptied stand-in, and this process's boto3 pointed at it (the driver-level tests
    build their clients here)."""
    aws_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", SOURCE)
    return aws_server


def tag_list(mapping: dict[str, str]) -> list[dict[str, str]]:
    """RDS's tag list from a mapping."""
    return [{"Key": k, "Value": v} for k, v in mapping.items()]


def create_instances(rds: Any, cluster: str, count: int, prefix: str) -> None:
    """``count`` instances ``{prefix}-0``... of ``cluster``."""
    for n in range(count):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{prefix}-{n}",
            DBClusterIdentifier=cluster,
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )


def create_staging(rds: Any, instances: int, tags: dict[str, str], **params: Any) -> dict[str, Any]:
    """The target cluster ``staging`` a restore replaces (master password ``old-staging-pw``)
    with its instances ``staging-old-0``...; ``params`` as for :func:`create_cluster`."""
    cluster = create_cluster(rds, "staging", "old-staging-pw", Tags=tag_list(tags), **params)
    create_instances(rds, "staging", instances, "staging-old")
    return cluster


def vpc_with_subnets(ec2: Any, region: str, prefix: str = "10.1") -> tuple[str, list[str]]:
    """A VPC ``{prefix}.0.0/16`` with a subnet in each of zones a and b of ``region``."""
    vpc = ec2.create_vpc(CidrBlock=f"{prefix}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"{prefix}.{n}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for n, zone in ((1, "a"), (2, "b"))
    ]
    return vpc, subnets


def create_source(
    sandbox: AwsSandbox, password: str = "source-master-pw", region: str = SOURCE, **params: Any
) -> None:
    """The source cluster ``prod`` and its manual snapshot ``prod-manual-1``."""
    rds = sandbox.client("rds", region)
    create_cluster(rds, "prod", password, **params)
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )


def subscribed_queue(
    sandbox: AwsSandbox, region: str = TARGET, name: str = "restores"
) -> tuple[str, str]:
    """An SNS topic ``name`` with an SQS queue of that name subscribed to it: (topic ARN,
    queue URL)."""
    sns = sandbox.client("sns", region)
    topic = sns.create_topic(Name=name)["TopicArn"]
    sqs = sandbox.client("sqs", region)
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def sns_messages(
    sandbox: AwsSandbox, queue_url: str, expect: int = 0, timeout: float = 0, region: str = TARGET
) -> list[dict[str, Any]]:
    """What reached the topic's queue (consumed); waits up to ``timeout`` for ``expect``."""
    sqs = sandbox.client("sqs", region)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        if not got.get("Messages"):
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
            continue
        for m in got["Messages"]:
            found.append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def audit_items(sandbox: AwsSandbox, operation_id: str) -> list[dict[str, Any]]:
    """The audit trail of one operation, as plain values."""
    de = TypeDeserializer()
    items = sandbox.client("dynamodb", SOURCE).query(
        TableName=AUDIT_TABLE,
        KeyConditionExpression="operation_id = :o",
        ExpressionAttributeValues={":o": {"S": operation_id}},
    )["Items"]
    return [{k: de.deserialize(v) for k, v in i.items()} for i in items]


def state_item(sandbox: AwsSandbox, operation_id: str) -> dict[str, Any]:
    item = sandbox.client("dynamodb", SOURCE).get_item(
        TableName=STATE_TABLE, Key={"operation_id": {"S": operation_id}}
    )["Item"]
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
