"""What a step sees (the context) and what it answers (the result)."""

from __future__ import annotations

import contextvars
import datetime as dt
import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..api.names import MANAGED_BY_TAG, MANAGED_BY_VALUE, OPERATION_TAG, OWNER_TAG
from ..api.restore import AuroraRestoreSpec
from ..api.status import AuroraRestoreStatus
from .ports import Ports


@dataclass(frozen=True)
class ReadPolicy:
    """How fresh an adapter's answers must be; set by the engine around each step.

    A status check (a step that only waits on AWS) may be answered from a short-lived cache
    shared by all restores. The other steps read before they create or delete: their
    answers must come from AWS after ``since`` (``time.monotonic()`` when the tick
    started), or after the call itself when ``since`` is None.
    """

    cached: bool = False
    since: float | None = None
    # Filled in by adapters during a status check (see Followed).
    followed: Followed | None = None


class Deferred(Exception):
    """An adapter declines to make a call now because the client-side budget of AWS calls
    is spent; the step runs again after ``after`` seconds. Not a failure and not a retry:
    nothing was sent, and steps adopt what an earlier attempt started."""

    def __init__(self, after: float, message: str = "Waiting for the AWS call budget") -> None:
        super().__init__(message)
        self.after = after
        self.message = message


@dataclass
class Followed:
    """Whether something else will look at what a status check waits on, and wake the
    restore when it changes: the operator's region-wide refresh of batched checks. Then the
    restore need not look itself until POLL_INTERVAL. ``within``: the longest of the times
    (seconds) within which each object will be looked at; ``unfollowed``: some object
    will not be."""

    within: float | None = None
    unfollowed: bool = False

    def note(self, within: float | None) -> None:
        if within is None:
            self.unfollowed = True
        else:
            self.within = within if self.within is None else max(self.within, within)

    @property
    def seconds(self) -> float | None:
        return None if self.unfollowed else self.within


# Unset (None) outside the engine: every read asks AWS.
READS: contextvars.ContextVar[ReadPolicy | None] = contextvars.ContextVar(
    "aurora_restore_reads", default=None
)


@dataclass(frozen=True)
class PipelineConfig:
    """The operator settings the pipeline's decisions depend on."""

    replace_allowed: tuple[str, ...] = ()
    # Glob patterns of the roles source.roleArn may name (AURORA_RESTORE_SOURCE_ROLE_ARNS).
    source_role_arns: tuple[str, ...] = ()
    default_topic_arn: str | None = None
    # How soon to look again while AWS works, and how long to back off on transient errors.
    poll_interval: float = 30.0
    poll_floor: float = 2.0
    # While AWS works: look again after this fraction of the time waited so far.
    poll_backoff: float = 0.25
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    max_retries: int = 8
    history_limit: int = 5

    def replace_allowed_for(self, cluster_identifier: str) -> bool:
        return any(fnmatch.fnmatchcase(cluster_identifier, p) for p in self.replace_allowed)

    def source_role_allowed(self, role_arn: str) -> bool:
        return any(fnmatch.fnmatchcase(role_arn, p) for p in self.source_role_arns)

    def look_again(
        self, waited: float, progress: int | None = None, followed: float | None = None
    ) -> float:
        """When to check again on an AWS operation that has run ``waited`` seconds: soon
        after it starts, then backing off; when it reports ``progress`` (percent), when it
        should be done. Never sooner than the floor, never later than the interval. When
        something else looks within ``followed`` seconds and wakes the restore on a change,
        and that is no later than the restore would look, the interval is enough."""
        if progress is not None and 10 <= progress < 100:
            # Whole percents: below 10 % the estimate is too coarse to trust. Aim early:
            # looking too soon costs one cheap check, too late costs latency.
            wait = waited * (100 - progress) / progress * 0.75
        else:
            wait = waited * self.poll_backoff
        wait = max(self.poll_floor, min(self.poll_interval, wait))
        if followed is not None and followed <= wait:
            return self.poll_interval
        return wait


