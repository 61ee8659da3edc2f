"""The RDS port on boto3: snapshots, clusters, instances and subnet groups.

This module maps the RDS API (``Describe*``, ``Create*``/``Copy*``/``Restore*``,
``Modify*``, ``Delete*``) onto the pipeline's types. When and how often those calls are
made, shared by all restores and within the region's budget, is ``rds_reads.py``'s job:
status checks (``get_snapshot``, ``get_cluster``, ``get_instances``) go through its shared
Describe per region and kind, and every mutating call tells it what it changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.names import COMPONENT
from ..pipeline.ports import Cluster, Instance, PointInTimeRequest, RestoreRequest, Snapshot
from .clients import Clients
from .rds_reads import RdsReads, RdsTuning

__all__ = ["CLUSTERS", "INSTANCES", "SNAPSHOTS", "RdsAdapter", "RdsTuning"]

NOT_FOUND = frozenset(
    {
        "DBClusterSnapshotNotFoundFault",
        "DBClusterNotFoundFault",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "DBSubnetGroupNotFoundFault",
    }
)

# AWS's filter values limit; describes are chunked to it.
FILTER_LIMIT = 100
# Records per page of a Describe (AWS's maximum).
PAGE_SIZE = 100
# Filter errors that mean "this endpoint does not know the filter": describe one by one.
UNSUPPORTED_FILTER = frozenset({"InvalidParameterValue", "InvalidParameterCombination"})

SNAPSHOTS, CLUSTERS, INSTANCES = "snapshots", "clusters", "instances"


@dataclass(frozen=True)
class Kind:
    """How one kind of RDS object is described: the one table of the three kinds."""

    operation: str
    # The Describe's filter name, and its parameter naming a single identifier.
    filter_name: str
    identifier_param: str
    # Where the answer lists the objects, and their identifier and status keys.
    list_key: str
    id_key: str
    status_key: str
    # The resource type in an ARN (arn:aws:rds:region:account:TYPE:identifier).
    arn_type: str


KINDS: dict[str, Kind] = {
    SNAPSHOTS: Kind(
        "DescribeDBClusterSnapshots",
        "db-cluster-snapshot-id",
        "DBClusterSnapshotIdentifier",
        "DBClusterSnapshots",
        "DBClusterSnapshotIdentifier",
        "Status",
        "cluster-snapshot",
    ),
    CLUSTERS: Kind(
        "DescribeDBClusters",
        "db-cluster-id",
        "DBClusterIdentifier",
        "DBClusters",
        "DBClusterIdentifier",
        "Status",
        "cluster",
    ),
    INSTANCES: Kind(
        "DescribeDBInstances",
        "db-instance-id",
        "DBInstanceIdentifier",
        "DBInstances",
        "DBInstanceIdentifier",
        "DBInstanceStatus",
        "db",
    ),
}


def _tags(items: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or ()}


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _snapshot(item: Mapping[str, Any], region: str) -> Snapshot:
    return Snapshot(
        identifier=item["DBClusterSnapshotIdentifier"],
        arn=item.get("DBClusterSnapshotArn", ""),
        region=region,
        status=item.get("Status", "unknown"),
        cluster_identifier=item.get("DBClusterIdentifier", ""),
        snapshot_type=item.get("SnapshotType", "manual"),
        created_at=item.get("SnapshotCreateTime"),
        encrypted=bool(item.get("StorageEncrypted")),
        kms_key_id=item.get("KmsKeyId"),
        engine=item.get("Engine", "aurora-postgresql"),
        engine_version=item.get("EngineVersion"),
        percent_progress=int(item.get("PercentProgress") or 0),
        tags=_tags(item.get("TagList")),
    )


def _cluster(item: Mapping[str, Any], region: str) -> Cluster:
    return Cluster(
        identifier=item["DBClusterIdentifier"],
        arn=item.get("DBClusterArn", ""),
        region=region,
        status=item.get("Status", "unknown"),
        endpoint=item.get("Endpoint"),
        reader_endpoint=item.get("ReaderEndpoint"),
        port=item.get("Port"),
        master_username=item.get("MasterUsername"),
        deletion_protection=bool(item.get("DeletionProtection")),
        members=tuple(m["DBInstanceIdentifier"] for m in item.get("DBClusterMembers") or ()),
        engine=item.get("Engine", "aurora-postgresql"),
        tags=_tags(item.get("TagList")),
        resource_id=item.get("DbClusterResourceId"),
        earliest_restorable_time=item.get("EarliestRestorableTime"),
        latest_restorable_time=item.get("LatestRestorableTime"),
    )


def _instance(item: Mapping[str, Any]) -> Instance:
    return Instance(
        identifier=item["DBInstanceIdentifier"],
        cluster_identifier=item.get("DBClusterIdentifier"),
        status=item.get("DBInstanceStatus", "unknown"),
    )


def _status_of(kind: str, item: Any) -> str:
    return str(item.get(KINDS[kind].status_key, "unknown"))


def _arn_target(arn: str) -> tuple[str, str] | None:
    """(kind, identifier) of an RDS ARN, e.g. ``arn:aws:rds:r:a:cluster:id``."""
    parts = arn.split(":")
    if len(parts) < 7:
        return None
    kind = next((k for k, v in KINDS.items() if v.arn_type == parts[5]), None)
    return (kind, ":".join(parts[6:])) if kind else None


def _placement(request: RestoreRequest | PointInTimeRequest, **specific: Any) -> dict[str, Any]:
    """The parameters both restore calls share (where and how the new cluster lives),
    with the call's own; unset optional values are left out."""
    params: dict[str, Any] = {
        "DBClusterIdentifier": request.cluster_identifier,
        "DeletionProtection": request.deletion_protection,
        "Tags": _tag_list(request.tags),
        **specific,
    }
    optional = {
        "DBSubnetGroupName": request.db_subnet_group_name,
        "KmsKeyId": request.kms_key_id,
        "DBClusterParameterGroupName": request.db_cluster_parameter_group_name,
        "VpcSecurityGroupIds": list(request.vpc_security_group_ids),
    }
    params.update({k: v for k, v in optional.items() if v})
    return params


