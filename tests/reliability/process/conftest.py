"""The operator as its own process (SIGKILL, Kubernetes API faults, secrets in its logs),
with the e2e harness: the real API server (the Kubernetes API emulator for the fault tests,
which inject 409s, 500s and dropped watches through it), the moto server and PostgreSQL.
The AWS world adds what the full restore needs: a managed cluster to replace in the target
region, and an SNS topic with an SQS queue to read the notifications from."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from aurora_restore_sandbox.aws import AwsSandbox
from e2e.conftest import (  # noqa: F401  (fixtures, re-registered for this directory)
    SOURCE,
    TARGET,
    Cluster,
    Operator,
    aws_server,
    cluster,
    kube,
    kubeconfig,
    operator,
    operator_env,
    operator_kubeconfig,
    postgres,
    real_cluster,
)

MANAGED = {
    "dbrestore.io/managed-by": "aurora-restore-operator",
    "dbrestore.io/owner": "databases/staging-refresh",
}


@dataclass
class AwsWorld:
    sandbox: AwsSandbox
    topic_arn: str
    queue_url: str

    def sns_messages(self, expect: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """What reached the topic's queue: waits (a little) for ``expect`` messages."""
        sqs = self.sandbox.client("sqs", TARGET)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                if len(found) >= expect or time.monotonic() > deadline:
                    return found
                time.sleep(0.1)
                continue
            for m in got["Messages"]:
                found.append(json.loads(json.loads(m["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def audit(self, operation_id: str) -> list[dict[str, Any]]:
        de = TypeDeserializer()
        items = self.sandbox.client("dynamodb", SOURCE).query(
            TableName="aurora-restore-audit",
            KeyConditionExpression="operation_id = :o",
            ExpressionAttributeValues={":o": {"S": operation_id}},
        )["Items"]
        return [{k: de.deserialize(v) for k, v in i.items()} for i in items]

    def state(self, operation_id: str) -> dict[str, Any]:
        item = self.sandbox.client("dynamodb", SOURCE).get_item(
            TableName="aurora-restore-state", Key={"operation_id": {"S": operation_id}}
        )["Item"]
        return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


@pytest.fixture
def aws(aws_server: AwsSandbox) -> Iterator[AwsSandbox]:  # noqa: F811
    """The e2e AWS world (a source cluster and snapshot, a KMS key in the target region)."""
    aws_server.reset()
    rds = aws_server.client("rds", SOURCE)
    rds.create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="prod-source-pw",
        StorageEncrypted=True,
    )
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )
    kms = aws_server.client("kms", TARGET)
    kms.create_alias(
        AliasName="alias/staging", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"]
    )
    aws_server.reset_calls()
    yield aws_server
    aws_server.clear_hooks()


@pytest.fixture
def aws_world(aws: AwsSandbox) -> AwsWorld:
    rds = aws.client("rds", TARGET)
    rds.create_db_cluster(
        DBClusterIdentifier="staging",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="old-staging-pw",
        Tags=[{"Key": k, "Value": v} for k, v in MANAGED.items()],
    )
    for n in range(2):
        rds.create_db_instance(
            DBInstanceIdentifier=f"staging-old-{n}",
            DBClusterIdentifier="staging",
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )
    aws.settle()
    sns = aws.client("sns", TARGET)
    topic = sns.create_topic(Name="restores")["TopicArn"]
    sqs = aws.client("sqs", TARGET)
    queue = sqs.create_queue(QueueName="restores")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    aws.reset_calls()
    return AwsWorld(aws, topic, queue)


def faster(env: dict[str, str]) -> dict[str, str]:
    """The e2e operator settings, polling every second (these tests wait on retries)."""
    return {**env, "AURORA_RESTORE_POLL_INTERVAL": "1s", "AURORA_RESTORE_POLL_FLOOR": "1s"}


def full_spec(world: AwsWorld, **extra: Any) -> dict[str, Any]:
    """Every mutating call in one run (as helpers.full_spec, for the operator)."""
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "copy": {"kmsKeyId": "alias/staging"},
        "target": {
            "region": TARGET,
            "clusterIdentifier": "staging",
            "existingCluster": "Replace",
            "instances": 2,
        },
        "masterPassword": {"secretRef": {"name": "staging-master"}},
        "notification": {"snsTopicArn": world.topic_arn},
        **extra,
    }


def finished(api: Cluster, name: str) -> dict[str, Any] | None:
    """The object once its run ended and its notification step did too; None until then."""
    obj = api.get(name)
    status = (obj or {}).get("status") or {}
    if status.get("phase") not in ("Completed", "Failed"):
        return None
    steps = {s["name"]: s["state"] for s in status.get("steps", [])}
    if steps.get("sns-notification") in ("Pending", "Running"):
        return None
    return obj


def wait_finished(api: Cluster, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = finished(api, name)
        if obj is not None:
            return obj
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {(api.get(name) or {}).get('status')}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
