"""The AuroraRestore spec: the models, their defaults, bounds and rules, and validation.

Each field is declared once, here, with its description, default, bounds and pattern;
``crd.py`` renders the CRD's schema from these models. This module imports pydantic (and,
through ``rules.py``, durationpy) only, so that the pipeline and the CLI share it without
AWS or Kubernetes. The naming and format rules live in ``rules.py``; the source methods'
rules in ``source_method.py``; the status in ``status.py``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .names import PREFIX
from .rules import (
    AUTOMATED_SNAPSHOT,
    ENGINE_VERSION,
    INSTANCE_CLASS,
    SECRETS_MANAGER_ID,
    SNAPSHOT_ARN,
    SUBNET_GROUP,
    TAG_KEY,
    TAG_VALUE,
    ClusterId,
    Duration,
    ExternalId,
    K8sKey,
    K8sName,
    KmsKeyId,
    PgDatabase,
    PgUser,
    Region,
    RoleArn,
    SecurityGroupId,
    SnapshotId,
    SnsTopicArn,
    SourceSnapshotId,
    SubnetId,
    VpcId,
    _aws_identifier,
    _date,
    _pattern,
)
from .source_method import (
    SourceMethod,
    cross_account_problem,
    region_problem,
    source_problem,
    spec_problem,
    validate_restore_time,
)


class Model(BaseModel):
    """camelCase in the resource, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# --- spec -------------------------------------------------------------------------------


class SnapshotType(StrEnum):
    automated = "automated"
    manual = "manual"
    any = "any"


class Source(Model):
    region: Region
    method: SourceMethod = SourceMethod.Snapshot
    snapshot_identifier: SourceSnapshotId | None = None
    cluster_identifier: ClusterId | None = None
    # None means "yesterday (UTC)", the seed's rule; resolved when a run starts.
    date: Annotated[str, AfterValidator(_date)] | None = None
    snapshot_type: SnapshotType = SnapshotType.automated
    wait_timeout: Duration = "1h"
    # PointInTime only: an RFC 3339 UTC time, or "latest" (UseLatestRestorableTime).
    restore_time: Annotated[str, AfterValidator(validate_restore_time)] | None = None
    # Another AWS account's snapshot (docs/cross-account.md): the role to assume there.
    role_arn: RoleArn | None = None
    external_id: ExternalId | None = None

    @property
    def from_cluster(self) -> bool:
        """PointInTime and Clone make the new cluster from the source cluster, not a snapshot."""
        return self.method is not SourceMethod.Snapshot

    @model_validator(mode="after")
    def _one_way_to_find(self) -> Source:
        if problem := source_problem(self) or cross_account_problem(self):
            raise ValueError(problem)
        if (self.snapshot_identifier is None) == (self.cluster_identifier is None):
            raise ValueError(
                "set exactly one of snapshotIdentifier (an exact snapshot) or "
                "clusterIdentifier (pick that cluster's snapshot by date)"
            )
        if self.snapshot_identifier is not None and self.date is not None:
            raise ValueError("date only applies with clusterIdentifier, not snapshotIdentifier")
        arn = SNAPSHOT_ARN.fullmatch(self.snapshot_identifier or "")
        if arn and arn["region"] != self.region:
            raise ValueError(
                f"snapshotIdentifier is an ARN in {arn['region']} but region is {self.region}; "
                "give the snapshot's own region"
            )
        return self


class Copy(Model):
    kms_key_id: KmsKeyId | None = None
    target_snapshot_identifier: SnapshotId | None = None


class ExistingCluster(StrEnum):
    Fail = "Fail"
    # The seed's delete-rds: delete the old cluster, then restore (down until restored).
    Replace = "Replace"
    # Restore alongside under a temporary name, then rename (down only for the renames).
    Swap = "Swap"