@dataclass
class Context:
    spec: AuroraRestoreSpec
    status: AuroraRestoreStatus
    ports: Ports
    config: PipelineConfig
    now: dt.datetime
    # "namespace/name" of the resource (or of the schedule that owns it): tagged on what the
    # operator creates, so that one namespace can never replace another's cluster.
    owner: str
    # Secret values read during this tick, scrubbed from every message that leaves it.
    secrets_seen: set[str] = field(default_factory=set)

    @property
    def operation_id(self) -> str:
        assert self.status.operation_id, "a run has an operation id before any step"
        return self.status.operation_id

    def remember_secret(self, value: str) -> str:
        if value:
            self.secrets_seen.add(value)
        return value

    def tags(self) -> dict[str, str]:
        """The tags on everything the operator creates."""
        return {
            **self.spec.target.tags,
            MANAGED_BY_TAG: MANAGED_BY_VALUE,
            OPERATION_TAG: self.operation_id,
            OWNER_TAG: self.owner,
        }

    def copy_identifier(self) -> str:
        return self.spec.copy_.target_snapshot_identifier or copy_identifier(
            self.spec.target.cluster_identifier, self.operation_id
        )

    def restore_identifier(self) -> str:
        """Where the snapshot is restored: the target, or with existingCluster: Swap over an
        existing cluster, the temporary identifier (renamed to the target by swap-clusters)."""
        swap = self.status.swap
        return swap.temporary if swap else self.spec.target.cluster_identifier

    def instance_identifiers(self) -> list[str]:
        # Named after the cluster they are created in: instance names are unique in a
        # region, and in a swap the old cluster's instances still hold the target's names.
        cluster = self.restore_identifier()
        return [f"{cluster}-{n}" for n in range(1, self.spec.target.instances + 1)]

    def iso_now(self) -> str:
        return iso(self.now)


@dataclass(frozen=True)
class StepResult:
    """``done`` moves on to the next step; otherwise look again after ``wait`` seconds."""

    done: bool
    message: str
    wait: float | None = None
    skipped: bool = False
    # A short CamelCase reason for the event posted when this result changes the phase
    # (for a waiting result: why it waits, e.g. WaitingForSecret).
    reason: str | None = None
    # False when the step decided without asking AWS, so the next one may run in this tick.
    used_aws: bool = True
    details: Mapping[str, object] = field(default_factory=dict)

    @staticmethod
    def finished(
        message: str, reason: str | None = None, used_aws: bool = True, **details: object
    ) -> StepResult:
        return StepResult(True, message, reason=reason, used_aws=used_aws, details=details)

    @staticmethod
    def skip(message: str, reason: str | None = None) -> StepResult:
        return StepResult(True, message, skipped=True, reason=reason, used_aws=False)

    @staticmethod
    def waiting(
        message: str, wait: float | None = None, reason: str | None = None, **details: object
    ) -> StepResult:
        """``reason``: why the run waits, shown as the reason of the Progressing condition."""
        return StepResult(False, message, wait=wait, reason=reason, details=details)


def operation_id(uid: str, generation: int, rerun_token: str | None = None) -> str:
    """Deterministic, so that a run whose first status write was lost keeps its AWS names."""
    digest = hashlib.sha256(f"{uid}/{generation}/{rerun_token or ''}".encode()).hexdigest()
    return f"op-{digest[:12]}"


def copy_identifier(cluster_identifier: str, op_id: str) -> str:
    return f"{cluster_identifier}-{op_id}"


# RDS identifiers have at most 63 characters; instances are named "<cluster>-<n>" (n <= 16).
SWAP_BASE_MAX = 63 - len("-16") - len("-op-123456789012-new")


def swap_identifiers(cluster_identifier: str, op_id: str) -> tuple[str, str]:
    """(temporary, retired) identifiers of a swap: derived from the operation id, so that a
    restarted operator finds the same names, and valid for RDS (a letter first, no double
    or trailing hyphen, at most 60 characters so that instance names fit too)."""
    base = cluster_identifier[:SWAP_BASE_MAX].rstrip("-")
    return f"{base}-{op_id}-new", f"{base}-{op_id}-old"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(moment: dt.datetime) -> str:
    """The records' timestamps (audit sort key, state item): UTC, microseconds, ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_time(value: object) -> dt.datetime | None:
    """A time read from an object's status (RFC 3339; without a zone, UTC), or None when it
    is absent or not a time: what is shown or counted from it is then left out."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = parse_iso(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def managed_by_us(tags: Mapping[str, str]) -> bool:
    return tags.get(MANAGED_BY_TAG) == MANAGED_BY_VALUE
