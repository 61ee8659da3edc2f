"""The driver-level world: the moto server with a source cluster and snapshot, a KMS key and
an SNS topic read through SQS in the target region, the records tables, the in-memory
Kubernetes, a controllable clock and ``World.run`` (every tick of one restore). Used by
tests/pipeline and tests/reliability."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver, Resource, Tick
from aurora_restore.settings import load
from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox

from .aws import (
    SOURCE,
    TARGET,
    audit_items,
    create_cluster,
    create_staging,
    sns_messages,
    subscribed_queue,
)
from .fakes import FakeKube

# The tags that make ``staging`` the operator's own (owned by databases/staging-refresh).
MANAGED = {
    "dbrestore.io/managed-by": "aurora-restore-operator",
    "dbrestore.io/owner": "databases/staging-refresh",
}
# A run's phases in the order it passes through them; SWAP_ONLY are those of a run with
# existingCluster: Swap alone.
PHASE_ORDER = (
    "CheckingSnapshot",
    "CopyingSnapshot",
    "DeletingExistingCluster",
    "RestoringCluster",
    "CreatingInstances",
    "ConfiguringDatabase",
    "RetiringExistingCluster",
    "SwappingClusters",
    "DeletingRetiredCluster",
    "ArchivingSnapshot",
    "Completed",
)
SWAP_ONLY = ("RetiringExistingCluster", "SwappingClusters", "DeletingRetiredCluster")
# The operator's settings in the driver-level suites: the source region, tables made on start.
DRIVER_ENV = {
    "AWS_REGION": SOURCE,
    "AURORA_RESTORE_CREATE_TABLES": "true",
    "AURORA_RESTORE_POLL_INTERVAL": "30s",
}
# The passwords of the database scenarios' Secrets.
MASTER = "new-master-S3ntinel"
APP = "app-pw-S3ntinel"
REPORTING = "reporting-pw-S3ntinel"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresSandbox]:
    if not PostgresSandbox.available():
        pytest.skip(PostgresSandbox.install_hint())
    with PostgresSandbox(master_password="original-master-pw", databases=("app",)) as pg:
        yield pg


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
        return sns_messages(self.aws, self.queue_url)

    def audit(self, operation_id: str) -> list[dict[str, Any]]:
        return audit_items(self.aws, operation_id)


def make_source(world: World, encrypted: bool = True) -> None:
    rds = world.client("rds", SOURCE)
    encryption = {"StorageEncrypted": True, "KmsKeyId": "alias/aws/rds"} if encrypted else {}
    create_cluster(rds, "prod", "source-master-pw", **encryption)
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
        env=dict(DRIVER_ENV),
    )
    make_source(world)
    kms = world.client("kms", TARGET)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/staging", TargetKeyId=key)
    world.topic_arn, world.queue_url = subscribed_queue(aws)
    world.driver().records.check_tables(create=True)
    aws.reset_calls()
    return world


@pytest.fixture
def world(aws: AwsSandbox) -> World:
    return build_world(aws, boto3.Session())


@pytest.fixture
def db_world(world: World, postgres: PostgresSandbox) -> World:
    """The world with the throwaway PostgreSQL as every restored cluster's endpoint, and the
    Secrets and ConfigMap of :func:`db_spec`."""
    postgres.set_master_password(MASTER)
    world.env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] = f"{postgres.host}:{postgres.port}"
    world.env["AURORA_RESTORE_DB_SSLMODE"] = "disable"
    world.kube.secrets.update(
        {
            "staging-master": {"password": MASTER},
            "app-db": {"password": APP},
            "reporting-db": {"password": REPORTING},
        }
    )
    world.kube.config_maps["mask-pii"] = {
        "mask.sql": "UPDATE public.customers SET email = 'masked-' || id || '@example.com';"
    }
    return world


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


def existing_staging(
    world: World,
    tags: dict[str, str] | None = None,
    deletion_protection: bool = False,
    instances: int = 1,
    region: str = SOURCE,
) -> str:
    rds = world.client("rds", region)
    arn = create_staging(rds, instances, tags or {}, DeletionProtection=deletion_protection)[
        "DBClusterArn"
    ]
    world.aws.reset_calls()
    return arn


def db_spec(**extra: object) -> dict:
    spec = same_region_spec()
    spec.update(
        masterPassword={"secretRef": {"name": "staging-master", "key": "password"}},
        users=[
            {
                "name": "app",
                "passwordSecretRef": {"name": "app-db"},
                "privileges": "readwrite",
                "databases": ["app"],
            },
            {
                "name": "reporting",
                "passwordSecretRef": {"name": "reporting-db"},
                "privileges": "readonly",
                "databases": ["app"],
            },
        ],
        sql=[
            {"configMapRef": {"name": "mask-pii", "key": "mask.sql"}, "database": "app"},
            {
                "inline": "CREATE TABLE IF NOT EXISTS public.restored_marker"
                " (at timestamptz DEFAULT now());"
                "INSERT INTO public.restored_marker DEFAULT VALUES;",
                "database": "app",
            },
        ],
        connectionSecret={"name": "staging-db", "database": "app"},
        **extra,
    )
    return spec