def _tags(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 40:
        raise ValueError(f"at most 40 tags are allowed (got {len(value)})")
    for key, val in value.items():
        if not TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise ValueError(
                f"tag key {key[:80]!r} must be 1-128 letters, digits, spaces or _.:/=+-@ "
                "and not start with aws:"
            )
        if key.startswith(PREFIX):
            raise ValueError(f"tag key {key!r} is reserved for the operator")
        if not TAG_VALUE.fullmatch(val):
            raise ValueError(
                f"tag {key!r} has a value that is not 0-256 letters, digits, spaces or _.:/=+-@"
            )
    return value


class Target(Model):
    region: Region
    cluster_identifier: ClusterId
    existing_cluster: ExistingCluster = ExistingCluster.Fail
    instance_class: Annotated[
        str, _pattern(INSTANCE_CLASS, "a DB instance class such as db.r6g.large")
    ] = "db.r6g.large"
    # Strict: Kubernetes rejects "2" or true for an integer, so the model must not coerce them.
    instances: Annotated[int, Field(ge=0, le=16, strict=True)] = 1
    db_subnet_group_name: (
        Annotated[str, _pattern(SUBNET_GROUP, "1-255 letters, digits, spaces, '.', '_' or '-'")]
        | None
    ) = None
    vpc_id: VpcId | None = None
    subnet_ids: Annotated[list[SubnetId], Field(max_length=20)] | None = None
    vpc_security_group_ids: Annotated[list[SecurityGroupId], Field(max_length=5)] = []
    engine_version: (
        Annotated[str, _pattern(ENGINE_VERSION, "an engine version such as 15.4")] | None
    ) = None
    kms_key_id: KmsKeyId | None = None
    db_cluster_parameter_group_name: (
        Annotated[str, AfterValidator(lambda v: _aws_identifier(v, "a parameter group name", 255))]
        | None
    ) = None
    deletion_protection: StrictBool = False
    final_snapshot: StrictBool = False
    tags: Annotated[dict[str, str], AfterValidator(_tags)] = {}

    @model_validator(mode="after")
    def _network(self) -> Target:
        if self.db_subnet_group_name and (self.vpc_id or self.subnet_ids):
            raise ValueError("set either dbSubnetGroupName or vpcId with subnetIds, not both")
        if bool(self.vpc_id) != bool(self.subnet_ids):
            raise ValueError("vpcId and subnetIds go together: set both or neither")
        if self.subnet_ids is not None and len(self.subnet_ids) < 2:
            raise ValueError("subnetIds needs at least 2 subnets (Aurora spans two zones)")
        return self


class SecretKeyRef(Model):
    name: K8sName
    key: K8sKey = "password"


class MasterPassword(Model):
    secret_ref: SecretKeyRef | None = None
    secrets_manager_secret_id: (
        Annotated[str, _pattern(SECRETS_MANAGER_ID, "a Secrets Manager secret name or ARN")] | None
    ) = None

    @model_validator(mode="after")
    def _one_source(self) -> MasterPassword:
        if (self.secret_ref is None) == (self.secrets_manager_secret_id is None):
            raise ValueError("set exactly one of secretRef or secretsManagerSecretId")
        return self


class Privileges(StrEnum):
    readonly = "readonly"
    readwrite = "readwrite"
    owner = "owner"


class User(Model):
    name: PgUser
    password_secret_ref: SecretKeyRef | None = None
    password_secrets_manager_secret_id: (
        Annotated[str, _pattern(SECRETS_MANAGER_ID, "a Secrets Manager secret name or ARN")] | None
    ) = None
    privileges: Privileges = Privileges.readonly
    databases: Annotated[list[PgDatabase], Field(max_length=64)] = []

    @model_validator(mode="after")
    def _one_source(self) -> User:
        if (self.password_secret_ref is None) == (self.password_secrets_manager_secret_id is None):
            raise ValueError(
                f"user {self.name!r}: set exactly one of passwordSecretRef or "
                "passwordSecretsManagerSecretId"
            )
        return self


class ConfigMapKeyRef(Model):
    name: K8sName
    key: K8sKey


class Sql(Model):
    config_map_ref: ConfigMapKeyRef | None = None
    inline: Annotated[str, Field(min_length=1, max_length=262144)] | None = None
    database: PgDatabase = "postgres"

    @model_validator(mode="after")
    def _one_source(self) -> Sql:
        if (self.config_map_ref is None) == (self.inline is None):
            raise ValueError("set exactly one of configMapRef or inline")
        return self


class ArchivePolicy(StrEnum):
    Delete = "Delete"
    Retain = "Retain"
    Tag = "Tag"


class Archive(Model):
    policy: ArchivePolicy = ArchivePolicy.Delete


class NotifyOn(StrEnum):
    Completed = "Completed"
    Failed = "Failed"


def _no_repeats(value: list[NotifyOn]) -> list[NotifyOn]:
    # The CRD declares events as a set (x-kubernetes-list-type: set); a repeat is a mistake.
    if len(set(value)) != len(value):
        raise ValueError("lists an event more than once")
    return value


class Notification(Model):
    sns_topic_arn: SnsTopicArn | None = None
    events: Annotated[list[NotifyOn], Field(max_length=2), AfterValidator(_no_repeats)] = [
        NotifyOn.Completed,
        NotifyOn.Failed,
    ]


class ConnectionSecret(Model):
    name: K8sName
    database: PgDatabase = "postgres"
    # One of spec.users: applications get their own role, not the master (superuser).
    user: PgUser | None = None


class DeletionPolicy(StrEnum):
    Retain = "Retain"
    Delete = "Delete"


class Timeouts(Model):
    total: Duration = "6h"
    # Any one step; a copy of a large snapshot can take hours, a stuck one forever.
    step: Duration = "3h"
    # How long the preflight waits for a referenced Secret or ConfigMap to appear.
    preflight: Duration = "10m"


class AuroraRestoreSpec(Model):
    source: Source
    copy_: Copy = Field(default_factory=Copy, alias="copy")
    target: Target
    master_password: MasterPassword | None = None
    users: Annotated[list[User], Field(max_length=100)] = []
    sql: Annotated[list[Sql], Field(max_length=50)] = []
    archive: Archive = Field(default_factory=Archive)
    notification: Notification = Field(default_factory=Notification)
    connection_secret: ConnectionSecret | None = None
    deletion_policy: DeletionPolicy = DeletionPolicy.Retain
    timeouts: Timeouts = Field(default_factory=Timeouts)

    @property
    def cross_region(self) -> bool:
        return self.source.region != self.target.region

    @property
    def cross_account(self) -> bool:
        return self.source.role_arn is not None

    @property
    def copies(self) -> bool:
        """Whether the snapshot is copied first: into the target region, or account."""
        return self.cross_region or self.cross_account

    @model_validator(mode="after")
    def _consistent(self) -> AuroraRestoreSpec:
        if problem := region_problem(self):
            raise ValueError(problem)
        if (
            self.source.cluster_identifier == self.target.cluster_identifier
            and self.source.region == self.target.region
        ):
            raise ValueError(
                "target.clusterIdentifier is the source cluster itself in the same region; "
                "restore to a different cluster"
            )
        # An automated snapshot names its cluster, also inside an ARN: restoring it over that
        # very cluster (with existingCluster: Replace) would destroy the source.
        source_name = self.source.snapshot_identifier or ""
        arn = SNAPSHOT_ARN.fullmatch(source_name)
        auto = AUTOMATED_SNAPSHOT.fullmatch(arn["id"] if arn else source_name)
        if auto and auto["cluster"] == self.target.cluster_identifier and not self.cross_region:
            raise ValueError(
                "target.clusterIdentifier is the cluster the source snapshot was taken from; "
                "restore to a different cluster"
            )
        if self.copy_.kms_key_id and not self.copies:
            raise ValueError(
                "copy.kmsKeyId only applies when target.region differs from source.region "
                "or source.roleArn is set; remove it or use target.kmsKeyId"
            )
        if problem := spec_problem(self):
            raise ValueError(problem)
        needs_db = self.users or self.sql or self.connection_secret
        if needs_db and self.master_password is None:
            raise ValueError(
                "masterPassword is required when users, sql or connectionSecret are set: the "
                "restored cluster keeps the source's master password"
            )
        names = [u.name.lower() for u in self.users]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"users lists {', '.join(dupes)} more than once")
        wanted = self.connection_secret.user if self.connection_secret else None
        if wanted is not None and wanted not in {u.name for u in self.users}:
            raise ValueError(
                f"connectionSecret.user {wanted!r} must be the name of one of spec.users"
            )
        return self


