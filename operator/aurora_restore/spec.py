"""The AuroraRestore resource contract: spec and status models, defaults and validation.

This module is the functional core's vocabulary. It imports pydantic (and durationpy for
durations) only, so that the CRD schema tests, the pipeline and the CLI can share it
without AWS or Kubernetes. The naming and format rules the models use live in
``rules.py`` (re-exported here); the source methods' rules in ``source_method.py``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

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

from .rules import (  # noqa: F401  (part of the contract, re-exported)
    _A,
    _AWS_ID,
    _AWS_ID_RULE,
    _PARTITION,
    _REGION_RE,
    AUTOMATED_SNAPSHOT,
    AWS_ID,
    DURATION,
    ENGINE_VERSION,
    EXTERNAL_ID,
    INSTANCE_CLASS,
    K8S_KEY,
    K8S_NAME,
    KMS_KEY,
    PG_NAME,
    REGION,
    RESERVED_PG_USERS,
    ROLE_ARN,
    SECRETS_MANAGER_ID,
    SG_ID,
    SNAPSHOT_ARN,
    SNS_TOPIC_ARN,
    SUBNET_GROUP,
    SUBNET_ID,
    TAG_KEY,
    TAG_VALUE,
    VPC_ID,
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
    _duration,
    _pattern,
    _pg_user,
    _source_snapshot_name,
    parse_duration,
    validate_cluster_id,
    validate_region,
    validate_snapshot_id,
    validate_source_snapshot_id,
)
from .source_method import (  # noqa: F401  (part of the contract, re-exported)
    METHOD_LABELS,
    RESTORE_TIME,
    SourceMethod,
    cross_account_problem,
    parse_restore_time,
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
        if key.startswith("dbrestore.io/"):
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


# --- status -----------------------------------------------------------------------------


class Phase(StrEnum):
    Pending = "Pending"
    CheckingSnapshot = "CheckingSnapshot"
    CopyingSnapshot = "CopyingSnapshot"
    DeletingExistingCluster = "DeletingExistingCluster"
    RestoringCluster = "RestoringCluster"
    CreatingInstances = "CreatingInstances"
    ConfiguringDatabase = "ConfiguringDatabase"
    # existingCluster: Swap only: the two renames, then the old cluster's deletion.
    RetiringExistingCluster = "RetiringExistingCluster"
    SwappingClusters = "SwappingClusters"
    DeletingRetiredCluster = "DeletingRetiredCluster"
    ArchivingSnapshot = "ArchivingSnapshot"
    Completed = "Completed"
    Failed = "Failed"

    @property
    def finished(self) -> bool:
        return self in (Phase.Completed, Phase.Failed)


class ErrorType(StrEnum):
    ValidationError = "ValidationError"
    SnapshotNotFound = "SnapshotNotFound"
    SafetyViolation = "SafetyViolation"
    AWSError = "AWSError"
    DatabaseError = "DatabaseError"
    Timeout = "Timeout"


class StepState(StrEnum):
    Pending = "Pending"
    Running = "Running"
    Succeeded = "Succeeded"
    Skipped = "Skipped"
    Failed = "Failed"


STEP_NAMES: tuple[str, ...] = (
    "snapshot-check",
    "copy-snapshot",
    "check-copy-status",
    "delete-rds",
    "check-delete-status",
    "restore-snapshot",
    "check-restore-status",
    "setup-db-users",
    # Not seed steps: existingCluster: Swap (docs/resource.md). The seed has no rename.
    "swap-clusters",
    "delete-retired-cluster",
    "archive-snapshot",
    # Not a seed step either: after a failed Swap, puts the old cluster back and removes
    # the temporary one, before the notification.
    "undo-swap",
    "sns-notification",
)


class StatusModel(BaseModel):
    """Status parts are mutable: the pipeline evolves a copy of them."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", validate_assignment=False
    )


class ErrorInfo(StatusModel):
    type: ErrorType
    step: str
    message: str
    code: str | None = None


class StepStatus(StatusModel):
    name: str
    state: StepState = StepState.Pending
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    message: str | None = None


