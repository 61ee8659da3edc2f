"""What the pipeline needs from the outside world, as protocols and plain data.

Adapters in ``aws/``, ``db/`` and ``k8s/`` implement these; tests may too. Nothing here
performs I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..api.restore import ConfigMapKeyRef, Privileges, SecretKeyRef


@dataclass(frozen=True)
class Snapshot:
    identifier: str
    arn: str
    region: str
    status: str
    cluster_identifier: str
    snapshot_type: str = "manual"
    created_at: dt.datetime | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    engine: str = "aurora-postgresql"
    engine_version: str | None = None
    percent_progress: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cluster:
    identifier: str
    arn: str
    region: str
    status: str
    endpoint: str | None = None
    reader_endpoint: str | None = None
    port: int | None = None
    master_username: str | None = None
    deletion_protection: bool = False
    members: tuple[str, ...] = ()
    engine: str = "aurora-postgresql"
    tags: Mapping[str, str] = field(default_factory=dict)
    # Unlike the ARN, this changes when a cluster is deleted and created again by name.
    resource_id: str | None = None
    # The point-in-time window of its continuous backups (None when AWS reports none).
    earliest_restorable_time: dt.datetime | None = None
    latest_restorable_time: dt.datetime | None = None


@dataclass(frozen=True)
class Instance:
    identifier: str
    cluster_identifier: str | None
    status: str


@dataclass(frozen=True)
class RestoreRequest:
    cluster_identifier: str
    snapshot_identifier: str
    engine: str
    engine_version: str | None
    db_subnet_group_name: str | None
    vpc_security_group_ids: Sequence[str]
    kms_key_id: str | None
    db_cluster_parameter_group_name: str | None
    deletion_protection: bool
    tags: Mapping[str, str]


@dataclass(frozen=True)
class PointInTimeRequest:
    """RestoreDBClusterToPointInTime: a point-in-time restore, or (copy-on-write) a clone."""

    cluster_identifier: str
    source_cluster_identifier: str
    restore_type: str  # "full-copy" or "copy-on-write"
    restore_to_time: dt.datetime | None
    use_latest_restorable_time: bool
    db_subnet_group_name: str | None
    vpc_security_group_ids: Sequence[str]
    kms_key_id: str | None
    db_cluster_parameter_group_name: str | None
    deletion_protection: bool
    tags: Mapping[str, str]


class Rds(Protocol):
    def get_snapshot(self, region: str, identifier: str) -> Snapshot | None: ...

    def list_snapshots(
        self, region: str, cluster_identifier: str, snapshot_type: str
    ) -> list[Snapshot]: ...

    def copy_snapshot(
        self,
        region: str,
        source: Snapshot,
        target_identifier: str,
        kms_key_id: str | None,
        tags: Mapping[str, str],
    ) -> Snapshot: ...

    def get_cluster(self, region: str, identifier: str) -> Cluster | None: ...

    def get_instances(self, region: str, identifiers: Sequence[str]) -> list[Instance]: ...

    def delete_instance(self, region: str, identifier: str) -> None: ...

    def delete_cluster(
        self, region: str, identifier: str, final_snapshot_identifier: str | None
    ) -> None: ...

    def restore_cluster(self, region: str, request: RestoreRequest) -> Cluster: ...

    def restore_cluster_to_point_in_time(
        self, region: str, request: PointInTimeRequest
    ) -> Cluster: ...

    def create_instance(
        self,
        region: str,
        identifier: str,
        cluster_identifier: str,
        instance_class: str,
        engine: str,
        tags: Mapping[str, str],
    ) -> Instance: ...

    def set_master_password(self, region: str, cluster_identifier: str, password: str) -> None: ...

    def rename_cluster(self, region: str, identifier: str, new_identifier: str) -> None:
        """ModifyDBCluster NewDBClusterIdentifier, applied immediately. A cluster already
        gone from ``identifier`` is not an error: the caller reads AWS again to see."""
        ...

    def delete_snapshot(self, region: str, identifier: str) -> None: ...

    def tag_resource(self, region: str, arn: str, tags: Mapping[str, str]) -> None: ...

    def ensure_subnet_group(
        self, region: str, name: str, subnet_ids: Sequence[str], tags: Mapping[str, str]
    ) -> None: ...


@dataclass(frozen=True)
class KeyAccess:
    """What the source account's KMS says about a snapshot's key, for the target account's
    use of it: read with the source role, judged in pipeline/steps/_cross_account.py."""

    arn: str
    # "AWS" for an AWS managed key (aws/rds): it can never be used by another account.
    manager: str
    state: str
    # The key policy document (JSON text); None when the role may not read it.
    policy: str | None
    # (grantee principal, operations) of every grant on the key.
    grants: tuple[tuple[str, tuple[str, ...]], ...] = ()


class SourceAccount(Protocol):
    """The source side of a cross-account restore, with the assumed role: reads, and the
    snapshot's ``restore`` attribute, the only thing it changes there."""

    def get_snapshot(self, region: str, identifier: str) -> Snapshot | None: ...

    def list_snapshots(
        self, region: str, cluster_identifier: str, snapshot_type: str
    ) -> list[Snapshot]: ...

    def shared_with(self, region: str, identifier: str) -> list[str]:
        """The account ids (or "all") in the snapshot's ``restore`` attribute."""
        ...

    def share(self, region: str, identifier: str, account: str) -> None: ...

    def unshare(self, region: str, identifier: str, account: str) -> None: ...

    def key_access(self, region: str, key_id: str) -> KeyAccess: ...


