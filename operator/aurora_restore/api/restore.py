"""The AuroraRestore spec: the models, their defaults, bounds and rules, and validation.

Each field is declared once, here, with its description, default, bounds and pattern;
``crd.py`` renders the CRD's schema from these models. This module imports pydantic (and,
through ``rules.py``, durationpy) only, so that the pipeline and the CLI share it without
AWS or Kubernetes. The naming and format rules live in ``rules.py``; the source methods'
rules in ``source_method.py``; the status in ``status.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

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
    PG_USER_RULE,
    SNAPSHOT_ARN,
    TAG_KEY,
    TAG_VALUE,
    ClusterId,
    Duration,
    EngineVersion,
    ExternalId,
    InstanceClass,
    K8sKey,
    K8sName,
    KmsKeyId,
    ParameterGroup,
    PgDatabase,
    PgUser,
    Region,
    RestoreTime,
    RoleArn,
    SecretsManagerId,
    SecurityGroupId,
    SnapshotDate,
    SnapshotId,
    SnsTopicArn,
    SourceSnapshotId,
    SubnetGroup,
    SubnetId,
    TagValue,
    VpcId,
)
from .schema import CelRules, Crd, cel, one_of, rule
from .source_method import (
    SourceMethod,
    cross_account_problem,
    region_problem,
    source_problem,
    spec_problem,
)


class Model(CelRules):
    """camelCase in the resource, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _exactly_one(a: str, b: str, whose: Callable[[Any], str] = lambda _: "") -> Any:
    """A model's validator that exactly one of its fields ``a`` and ``b`` is set, with the
    CEL rule that mirrors it; ``whose`` names the model in the validator's message."""
    message = f"set exactly one of {to_camel(a)} or {to_camel(b)}"

    @cel(one_of(to_camel(a), to_camel(b), message))
    def check(model: Any) -> Any:
        if (getattr(model, a) is None) == (getattr(model, b) is None):
            raise ValueError(whose(model) + message)
        return model

    return model_validator(mode="after")(check)


# --- spec -------------------------------------------------------------------------------
# Each field: its type (the rule, from rules.py), its description and default (the CRD's
# too), its bounds. A class's @cel rules are the API server's copy of the validator they
# decorate.


class SnapshotType(StrEnum):
    automated = "automated"
    manual = "manual"
    any = "any"


_SNAP = "self.source.snapshotIdentifier"
_SNAPSHOT_METHOD = "(!has(self.source.method) || self.source.method == 'Snapshot')"
_TARGET = "self.target.clusterIdentifier.lowerAscii()"