class SnapshotStatus(StatusModel):
    identifier: str
    arn: str
    region: str
    status: str | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    cluster_identifier: str | None = None
    created_at: str | None = None
    # Cross-account: the target account the snapshot is shared with, and how
    # (SHARE_STATES in pipeline/steps/_cross_account.py).
    shared_with: str | None = None
    share: str | None = None


class SourceStatus(StatusModel):
    """How the new cluster was made, and as of when."""

    method: str
    region: str
    cluster_identifier: str | None = None
    # The time whose data the new cluster holds: the snapshot's creation, the requested
    # restoreTime, the source's LatestRestorableTime for "latest", the call time of a clone.
    restore_time: str | None = None
    use_latest_restorable_time: bool = False
    restore_type: str | None = None
    earliest_restorable_time: str | None = None
    latest_restorable_time: str | None = None


class CopyStatus(StatusModel):
    identifier: str
    region: str
    arn: str | None = None
    status: str | None = None
    percent_progress: int = 0
    archived: str | None = None


class InstanceStatus(StatusModel):
    identifier: str
    status: str | None = None


class ClusterStatus(StatusModel):
    identifier: str
    region: str
    status: str | None = None
    arn: str | None = None
    endpoint: str | None = None
    reader_endpoint: str | None = None
    port: int | None = None
    master_username: str | None = None
    master_password_reset: bool = False
    instances: list[InstanceStatus] = []


class ReplacedCluster(StatusModel):
    """The cluster that existed before and was deleted, kept for the record."""

    identifier: str
    arn: str | None = None
    resource_id: str | None = None
    instances: list[str] = []
    deletion_started_at: str | None = None


class SwapStatus(StatusModel):
    """existingCluster: Swap over an existing cluster: the names involved and when each
    rename happened. Who holds which name is always read back from AWS (resource id and
    operation-id tag); this is the record, and the old cluster's identity."""

    target: str
    temporary: str
    retired: str
    # The old cluster, as found by the preflight: renames and deletes check it is still it.
    old_resource_id: str | None = None
    old_arn: str | None = None
    old_instances: list[str] = []
    retire_requested_at: str | None = None
    retire_finished_at: str | None = None
    swap_requested_at: str | None = None
    swap_finished_at: str | None = None
    # From the old cluster's rename request until the new one is available as the target.
    downtime_seconds: float | None = None
    # After a failure: what undo-swap did (renamed-back, temporary-deleted, kept).
    undone: str | None = None


class Condition(StatusModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    last_transition_time: str
    observed_generation: int | None = None


class HistoryEntry(StatusModel):
    operation_id: str
    phase: Phase
    started_at: str | None = None
    completed_at: str | None = None
    message: str | None = None
    snapshot: str | None = None


class AuroraRestoreStatus(StatusModel):
    phase: Phase = Phase.Pending
    operation_id: str | None = None
    observed_generation: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    message: str | None = None
    error: ErrorInfo | None = None
    # The UTC date whose snapshot is wanted, fixed when the run starts so that a run
    # crossing midnight keeps looking for the same day.
    snapshot_date: str | None = None
    snapshot: SnapshotStatus | None = None
    source: SourceStatus | None = None
    copy_: CopyStatus | None = Field(default=None, alias="copy")
    replaced: ReplacedCluster | None = None
    swap: SwapStatus | None = None
    cluster: ClusterStatus | None = None
    steps: list[StepStatus] = []
    # Post-restore SQL scripts already committed, so a retry does not run them twice.
    sql_applied: int = 0
    retries: int = 0
    # When the preflight's one-time checks (target, network, KMS, references) passed.
    preflight_passed_at: str | None = None
    # The spec this run executes: a spec change during a run waits for the run to end.
    run_spec: dict[str, Any] | None = None
    # HMAC of runSpec with the resource's uid and generation (pipeline/guards.py): a status
    # patch cannot change the frozen spec without the operator's key.
    run_spec_digest: str | None = None
    conditions: list[Condition] = []
    history: list[HistoryEntry] = []
    rerun_token: str | None = None

    def step(self, name: str) -> StepStatus:
        for entry in self.steps:
            if entry.name == name:
                return entry
        entry = StepStatus(name=name)
        self.steps.append(entry)
        return entry

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


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