class SourceAccounts(Protocol):
    def open(self, role_arn: str, external_id: str | None, session_name: str) -> SourceAccount:
        """The source account as ``role_arn`` sees it (credentials cached and refreshed)."""
        ...

    def target_account(self) -> str:
        """The operator's own account id: where copies and restores are made."""
        ...


class Network(Protocol):
    def problems(
        self, region: str, vpc_id: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str]
    ) -> list[str]:
        """Sentences describing what does not exist or is not in the VPC; empty when fine."""
        ...


class Checks(Protocol):
    """Read-only AWS look-ups of the preflight. Each answers a sentence saying what is
    wrong, or None when the object exists (and is usable)."""

    def kms_key(self, region: str, key_id: str) -> str | None: ...

    def subnet_group(self, region: str, name: str) -> str | None: ...

    def parameter_group(self, region: str, name: str) -> str | None: ...

    def subnet_group_owner(self, region: str, name: str) -> tuple[dict[str, str], list[str]] | None:
        """The tags of subnet group ``name`` and the clusters that use it; None if gone."""
        ...

    def delete_subnet_group(self, region: str, name: str) -> None: ...


class Secrets(Protocol):
    """Where passwords and SQL come from. Values never leave the step that asked."""

    def kubernetes_secret(self, ref: SecretKeyRef) -> str: ...

    def secrets_manager(self, region: str, secret_id: str) -> str: ...

    def config_map(self, ref: ConfigMapKeyRef) -> str: ...

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class DbEndpoint:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str = "postgres"


@dataclass(frozen=True)
class DbUserSpec:
    name: str
    password: str = field(repr=False)
    privileges: Privileges = Privileges.readonly
    databases: tuple[str, ...] = ()


class Database(Protocol):
    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """Where to connect for a cluster endpoint (a tunnel or a local stand-in may differ)."""
        ...

    def check_master(self, endpoint: DbEndpoint) -> str: ...

    def setup_users(self, endpoint: DbEndpoint, users: Sequence[DbUserSpec]) -> list[str]: ...

    def run_sql(self, endpoint: DbEndpoint, name: str, database: str, text: str) -> None: ...


@dataclass(frozen=True)
class LeaseHolder:
    """The run holding a target's lease: ``owner`` is its resource's namespace/name."""

    owner: str
    operation_id: str
    expires_at: float


class Leases(Protocol):
    """One run per target: a lease per (account, region, cluster identifier)."""

    def hold(
        self, region: str, cluster_identifier: str, owner: str, operation_id: str
    ) -> LeaseHolder | None:
        """Take or renew the lease for this run; None when granted, else who holds it."""
        ...

    def release(self, region: str, cluster_identifier: str, operation_id: str) -> None: ...


class Notifier(Protocol):
    def publish(self, topic_arn: str, subject: str, message: Mapping[str, object]) -> None: ...


@dataclass
class Ports:
    rds: Rds
    network: Network
    secrets: Secrets
    database: Database
    notifier: Notifier
    checks: Checks
    # None: no lease is taken (a single-run tool; the operator and the CLI always pass one).
    leases: Leases | None = None
    # None: source.roleArn cannot be used (tests of one account may leave it out).
    source_accounts: SourceAccounts | None = None
