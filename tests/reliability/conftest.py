"""Fixtures of the reliability suite.

Driver-level tests (the wide matrices) reuse the pipeline harness: a moto server with RDS
in-progress states, an in-memory Kubernetes, a controllable clock and ``World.run``. The
only difference is one boto3 session for the whole suite (loading service models for every
test costs more than many of the tests). The operator-process tests (SIGKILL, Kubernetes
API faults) live in ``process/`` with the e2e harness.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from aurora_restore.sandbox.aws import AwsSandbox
from pipeline.conftest import (  # noqa: F401  (fixtures, re-registered for this directory)
    SOURCE,
    TARGET,
    Clock,
    World,
    aws,
    aws_server,
    make_source,
    postgres,
)

from .helpers import unregister_all


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    return boto3.Session()


@pytest.fixture
def world(aws: AwsSandbox, boto_session: boto3.Session) -> Iterator[World]:  # noqa: F811
    """tests/pipeline's ``world``, on the shared session."""
    world = World(
        aws=aws,
        clock=Clock(),
        session=boto_session,
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
    yield world
    # Hooks a failed test left behind must not fire in the next one.
    unregister_all(boto_session)
