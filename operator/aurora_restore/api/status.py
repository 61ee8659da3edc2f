"""The AuroraRestore status: what the operator writes, and its vocabulary (phases, step
states, error types). Mutable models: the pipeline evolves a copy of them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


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
