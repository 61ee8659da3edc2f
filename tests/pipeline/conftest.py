"""Fixtures for the pipeline tests: a moto server with RDS in-progress states, a throwaway
PostgreSQL, an in-memory Kubernetes object source, and a controllable clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from aurora_restore.api.restore import ConfigMapKeyRef, SecretKeyRef
from aurora_restore.api.status import ErrorType
from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver, Resource, Tick
from aurora_restore.pipeline.errors import PortError
from aurora_restore.settings import load
from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox

SOURCE, TARGET = "us-east-1", "us-west-2"


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsSandbox]:
    with AwsSandbox(delay_seconds=0) as sandbox:
        yield sandbox


@pytest.fixture
def aws(aws_server: AwsSandbox, monkeypatch: pytest.MonkeyPatch) -> AwsSandbox:
    aws_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", SOURCE)
    return aws_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresSandbox]:
    if not PostgresSandbox.available():
        pytest.skip(PostgresSandbox.install_hint())
    with PostgresSandbox(master_password="original-master-pw", databases=("app",)) as pg:
        yield pg


@dataclass
class FakeKube:
    """Secrets and ConfigMaps of one namespace, in memory (the e2e tests use a real API)."""

    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    written: dict[str, dict[str, str]] = field(default_factory=dict)

    def kubernetes_secret(self, ref: SecretKeyRef) -> str:
        try:
            return self.secrets[ref.name][ref.key]
        except KeyError:
            raise PortError(
                ErrorType.ValidationError,
                f"Secret {ref.name} was not found",
                "SecretNotFound",
                retryable=True,
            ) from None

    def config_map(self, ref: ConfigMapKeyRef) -> str:
        try:
            return self.config_maps[ref.name][ref.key]
        except KeyError:
            raise PortError(
                ErrorType.ValidationError,
                f"ConfigMap {ref.name} was not found",
                "ConfigMapNotFound",
                retryable=True,
            ) from None

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None:
        self.written[name] = dict(data)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class World:
    aws: AwsSandbox
    clock: Clock
    session: boto3.Session
    env: dict[str, str]
    kube: FakeKube = field(default_factory=FakeKube)
    topic_arn: str = ""
    queue_url: str = ""

    def client(self, service: str, region: str = SOURCE) -> Any:
        return self.aws.client(service, region)

    def driver(self, **env: str) -> Driver:
        settings = load({**self.env, **env})
        return Driver(settings, clients=Clients(self.session), clock=self.clock)

    def run(
        self,
        spec: dict[str, Any],
        driver: Driver | None = None,
        status: dict[str, Any] | None = None,
        max_ticks: int = 200,
        uid: str = "uid-1",
        generation: int = 1,
        namespace: str = "databases",
        name: str = "staging-refresh",
    ) -> tuple[dict[str, Any], list[Tick]]:
        driver = driver or self.driver()
        ticks: list[Tick] = []
        for _ in range(max_ticks):
            tick = driver.tick(Resource(name, namespace, uid, generation, spec, status), self.kube)
            ticks.append(tick)
            status = tick.status.to_dict()
            if tick.requeue_after is None:
                return status, ticks
            self.clock.advance(max(tick.requeue_after, 1.0))
        raise AssertionError(f"restore did not finish in {max_ticks} ticks: {status}")

    def sns_messages(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs", TARGET)
        found = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return found
            for m in got["Messages"]:
                found.append(json.loads(json.loads(m["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def audit(self, operation_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        de = TypeDeserializer()
        items = self.client("dynamodb").query(
            TableName="aurora-restore-audit",
            KeyConditionExpression="operation_id = :o",
            ExpressionAttributeValues={":o": {"S": operation_id}},
        )["Items"]
        return [{k: de.deserialize(v) for k, v in i.items()} for i in items]


def make_source(world: World, encrypted: bool = True) -> None:
    rds = world.client("rds", SOURCE)
    params: dict[str, Any] = {
        "DBClusterIdentifier": "prod",
        "Engine": "aurora-postgresql",
        "MasterUsername": "postgres",
        "MasterUserPassword": "source-master-pw",
    }
    if encrypted:
        params.update(StorageEncrypted=True, KmsKeyId="alias/aws/rds")
    rds.create_db_cluster(**params)
    # moto snapshots a new cluster at once; age that snapshot so it is no one's "latest".
    for snap in rds.describe_db_cluster_snapshots(DBClusterIdentifier="prod")["DBClusterSnapshots"]:
        world.aws.edit_cluster_snapshot(
            SOURCE,
            snap["DBClusterSnapshotIdentifier"],
            created_at=world.clock.now - dt.timedelta(days=5),
        )
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )


def build_world(aws: AwsSandbox, session: boto3.Session) -> World:
    """The source cluster and snapshot, a KMS key, a topic read through SQS, and the tables."""
    world = World(
        aws=aws,
        clock=Clock(),
        session=session,
        env={
            "AWS_REGION": SOURCE,
            "AURORA_RESTORE_CREATE_TABLES": "true",
            "AURORA_RESTORE_POLL_INTERVAL": "30s",
        },
    )
    make_source(world)
    kms = world.client("kms", TARGET)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/staging", TargetKeyId=key)
    sns = world.client("sns", TARGET)
    world.topic_arn = sns.create_topic(Name="restores")["TopicArn"]
    sqs = world.client("sqs", TARGET)
    world.queue_url = sqs.create_queue(QueueName="restores")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=world.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=world.topic_arn, Protocol="sqs", Endpoint=queue_arn)
    world.driver().records.check_tables(create=True)
    aws.reset_calls()
    return world


@pytest.fixture
def world(aws: AwsSandbox) -> World:
    return build_world(aws, boto3.Session())


def cross_region_spec(**target: Any) -> dict[str, Any]:
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "copy": {"kmsKeyId": "alias/staging"},
        "target": {"region": TARGET, "clusterIdentifier": "staging", **target},
    }


def same_region_spec(**target: Any) -> dict[str, Any]:
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "target": {"region": SOURCE, "clusterIdentifier": "staging", **target},
    }
