"""The AWS stand-in's RestoreDBClusterToPointInTime, made to behave as AWS does.

moto 5.2 implements the call but, unlike AWS, it:

- restores to any time, also outside the source's restorable window
  (``[EarliestRestorableTime, LatestRestorableTime]``);
- restores from a source cluster in any state (AWS wants it ``available``);
- silently replaces a cluster that already has the new identifier (AWS:
  ``DBClusterAlreadyExistsFault``);
- accepts neither ``RestoreToTime`` nor ``UseLatestRestorableTime``;
- copies the source's deletion protection (AWS defaults to off);
- gives a clone no ``CloneGroupId`` (AWS shares one between a clone and its source);
- counts the source lookup as a describe, advancing "manual" transitions.

Here the call is wrapped to do what AWS does. moto also sets ``EarliestRestorableTime`` to
the cluster's creation, which no API can move back: :func:`set_restorable_window` (the
``/_sandbox/rds/cluster`` control) ages it, so a stand-in cluster can have a history.
"""

from __future__ import annotations

import copy
import functools
import uuid
from datetime import UTC, datetime
from typing import Any

# Attributes of a source cluster that the new one does not take over: moto's own (backend,
# network) and the stand-in's bookkeeping (in-progress state, plain status).
_NOT_COPIED = ("backend", "db_subnet_group", "vpc_security_group_ids", "sandbox_")


def _naive_utc(value: datetime | str) -> datetime:
    """moto keeps naive UTC datetimes; requests may carry aware ones or ISO strings."""
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def install() -> None:
    """Wrap moto's RDSBackend.restore_db_cluster_to_point_in_time (process-wide)."""
    from moto.rds import exceptions as rds_errors
    from moto.rds.models import RDSBackend

    fail = rds_errors.RDSClientError
    original = RDSBackend.restore_db_cluster_to_point_in_time

    @functools.wraps(original)
    def restore_db_cluster_to_point_in_time(
        self: RDSBackend,
        db_cluster_identifier: str,
        source_db_cluster_identifier: str,
        restore_type: str = "full-copy",
        restore_to_time: datetime | str | None = None,
        use_latest_restorable_time: bool = False,
        **overrides: Any,
    ) -> Any:
        if (restore_to_time is None) == (not use_latest_restorable_time):
            raise rds_errors.InvalidParameterCombination(
                "Specify exactly one of RestoreToTime or UseLatestRestorableTime"
            )
        if restore_to_time is not None and restore_type == "copy-on-write":
            raise rds_errors.InvalidParameterCombination(
                "RestoreToTime cannot be specified when RestoreType is copy-on-write"
            )
        source = self.clusters.get(source_db_cluster_identifier)
        if source is None:
            raise rds_errors.DBClusterNotFoundError(source_db_cluster_identifier)
        if source.status != "available":
            raise rds_errors.InvalidDBClusterStateFault(
                f"Source cluster {source_db_cluster_identifier} is {source.status}, not available"
            )
        if db_cluster_identifier in self.clusters:
            raise fail("DBClusterAlreadyExistsFault", "DB cluster already exists")
        if restore_to_time is not None:
            moment = _naive_utc(restore_to_time)
            earliest, latest = source.earliest_restorable_time, source.latest_restorable_time
            if not earliest <= moment <= latest:
                raise fail(
                    "InvalidRestoreFault",
                    f"The requested time {moment.isoformat()} is outside the restorable "
                    f"window {earliest.isoformat()} to {latest.isoformat()}",
                )
        props: dict[str, Any] = {}
        for key, value in source.__dict__.items():
            key = key.lstrip("_")
            if not key.startswith(_NOT_COPIED):
                props[key] = copy.copy(value)
        props.update(overrides)
        props["db_cluster_identifier"] = db_cluster_identifier
        cluster = self.create_db_cluster(props)
        cluster.deletion_protection = bool(overrides.get("deletion_protection") or False)
        if restore_type == "copy-on-write":
            group = source.__dict__.get("clone_group_id") or str(uuid.uuid4())
            source.clone_group_id = cluster.clone_group_id = group
        else:
            cluster.clone_group_id = None
        return cluster

    RDSBackend.restore_db_cluster_to_point_in_time = restore_db_cluster_to_point_in_time  # type: ignore[method-assign]


def set_restorable_window(body: dict[str, Any], account: str) -> dict[str, Any]:
    """Control: move a cluster's EarliestRestorableTime back (``earliest_restorable_time``)."""
    from moto.rds.models import rds_backends

    cluster = rds_backends[account][body["region"]].clusters[body["identifier"]]
    if "earliest_restorable_time" in body:
        cluster.earliest_restorable_time = _naive_utc(body["earliest_restorable_time"])
    return {
        "identifier": body["identifier"],
        "earliest_restorable_time": cluster.earliest_restorable_time.isoformat(),
    }