# --- validation entry point -----------------------------------------------------------


class SpecError(ValueError):
    """A spec the operator will not run, with one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-plain") or "[" in str(part):
            continue
        else:
            path += f".{part}"
    return path


def _sentence(err: Any) -> str:
    kind = err["type"]
    msg: str = err["msg"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field; check its spelling against the AuroraRestore reference"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind in ("enum", "literal_error"):
        return "must be " + msg.removeprefix("Input should be ")
    if msg.startswith("Input should be "):
        return "must be " + msg.removeprefix("Input should be ")
    return msg[0].lower() + msg[1:] if msg else kind


# Problems end up in the status, events and records: a huge or hostile value that some
# messages quote must not make them huge too (the CRD bounds lengths, but not every client
# goes through the API server's validation).
MAX_PROBLEM_CHARS = 300
MAX_PROBLEMS = 20


def _clip(problem: str) -> str:
    if len(problem) <= MAX_PROBLEM_CHARS:
        return problem
    return problem[: MAX_PROBLEM_CHARS - 3] + "..."


def validate_spec(document: Any) -> AuroraRestoreSpec:
    """Parse a spec mapping; every problem names its field and what is allowed."""
    if not isinstance(document, dict):
        raise SpecError(["spec must be a mapping"])
    try:
        return AuroraRestoreSpec.model_validate(document)
    except ValidationError as exc:
        problems = [_clip(f"{_field_path(err['loc'])}: {_sentence(err)}") for err in exc.errors()]
        if len(problems) > MAX_PROBLEMS:
            problems = problems[:MAX_PROBLEMS] + [
                f"... and {len(problems) - MAX_PROBLEMS} more problems"
            ]
        raise SpecError(problems) from None


def resolve_snapshot_date(spec: AuroraRestoreSpec, now: dt.datetime) -> str | None:
    """The seed's default is yesterday's (UTC) snapshot, fixed when a run starts."""
    if spec.source.cluster_identifier is None or spec.source.from_cluster:
        return None
    if spec.source.date is not None:
        return spec.source.date
    return (now.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