class Source(Model):
    region: Region = Field(
        description="AWS region of the source snapshot or cluster, e.g. us-east-1."
    )
    method: SourceMethod = Field(
        SourceMethod.Snapshot,
        description="Snapshot: restore a snapshot (copied across regions when needed). "
        "PointInTime: restore source.clusterIdentifier as of source.restoreTime. Clone: a "
        "copy-on-write clone of source.clusterIdentifier. PointInTime and Clone need "
        "target.region equal to source.region.",
    )
    # PointInTime only: an RFC 3339 UTC time, or "latest" (UseLatestRestorableTime).
    restore_time: RestoreTime | None = Field(
        None,
        description="Only with method PointInTime: an RFC 3339 UTC time such as "
        "2026-11-26T03:00:00Z within the source's restorable window, or 'latest' (its "
        "latest restorable time).",
    )
    snapshot_identifier: SourceSnapshotId | None = Field(
        None,
        description="An exact snapshot: a manual name, an automated "
        "rds:<cluster>-YYYY-MM-DD-HH-MM name, or a cluster snapshot ARN in source.region. "
        "Not with clusterIdentifier.",
    )
    cluster_identifier: ClusterId | None = Field(
        None,
        description="The source cluster: its snapshot of source.date is restored. "
        "Not with snapshotIdentifier.",
    )
    # None means "yesterday (UTC)", the seed's rule; resolved when a run starts.
    date: SnapshotDate | None = Field(
        None,
        description="UTC date YYYY-MM-DD of the snapshot to restore, or 'latest'. Only with "
        "clusterIdentifier; unset means yesterday (UTC) when the run starts.",
    )
    snapshot_type: SnapshotType = Field(
        SnapshotType.automated, description="Which snapshots of the cluster to consider."
    )
    wait_timeout: Duration = Field(
        "1h",
        description="How long to wait for the snapshot to exist and be available, e.g. 90m or 2h.",
    )
    # Another AWS account's snapshot (docs/cross-account.md): the role to assume there.
    role_arn: RoleArn | None = Field(
        None,
        description="The snapshot is in another AWS account: an IAM role there that the "
        "operator assumes to find and share it (docs/cross-account.md). It must match the "
        "operator's AURORA_RESTORE_SOURCE_ROLE_ARNS.",
    )
    external_id: ExternalId | None = Field(
        None, description="Only with roleArn: the external id the role's trust policy requires."
    )

    @property
    def from_cluster(self) -> bool:
        """PointInTime and Clone make the new cluster from the source cluster, not a snapshot."""
        return self.method is not SourceMethod.Snapshot

    @model_validator(mode="after")
    @cel(
        rule(
            "!has(self.externalId) || has(self.roleArn)",
            "externalId only applies with roleArn",
            ".externalId",
        ),
        rule(
            "!has(self.roleArn) || !has(self.method) || self.method == 'Snapshot'",
            "roleArn only applies to method Snapshot: a cluster in another account is "
            "restored through a snapshot it shares",
            ".roleArn",
        ),
        rule(
            "!has(self.roleArn) || !has(self.clusterIdentifier)"
            " || (has(self.method) && self.method != 'Snapshot')"
            " || (has(self.snapshotType) && self.snapshotType != 'automated')",
            "with roleArn, snapshotType must be manual or any: AWS shares only manual "
            "snapshots with another account",
            ".snapshotType",
        ),
        rule(
            "has(self.restoreTime) == (has(self.method) && self.method == 'PointInTime')",
            "restoreTime is required with method PointInTime and only applies to it",
            ".restoreTime",
        ),
        rule(
            "!has(self.method) || self.method == 'Snapshot' || (!has(self.snapshotIdentifier)"
            " && !has(self.date) && (!has(self.snapshotType)"
            " || self.snapshotType == 'automated'))",
            "snapshotIdentifier, date and snapshotType only apply to method Snapshot; "
            "PointInTime and Clone take clusterIdentifier",
        ),
        one_of(
            "snapshotIdentifier",
            "clusterIdentifier",
            "set exactly one of snapshotIdentifier (an exact snapshot) or "
            "clusterIdentifier (pick that cluster's snapshot by date)",
        ),
        rule(
            "!has(self.snapshotIdentifier) || !has(self.date)",
            "date only applies with clusterIdentifier, not snapshotIdentifier",
            ".date",
        ),
        rule(
            "!has(self.snapshotIdentifier) || !self.snapshotIdentifier.startsWith('arn:')"
            " || self.snapshotIdentifier.contains(':rds:' + self.region + ':')",
            "snapshotIdentifier is an ARN in another region than source.region; "
            "give the snapshot's own region",
            ".snapshotIdentifier",
        ),
    )
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
    kms_key_id: KmsKeyId | None = Field(
        None,
        description="KMS key in target.region for the copy; required when the snapshot is "
        "encrypted. Only when target.region differs from source.region.",
    )
    target_snapshot_identifier: SnapshotId | None = Field(
        None,
        description="Name of the copy; default derived from the snapshot and the operation id.",
    )


class ExistingCluster(StrEnum):
    Fail = "Fail"
    # The seed's delete-rds: delete the old cluster, then restore (down until restored).
    Replace = "Replace"
    # Restore alongside under a temporary name, then rename (down only for the renames).
    Swap = "Swap"


MAX_TAGS = 40
# Map keys have no schema of their own in a CRD, so their rules are CEL.
TAG_RULES = (
    rule(
        f"self.all(k, k.matches('{TAG_KEY.pattern}'))",
        "tag keys must be 1-128 letters, digits, spaces or _.:/=+-@",
    ),
    rule("self.all(k, !k.lowerAscii().startsWith('aws:'))", "tag keys must not start with aws:"),
    rule(
        f"self.all(k, !k.startsWith('{PREFIX}'))",
        f"tag keys starting with {PREFIX} are reserved for the operator",
    ),
)