class RdsAdapter:
    def __init__(
        self,
        clients: Clients,
        tuning: RdsTuning | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.tuning = tuning or RdsTuning()
        self.reads = RdsReads(clients, self.tuning, self._describe, _status_of, clock)
        self.limits = self.reads.limits
        self._unfiltered: set[tuple[str, str]] = set()

    def start_refresher(self, period: float = 0.5) -> Any:
        """The region refresh of the shared status checks (rds_reads.py)."""
        return self.reads.start_refresher(period)

    def _call(
        self, region: str, operation: str, shared: bool = False, **params: Any
    ) -> dict[str, Any]:
        return self.reads.call(region, operation, shared, **params)

    # -- Describe ----------------------------------------------------------------------------

    def _describe(
        self, region: str, kind: str, identifiers: list[str], shared: bool = True
    ) -> dict[str, Any]:
        """{identifier.lower(): item} of those that exist: one filtered Describe per 100
        identifiers, every page of it."""
        from ..pipeline.errors import PortError

        if (region, kind) in self._unfiltered:
            return self._describe_each(region, kind, identifiers, shared)
        k = KINDS[kind]
        found: dict[str, Any] = {}
        for start in range(0, len(identifiers), FILTER_LIMIT):
            chunk = identifiers[start : start + FILTER_LIMIT]
            marker: str | None = None
            while True:
                params: dict[str, Any] = {
                    "Filters": [{"Name": k.filter_name, "Values": chunk}],
                    "MaxRecords": PAGE_SIZE,
                }
                if marker:
                    params["Marker"] = marker
                try:
                    page = self._call(region, k.operation, shared, **params)
                except PortError as err:
                    if err.code not in UNSUPPORTED_FILTER:
                        raise
                    # A stand-in without this filter: fall back to one Describe each.
                    self._unfiltered.add((region, kind))
                    return self._describe_each(region, kind, identifiers, shared)
                for item in page.get(k.list_key) or []:
                    found[str(item[k.id_key]).lower()] = item
                marker = page.get("Marker")
                if not marker:
                    break
        return found

    def _describe_each(
        self, region: str, kind: str, identifiers: list[str], shared: bool
    ) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for identifier in identifiers:
            item = self._describe_one(region, kind, identifier, shared)
            if item is not None:
                found[identifier.lower()] = item
        return found

    def _describe_one(
        self, region: str, kind: str, identifier: str, shared: bool = False
    ) -> dict[str, Any] | None:
        k = KINDS[kind]
        found = self._maybe(region, k.operation, shared, **{k.identifier_param: identifier})
        items = (found or {}).get(k.list_key) or []
        return items[0] if items else None

    def _status_check(self, region: str, kind: str, identifiers: list[str]) -> dict[str, Any]:
        """{identifier.lower(): item or None}: shared (rds_reads.py) when batching is on;
        ARNs (a shared snapshot, answered under its plain identifier) are asked directly."""
        if self.tuning.batching and not any(i.startswith("arn:") for i in identifiers):
            return self.reads.shared(region, kind, identifiers)
        self.reads.note_followed(region, None)
        # Each restore reads for itself here; its token is taken as a shared check's is.
        self.reads.before_own_read(region)
        if len(identifiers) == 1:
            item = self._describe_one(region, kind, identifiers[0], shared=True)
            return {identifiers[0].lower(): item}
        found = self._describe(region, kind, identifiers, shared=True)
        return {i.lower(): found.get(i.lower()) for i in identifiers}

    def _maybe(
        self, region: str, operation: str, shared: bool = False, **params: Any
    ) -> dict[str, Any] | None:
        from ..pipeline.errors import PortError

        try:
            return self._call(region, operation, shared, **params)
        except PortError as err:
            if err.code in NOT_FOUND:
                return None
            raise

    def call_or_none(self, region: str, operation: str, **params: Any) -> dict[str, Any] | None:
        """An RDS call within the region's budget; None when the object is not
        found (for the preflight's look-ups, aws/checks.py)."""
        return self._maybe(region, operation, **params)

    def get_snapshot(self, region: str, identifier: str) -> Snapshot | None:
        item = self._status_check(region, SNAPSHOTS, [identifier]).get(identifier.lower())
        return _snapshot(item, region) if item else None

    def get_cluster(self, region: str, identifier: str) -> Cluster | None:
        item = self._status_check(region, CLUSTERS, [identifier]).get(identifier.lower())
        return _cluster(item, region) if item else None

    def get_instances(self, region: str, identifiers: Sequence[str]) -> list[Instance]:
        ids = list(identifiers)
        if not ids:
            self.reads.note_followed(region, None)
            return []
        items = self._status_check(region, INSTANCES, ids)
        return [_instance(item) for item in (items.get(i.lower()) for i in ids) if item]

    def list_snapshots(
        self, region: str, cluster_identifier: str, snapshot_type: str
    ) -> list[Snapshot]:
        self.reads.note_followed(region, None)
        params: dict[str, Any] = {"DBClusterIdentifier": cluster_identifier}
        if snapshot_type != "any":
            params["SnapshotType"] = snapshot_type
        result: list[Snapshot] = []
        marker: str | None = None
        while True:
            page = (
                self._maybe(
                    region,
                    "DescribeDBClusterSnapshots",
                    **params,
                    **({"Marker": marker} if marker else {}),
                )
                or {}
            )
            result += [_snapshot(s, region) for s in page.get("DBClusterSnapshots") or []]
            marker = page.get("Marker")
            if not marker:
                return result

    # -- Copy, Restore, Create, Modify, Delete -----------------------------------------------

    def copy_snapshot(
        self,
        region: str,
        source: Snapshot,
        target_identifier: str,
        kms_key_id: str | None,
        tags: Mapping[str, str],
    ) -> Snapshot:
        params: dict[str, Any] = {
            # Cross-region copies name the source by ARN and are issued in the target region.
            "SourceDBClusterSnapshotIdentifier": source.arn,
            "TargetDBClusterSnapshotIdentifier": target_identifier,
            "CopyTags": False,
            "Tags": _tag_list(tags),
        }
        if source.region != region:
            # Makes botocore presign the request for the source region (cross-region only;
            # a copy from another account in the same region needs just the ARN).
            params["SourceRegion"] = source.region
        if kms_key_id:
            params["KmsKeyId"] = kms_key_id
        try:
            response = self._call(region, "CopyDBClusterSnapshot", **params)
        finally:
            self.reads.mutated(region, SNAPSHOTS, target_identifier)
        return _snapshot(response["DBClusterSnapshot"], region)

    def delete_instance(self, region: str, identifier: str) -> None:
        try:
            self._maybe(region, "DeleteDBInstance", DBInstanceIdentifier=identifier)
        finally:
            self.reads.mutated(region, INSTANCES, identifier)

    def delete_cluster(
        self, region: str, identifier: str, final_snapshot_identifier: str | None
    ) -> None:
        params: dict[str, Any] = {"DBClusterIdentifier": identifier}
        if final_snapshot_identifier:
            params["FinalDBSnapshotIdentifier"] = final_snapshot_identifier
        else:
            params["SkipFinalSnapshot"] = True
        try:
            self._maybe(region, "DeleteDBCluster", **params)
        finally:
            self.reads.mutated(region, CLUSTERS, identifier)
            self.reads.mutated(region, SNAPSHOTS, final_snapshot_identifier)

    def restore_cluster(self, region: str, request: RestoreRequest) -> Cluster:
        params = _placement(
            request,
            SnapshotIdentifier=request.snapshot_identifier,
            Engine=request.engine,
            **({"EngineVersion": request.engine_version} if request.engine_version else {}),
        )
        try:
            response = self._call(region, "RestoreDBClusterFromSnapshot", **params)
        finally:
            self.reads.mutated(region, CLUSTERS, request.cluster_identifier)
        return _cluster(response["DBCluster"], region)

    def restore_cluster_to_point_in_time(self, region: str, request: PointInTimeRequest) -> Cluster:
        when: dict[str, Any] = {}
        if request.use_latest_restorable_time:
            when["UseLatestRestorableTime"] = True
        elif request.restore_to_time is not None:
            when["RestoreToTime"] = request.restore_to_time
        params = _placement(
            request,
            SourceDBClusterIdentifier=request.source_cluster_identifier,
            RestoreType=request.restore_type,
            **when,
        )
        try:
            response = self._call(region, "RestoreDBClusterToPointInTime", **params)
        finally:
            self.reads.mutated(region, CLUSTERS, request.cluster_identifier)
        return _cluster(response["DBCluster"], region)

    def create_instance(
        self,
        region: str,
        identifier: str,
        cluster_identifier: str,
        instance_class: str,
        engine: str,
        tags: Mapping[str, str],
    ) -> Instance:
        try:
            response = self._call(
                region,
                "CreateDBInstance",
                DBInstanceIdentifier=identifier,
                DBClusterIdentifier=cluster_identifier,
                DBInstanceClass=instance_class,
                Engine=engine,
                Tags=_tag_list(tags),
            )
        finally:
            self.reads.mutated(region, INSTANCES, identifier)
            # The cluster lists its members.
            self.reads.mutated(region, CLUSTERS, cluster_identifier)
        item = response["DBInstance"]
        return Instance(
            identifier, item.get("DBClusterIdentifier"), item.get("DBInstanceStatus", "creating")
        )

    def set_master_password(self, region: str, cluster_identifier: str, password: str) -> None:
        try:
            self._call(
                region,
                "ModifyDBCluster",
                DBClusterIdentifier=cluster_identifier,
                MasterUserPassword=password,
                ApplyImmediately=True,
            )
        finally:
            self.reads.mutated(region, CLUSTERS, cluster_identifier)

    def rename_cluster(self, region: str, identifier: str, new_identifier: str) -> None:
        try:
            # NOT_FOUND is answered as None: botocore may have retried a rename that AWS had
            # already applied, and the old name is free at once; the step reads AWS again.
            self._maybe(
                region,
                "ModifyDBCluster",
                DBClusterIdentifier=identifier,
                NewDBClusterIdentifier=new_identifier,
                ApplyImmediately=True,
            )
        finally:
            self.reads.mutated(region, CLUSTERS, identifier)
            self.reads.mutated(region, CLUSTERS, new_identifier)

    def delete_snapshot(self, region: str, identifier: str) -> None:
        try:
            self._maybe(region, "DeleteDBClusterSnapshot", DBClusterSnapshotIdentifier=identifier)
        finally:
            self.reads.mutated(region, SNAPSHOTS, identifier)

    def tag_resource(self, region: str, arn: str, tags: Mapping[str, str]) -> None:
        try:
            self._call(region, "AddTagsToResource", ResourceName=arn, Tags=_tag_list(tags))
        finally:
            target = _arn_target(arn)
            if target:
                self.reads.mutated(region, *target)

    def ensure_subnet_group(
        self, region: str, name: str, subnet_ids: Sequence[str], tags: Mapping[str, str]
    ) -> None:
        if self._maybe(region, "DescribeDBSubnetGroups", DBSubnetGroupName=name):
            return
        self._call(
            region,
            "CreateDBSubnetGroup",
            DBSubnetGroupName=name,
            DBSubnetGroupDescription=f"Created by {COMPONENT}",
            SubnetIds=list(subnet_ids),
            Tags=_tag_list(tags),
        )
