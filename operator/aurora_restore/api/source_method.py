"""source.method and source.restoreTime: the vocabulary and rules of restoring from the source
cluster itself (PointInTime, Clone) rather than from a snapshot. Part of the resource
contract (``restore.py`` builds on it); pydantic-free, so the models and the CRD renderer
share it."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any


class SourceMethod(StrEnum):
    """How the new cluster is made: from a snapshot, or from the source cluster itself."""

    Snapshot = "Snapshot"
    PointInTime = "PointInTime"
    Clone = "Clone"


# What each method is called in messages.
METHOD_LABELS = {
    SourceMethod.Snapshot: "snapshot restore",
    SourceMethod.PointInTime: "point-in-time restore",
    SourceMethod.Clone: "clone",
}

# RFC 3339 in UTC ("Z"), to the second or finer; the CRD carries the same pattern.
RESTORE_TIME = re.compile(
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?Z$"
)


def validate_restore_time(value: str) -> str:
    """Validator of source.restoreTime: an RFC 3339 UTC time that exists, or ``latest``."""
    if value == "latest":
        return value
    try:
        if not RESTORE_TIME.fullmatch(value):
            raise ValueError
        parse_restore_time(value)
    except ValueError:
        raise ValueError(
            "must be an RFC 3339 UTC time such as 2026-11-26T03:00:00Z, or 'latest' "
            f"(got {value[:40]!r})"
        ) from None
    return value


def parse_restore_time(value: str) -> dt.datetime:
    """A validated ``source.restoreTime`` other than ``latest``, as an aware UTC datetime."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def source_problem(source: Any) -> str | None:
    """The first rule of spec.source that ``method`` breaks, as a sentence, or None."""
    if (source.restore_time is None) == (source.method is SourceMethod.PointInTime):
        return "restoreTime is required with method PointInTime and only applies to it"
    if source.from_cluster and (
        source.snapshot_identifier is not None
        or source.date is not None
        or source.snapshot_type != "automated"
    ):
        return (
            "snapshotIdentifier, date and snapshotType only apply to method Snapshot; "
            "PointInTime and Clone take clusterIdentifier"
        )
    return None


def cross_account_problem(source: Any) -> str | None:
    """The rules of source.roleArn (another account's snapshot, docs/cross-account.md)."""
    if source.external_id is not None and source.role_arn is None:
        return "externalId only applies with roleArn"
    if source.role_arn is None:
        return None
    if source.from_cluster:
        return (
            "roleArn only applies to method Snapshot: a cluster in another account is "
            "restored through a snapshot it shares"
        )
    if source.cluster_identifier is not None and source.snapshot_type.value == "automated":
        # AWS shares manual snapshots only; making one would be a second write there.
        return (
            "with roleArn, snapshotType must be manual or any: AWS shares only manual "
            "snapshots with another account"
        )
    return None


def region_problem(spec: Any) -> str | None:
    """PointInTime and Clone stay in the source's region."""
    if spec.source.from_cluster and spec.cross_region:
        return (
            f"source.method {spec.source.method.value} needs target.region equal to "
            f"source.region ({spec.source.region}, not {spec.target.region}): only a "
            "snapshot is copied across regions"
        )
    return None


def spec_problem(spec: Any) -> str | None:
    """Fields elsewhere in the spec that do not apply to PointInTime and Clone."""
    if spec.source.from_cluster and spec.copy_.target_snapshot_identifier:
        return "copy does not apply to source.method PointInTime or Clone: no snapshot is copied"
    if spec.source.from_cluster and spec.target.engine_version:
        return (
            "target.engineVersion does not apply to source.method PointInTime or Clone: the "
            "new cluster runs the source cluster's engine version"
        )
    return None