def _tags(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags are allowed (got {len(value)})")
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
    region: Region = Field(description="AWS region of the restored cluster.")
    cluster_identifier: ClusterId = Field(
        description="DB cluster identifier to restore into (stored lower-case by AWS)."
    )
    existing_cluster: ExistingCluster = Field(
        ExistingCluster.Fail,
        description="What to do when the target cluster already exists: Fail, Replace it "
        "(delete, then restore), or Swap (restore alongside under a temporary name, then "
        "rename the old cluster away and the new one into its name, then delete the old "
        "one). Replace and Swap only touch clusters this operator manages or that its "
        "replaceAllowed patterns allow, never with deletion protection.",
    )
    instance_class: InstanceClass = Field(
        "db.r6g.large", description="DB instance class of the instances."
    )
    # Strict: Kubernetes rejects "2" or true for an integer, so the model must not coerce them.
    instances: int = Field(
        1,
        ge=0,
        le=16,
        strict=True,
        description="Number of DB instances to create in the cluster (0-16).",
    )
    db_subnet_group_name: SubnetGroup | None = Field(
        None, description="Existing DB subnet group. Not with vpcId/subnetIds."
    )
    vpc_id: VpcId | None = Field(
        None, description="VPC for a subnet group the operator creates; goes with subnetIds."
    )
    subnet_ids: Annotated[list[SubnetId], Field(max_length=20), Crd(minItems=2)] | None = Field(
        None, description="At least 2 subnets of vpcId (Aurora spans two zones)."
    )
    vpc_security_group_ids: list[SecurityGroupId] = Field(
        [], max_length=5, description="Security groups of the cluster."
    )
    engine_version: EngineVersion | None = Field(
        None,
        description="Aurora PostgreSQL engine version, e.g. 15.4; default the snapshot's. Not "
        "with source.method PointInTime or Clone (they keep the source's version).",
    )
    kms_key_id: KmsKeyId | None = Field(
        None, description="KMS key for the restored cluster's storage."
    )
    db_cluster_parameter_group_name: ParameterGroup | None = Field(
        None, description="DB cluster parameter group of the restored cluster."
    )
    deletion_protection: StrictBool = Field(
        False, description="Turn on deletion protection on the restored cluster."
    )
    final_snapshot: StrictBool = Field(
        False, description="Take a final snapshot when this operator deletes the cluster."
    )
    tags: Annotated[
        dict[str, TagValue], AfterValidator(_tags), Crd(*TAG_RULES, maxProperties=MAX_TAGS)
    ] = Field(
        {},
        description=f"AWS tags for the restored cluster (at most {MAX_TAGS}; the {PREFIX} "
        "prefix is the operator's).",
    )

    @model_validator(mode="after")
    @cel(
        rule(
            "!has(self.dbSubnetGroupName) || (!has(self.vpcId) && !has(self.subnetIds))",
            "set either dbSubnetGroupName or vpcId with subnetIds, not both",
        ),
        rule(
            "has(self.vpcId) == has(self.subnetIds)",
            "vpcId and subnetIds go together: set both or neither",
        ),
    )
    def _network(self) -> Target:
        if self.db_subnet_group_name and (self.vpc_id or self.subnet_ids):
            raise ValueError("set either dbSubnetGroupName or vpcId with subnetIds, not both")
        if bool(self.vpc_id) != bool(self.subnet_ids):
            raise ValueError("vpcId and subnetIds go together: set both or neither")
        if self.subnet_ids is not None and len(self.subnet_ids) < 2:
            raise ValueError("subnetIds needs at least 2 subnets (Aurora spans two zones)")
        return self


class SecretKeyRef(Model):
    name: K8sName = Field(description="Name of the Secret, in the resource's namespace.")
    key: K8sKey = Field("password", description="Key in the Secret that holds the password.")


class MasterPassword(Model):
    secret_ref: SecretKeyRef | None = Field(None, description="A key of a Kubernetes Secret.")
    secrets_manager_secret_id: SecretsManagerId | None = Field(
        None, description="An AWS Secrets Manager secret name or ARN."
    )

    _one_source = _exactly_one("secret_ref", "secrets_manager_secret_id")


class Privileges(StrEnum):
    readonly = "readonly"
    readwrite = "readwrite"
    owner = "owner"


class User(Model):
    """A database role to create or update."""

    name: Annotated[PgUser, Crd(PG_USER_RULE)] = Field(
        description="Role name: 1-63 letters, digits, '_', '$' or '-', starting with a letter "
        "or '_'; not postgres, public, pg_* or rds*."
    )
    password_secret_ref: SecretKeyRef | None = Field(
        None, description="The role's password in a Kubernetes Secret."
    )
    password_secrets_manager_secret_id: SecretsManagerId | None = Field(
        None, description="The role's password in AWS Secrets Manager."
    )
    privileges: Privileges = Field(
        Privileges.readonly, description="What the role may do in its databases."
    )
    databases: list[Annotated[PgDatabase, Field(description="Database name.")]] = Field(
        [], max_length=64, description="Databases the privileges apply to."
    )

    _one_source = _exactly_one(
        "password_secret_ref",
        "password_secrets_manager_secret_id",
        whose=lambda user: f"user {user.name!r}: ",
    )


class ConfigMapKeyRef(Model):
    name: K8sName = Field(description="Name of the ConfigMap.")
    key: K8sKey = Field(description="Key holding the SQL.")


class Sql(Model):
    """A post-restore SQL script, e.g. masking personal data."""

    config_map_ref: ConfigMapKeyRef | None = Field(
        None, description="A key of a ConfigMap in the resource's namespace."
    )
    inline: str | None = Field(None, min_length=1, max_length=262144, description="The SQL itself.")
    database: PgDatabase = Field("postgres", description="Database to run it in.")

    _one_source = _exactly_one("config_map_ref", "inline")


class ArchivePolicy(StrEnum):
    Delete = "Delete"
    Retain = "Retain"
    Tag = "Tag"


class Archive(Model):
    policy: ArchivePolicy = Field(
        ArchivePolicy.Delete, description="Delete the copy, Retain it, or Tag it as archived."
    )


class NotifyOn(StrEnum):
    Completed = "Completed"
    Failed = "Failed"


def _no_repeats(value: list[NotifyOn]) -> list[NotifyOn]:
    # The CRD declares events as a set (x-kubernetes-list-type: set); a repeat is a mistake.
    if len(set(value)) != len(value):
        raise ValueError("lists an event more than once")
    return value


class Notification(Model):
    sns_topic_arn: SnsTopicArn | None = Field(
        None, description="SNS topic ARN; unset means no notification."
    )
    events: Annotated[
        list[Annotated[NotifyOn, Field(description="Event.")]],
        AfterValidator(_no_repeats),
        Crd(**{"x-kubernetes-list-type": "set"}),
    ] = Field(
        [NotifyOn.Completed, NotifyOn.Failed],
        max_length=2,
        description="Which endings to notify.",
    )


class ConnectionSecret(Model):
    name: K8sName = Field(description="Name of the Secret, in the resource's namespace.")
    database: PgDatabase = Field("postgres", description="Database for dbname and uri.")
    # One of spec.users: applications get their own role, not the master (superuser).
    user: PgUser | None = Field(
        None,
        description="One of spec.users whose credentials the Secret holds instead of the "
        "master's (the default).",
    )


class DeletionPolicy(StrEnum):
    Retain = "Retain"
    Delete = "Delete"


class Timeouts(Model):
    total: Duration = Field("6h", description="Limit for a whole run, e.g. 6h.")
    # Any one step; a copy of a large snapshot can take hours, a stuck one forever.
    step: Duration = Field("3h", description="Limit for any one step, e.g. 3h.")
    preflight: Duration = Field(
        "10m",
        description="How long the preflight waits for a referenced Secret or ConfigMap, e.g. 10m.",
    )


class AuroraRestoreSpec(Model):
    """What to restore, where, and what to set up afterwards."""

    source: Source = Field(
        description="Where the data comes from: an exact snapshot, a cluster whose snapshot is "
        "chosen by date, or (method PointInTime or Clone) the source cluster itself."
    )
    copy_: Copy = Field(
        default_factory=Copy,
        alias="copy",
        description="The cross-region copy of the snapshot (only used when the regions differ).",
    )
    target: Target = Field(description="The cluster to create from the snapshot.")
    master_password: MasterPassword | None = Field(
        None,
        description="Where the new master password is; it is set on the restored cluster, "
        "which otherwise keeps the source's.",
    )
    users: Annotated[
        list[User],
        Crd(
            rule(
                "self.all(u, self.exists_one(v, v.name.lowerAscii() == u.name.lowerAscii()))",
                "users lists a name more than once",
            )
        ),
    ] = Field(
        [], max_length=100, description="Database roles to create or update after the restore."
    )
    sql: list[Sql] = Field([], max_length=50, description="Post-restore SQL, run in order.")
    archive: Archive = Field(
        default_factory=Archive,
        description="What happens to the cross-region copy after the restore. The source "
        "snapshot is never modified.",
    )
    notification: Notification = Field(
        default_factory=Notification, description="SNS notification when a run ends."
    )
    connection_secret: ConnectionSecret | None = Field(
        None,
        description="A Secret to write with host, port, username, password, dbname and uri.",
    )
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.Retain,
        description="Retain or Delete the restored cluster when this resource is deleted.",
    )
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Time limits of a run.")

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
    @cel(
        rule(
            "!has(self.source.clusterIdentifier) || self.source.region != self.target.region"
            " || self.source.clusterIdentifier.lowerAscii() != " + _TARGET,
            "target.clusterIdentifier is the source cluster itself in the same region; "
            "restore to a different cluster",
            ".target.clusterIdentifier",
        ),
        # An automated snapshot "rds:<cluster>-YYYY-MM-DD-HH-MM" (21 characters besides the
        # cluster), bare or as the name inside an ARN (whose ":cluster-snapshot:rds:" part
        # adds 22 + 1 + 16 characters after its index), must not come from the target.
        rule(
            f"!has({_SNAP}) || self.source.region != self.target.region"
            f" || !({_SNAP}.startsWith('rds:' + {_TARGET} + '-')"
            f" && size({_SNAP}) == size(self.target.clusterIdentifier) + 21)"
            f" && !({_SNAP}.startsWith('arn:')"
            f" && {_SNAP}.indexOf(':cluster-snapshot:rds:' + {_TARGET} + '-') >= 0"
            f" && {_SNAP}.indexOf(':cluster-snapshot:rds:' + {_TARGET} + '-')"
            f" + size(self.target.clusterIdentifier) + 39 == size({_SNAP}))",
            "target.clusterIdentifier is the cluster the source snapshot was taken from; "
            "restore to a different cluster",
            ".target.clusterIdentifier",
        ),
        # region_problem and spec_problem (source_method.py): PointInTime and Clone make the
        # new cluster from the source cluster: same region, no copy, the source's version.
        rule(
            f"{_SNAPSHOT_METHOD} || self.source.region == self.target.region",
            "source.method PointInTime and Clone need target.region equal to source.region: "
            "only a snapshot is copied across regions",
            ".target.region",
        ),
        rule(
            f"{_SNAPSHOT_METHOD} || !has(self.copy) || !has(self.copy.targetSnapshotIdentifier)",
            "copy does not apply to source.method PointInTime or Clone: no snapshot is copied",
            ".copy",
        ),
        rule(
            f"{_SNAPSHOT_METHOD} || !has(self.target.engineVersion)",
            "target.engineVersion does not apply to source.method PointInTime or Clone: the "
            "new cluster runs the source cluster's engine version",
            ".target.engineVersion",
        ),
        rule(
            "!has(self.copy) || !has(self.copy.kmsKeyId)"
            " || self.source.region != self.target.region || has(self.source.roleArn)",
            "copy.kmsKeyId only applies when target.region differs from source.region "
            "or source.roleArn is set; remove it or use target.kmsKeyId",
            ".copy.kmsKeyId",
        ),
        rule(
            "has(self.masterPassword) || ((!has(self.users) || size(self.users) == 0)"
            " && (!has(self.sql) || size(self.sql) == 0) && !has(self.connectionSecret))",
            "masterPassword is required when users, sql or connectionSecret are set: the "
            "restored cluster keeps the source's master password",
        ),
        rule(
            "!has(self.connectionSecret) || !has(self.connectionSecret.user)"
            " || (has(self.users) && self.users.exists(u, u.name == self.connectionSecret.user))",
            "connectionSecret.user must be the name of one of spec.users",
            ".connectionSecret.user",
        ),
    )
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


