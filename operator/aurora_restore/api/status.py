"""The AuroraRestore status: what the operator writes, and its vocabulary (phases, step
states, error types). Mutable models: the pipeline evolves a copy of them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .names import RERUN_ANNOTATION
from .schema import Crd


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

    @classmethod
    def mirror(cls, source: object, **values: Any) -> Self:
        """The record of an AWS object (pipeline/ports.py): each of its fields that the
        object has under the same name, then ``values`` for the rest (or to convert)."""
        same = {name: getattr(source, name) for name in cls.model_fields if hasattr(source, name)}
        return cls(**{**same, **values})


# Every time the operator writes is RFC 3339 in UTC (``...Z``), as metav1.Time.
Time = Annotated[str, Crd(format="date-time")]
Generation = Annotated[int, Crd(format="int64")]
Count = Annotated[int, Field(ge=0)]


def unset(description: str) -> Any:
    """An optional status field: absent until the operator writes it."""
    return Field(None, description=description)


class ErrorInfo(StatusModel):
    type: ErrorType = Field(description="Kind of failure.")
    step: str = Field(description="The step that failed.")
    message: str = Field(description="What went wrong.")
    code: str | None = unset("AWS or PostgreSQL error code, when there is one.")


class StepStatus(StatusModel):
    """A pipeline step."""

    name: str = Field(description="Step name, as in the seed pipeline.")
    state: StepState = Field(StepState.Pending, description="Step state.")
    started_at: Time | None = unset("When the step started (RFC 3339).")
    finished_at: Time | None = unset("When the step ended (RFC 3339).")
    attempts: Count = Field(0, description="How many times it was tried.")
    message: str | None = unset("What it did or why it waits.")


class SnapshotStatus(StatusModel):
    identifier: str = Field(description="Snapshot identifier.")
    arn: str = Field(description="Snapshot ARN.")
    region: str = Field(description="Snapshot region.")
    status: str | None = unset("AWS status, e.g. available.")
    encrypted: bool = Field(False, description="Whether it is encrypted.")
    kms_key_id: str | None = unset("Its KMS key.")
    engine: str | None = unset("Engine.")
    engine_version: str | None = unset("Engine version.")
    cluster_identifier: str | None = unset("Cluster it was taken from.")
    created_at: Time | None = unset("When it was taken (RFC 3339).")
    # Cross-account: the target account the snapshot is shared with, and how
    # (SHARE_STATES in pipeline/steps/_cross_account.py).
    shared_with: str | None = unset("Cross-account: the target account it is shared with.")
    share: str | None = unset(
        "Cross-account: adding, added or removed (this run shared it), or existing (it was "
        "shared before; left as it was)."
    )


class SourceStatus(StatusModel):
    method: str = Field(description="Snapshot, PointInTime or Clone.")
    region: str = Field(description="Source region.")
    cluster_identifier: str | None = unset("Source cluster.")
    restore_time: Time | None = unset(
        "The time whose data the new cluster holds (RFC 3339): the snapshot's creation, the "
        "requested time, the resolved time for latest, or when the clone was made."
    )
    use_latest_restorable_time: bool = Field(
        False, description="Whether the restore asked AWS for the latest time."
    )
    restore_type: str | None = unset("full-copy (point in time) or copy-on-write (clone).")
    earliest_restorable_time: Time | None = unset("The source's earliest restorable time.")
    latest_restorable_time: Time | None = unset("The source's latest restorable time.")


class CopyStatus(StatusModel):
    identifier: str = Field(description="Copy identifier.")
    region: str = Field(description="Target region.")
    arn: str | None = unset("Copy ARN.")
    status: str | None = unset("AWS status of the copy.")
    percent_progress: int = Field(0, ge=0, le=100, description="Copy progress.")
    archived: str | None = unset("What the archive step did: deleted, retained or tagged.")


class InstanceStatus(StatusModel):
    """A DB instance."""

    identifier: str = Field(description="Instance identifier.")
    status: str | None = unset("AWS status.")


InstanceId = Annotated[str, Field(description="Instance identifier.")]


class ClusterStatus(StatusModel):
    identifier: str = Field(description="Cluster identifier.")
    region: str = Field(description="Region.")
    status: str | None = unset("AWS status, e.g. available.")
    arn: str | None = unset("Cluster ARN.")
    endpoint: str | None = unset("Writer endpoint.")
    reader_endpoint: str | None = unset("Reader endpoint.")
    port: Annotated[int, Field(ge=0, le=65535)] | None = unset("Port.")
    master_username: str | None = unset("Master user name.")
    master_password_reset: bool = Field(
        False, description="Whether the master password was reset from the spec."
    )
    instances: list[InstanceStatus] = Field([], description="Its DB instances.")


class ReplacedCluster(StatusModel):
    # The cluster that existed before and was deleted, kept for the record.
    identifier: str = Field(description="Cluster identifier.")
    arn: str | None = unset("Cluster ARN.")
    resource_id: str | None = unset(
        "Its AWS resource id, to tell it from a new cluster of the same name."
    )
    instances: list[InstanceId] = Field([], description="Its instances.")
    deletion_started_at: Time | None = unset("When its deletion started (RFC 3339).")


class SwapStatus(StatusModel):
    # existingCluster: Swap over an existing cluster: the names involved and when each
    # rename happened. Who holds which name is always read back from AWS (resource id and
    # operation-id tag); this is the record, and the old cluster's identity.
    target: str = Field(
        description="The target identifier, held by the old cluster until the swap."
    )
    temporary: str = Field(description="Where the new cluster is restored before the swap.")
    retired: str = Field(description="Where the old cluster is renamed to before it is deleted.")
    # The old cluster, as found by the preflight: renames and deletes check it is still it.
    old_resource_id: str | None = unset("The old cluster's AWS resource id.")
    old_arn: str | None = unset("The old cluster's ARN before the swap.")
    old_instances: list[InstanceId] = Field([], description="The old cluster's instances.")
    retire_requested_at: Time | None = unset("When the old cluster's rename was sent (RFC 3339).")
    retire_finished_at: Time | None = unset("When it was available as retired (RFC 3339).")
    swap_requested_at: Time | None = unset("When the new cluster's rename was sent (RFC 3339).")
    swap_finished_at: Time | None = unset("When it was available as the target (RFC 3339).")
    # From the old cluster's rename request until the new one is available as the target.
    downtime_seconds: float | None = unset(
        "Seconds from the old cluster's rename request until the new cluster was available "
        "under the target identifier."
    )
    # After a failure: what undo-swap did (renamed-back, temporary-deleted, kept).
    undone: str | None = unset("After a failure, what undo-swap did.")


class Condition(StatusModel):
    """A condition in the Kubernetes convention (metav1.Condition)."""

    type: str = Field(description="Condition type.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word.")
    message: str = Field(description="One human sentence.")
    last_transition_time: Time = Field(description="When status last changed (RFC 3339).")
    observed_generation: Generation | None = unset("Generation the condition was set for.")


def conditions(description: str) -> Any:
    """A list of metav1.Condition, as a list-map keyed by type (what ``kubectl wait``,
    kstatus and server-side apply expect)."""
    return Field([], description=description)


# The list-map's keywords; its items keep their required fields (crd.py).
Conditions = Annotated[
    list[Condition],
    Crd(**{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
]


class HistoryEntry(StatusModel):
    """A past run."""

    operation_id: str = Field(description="Its operation id.")
    phase: Phase = Field(description="How it ended.")
    started_at: Time | None = unset("When it started (RFC 3339).")
    completed_at: Time | None = unset("When it ended (RFC 3339).")
    message: str | None = unset("Its last message.")
    snapshot: str | None = unset("The snapshot it restored.")


class AuroraRestoreStatus(StatusModel):
    """Written by the operator: where the restore is and what it has done."""

    phase: Phase = Field(Phase.Pending, description="Where the run is.")
    operation_id: str | None = unset(
        "Id of the current run (op-...), in every AWS name and record."
    )
    observed_generation: Generation | None = unset("The spec generation this status is about.")
    started_at: Time | None = unset("When the run started (RFC 3339).")
    completed_at: Time | None = unset("When the run ended (RFC 3339).")
    message: str | None = unset("One human sentence about the current state.")
    # Fixed when the run starts so that a run crossing midnight keeps looking for the same day.
    snapshot_date: str | None = unset(
        "The UTC date whose snapshot this run wants, fixed when the run starts."
    )
    error: ErrorInfo | None = unset("Why the run failed.")
    snapshot: SnapshotStatus | None = unset("The source snapshot found.")
    source: SourceStatus | None = unset(
        "How the new cluster was made (source.method), and as of when."
    )
    copy_: CopyStatus | None = Field(None, alias="copy", description="The cross-region copy.")
    replaced: ReplacedCluster | None = unset(
        "The cluster that existed and was deleted (existingCluster: Replace)."
    )
    swap: SwapStatus | None = unset(
        "existingCluster: Swap over an existing cluster: the names and the renames."
    )
    cluster: ClusterStatus | None = unset("The restored cluster.")
    steps: list[StepStatus] = Field(
        [], description="One entry per pipeline step: " + ", ".join(STEP_NAMES) + "."
    )
    sql_applied: Count = Field(
        0, description="How many post-restore SQL scripts have run, so a retry skips them."
    )
    retries: Count = Field(0, description="Retries in a row of the current step's action.")
    preflight_passed_at: Time | None = unset(
        "When the preflight's one-time checks passed (RFC 3339)."
    )
    run_spec: dict[str, Any] | None = unset(
        "The spec the current run executes; a spec change during a run waits for it to end."
    )
    # pipeline/guards.py: a status patch cannot change the frozen spec without the key.
    run_spec_digest: str | None = unset(
        "HMAC of runSpec with the object's uid and generation, made with the operator's key; "
        "a status patch that changes runSpec stops the run (StatusTampered)."
    )
    conditions: Conditions = conditions(
        "Ready, Reconciling and Stalled (kstatus); Progressing mirrors Reconciling and Failed "
        "mirrors Stalled, for kubectl wait."
    )
    history: list[HistoryEntry] = Field([], description="The last runs, newest first.")
    rerun_token: str | None = unset(f"The {RERUN_ANNOTATION} annotation value last acted on.")

    def step(self, name: str) -> StepStatus:
        for entry in self.steps:
            if entry.name == name:
                return entry
        entry = StepStatus(name=name)
        self.steps.append(entry)
        return entry

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