M = TypeVar("M", bound=BaseModel)


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


def _bounded(problems: list[str]) -> list[str]:
    shown = [_clip(problem) for problem in problems]
    if len(shown) > MAX_PROBLEMS:
        shown = shown[:MAX_PROBLEMS] + [f"... and {len(shown) - MAX_PROBLEMS} more problems"]
    return shown


def parse_spec(model: type[M], document: Any) -> M:
    """Parse a spec mapping as ``model``; every problem names its field and what is allowed,
    clipped and counted (a hostile spec must not fill the status with its own values)."""
    if not isinstance(document, dict):
        raise SpecError(["spec must be a mapping"])
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = [f"{_field_path(err['loc'])}: {_sentence(err)}" for err in exc.errors()]
        raise SpecError(_bounded(problems)) from None


def validate_spec(document: Any) -> AuroraRestoreSpec:
    """Parse a spec mapping; every problem names its field and what is allowed."""
    return parse_spec(AuroraRestoreSpec, document)


def resolve_snapshot_date(spec: AuroraRestoreSpec, now: dt.datetime) -> str | None:
    """The seed's default is yesterday's (UTC) snapshot, fixed when a run starts."""
    if spec.source.cluster_identifier is None or spec.source.from_cluster:
        return None
    if spec.source.date is not None:
        return spec.source.date
    return (now.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
