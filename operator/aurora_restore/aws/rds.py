"""The RDS port on boto3: snapshots, clusters, instances and subnet groups.

Status checks (``get_snapshot``, ``get_cluster``, ``get_instances``) go through one
:class:`~aurora_restore.aws.batching.Describer` per region and kind, so that all restores
waiting in a region share one ``Describe*`` call with a filter of identifiers (see
``batching.py``); mutating calls invalidate what is cached of their identifier. Every RDS
call takes a token from the region's budget (``ratelimit.py``) first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.names import COMPONENT
from ..pipeline.context import READS, Deferred
from ..pipeline.errors import THROTTLING
from ..pipeline.ports import Cluster, Instance, PointInTimeRequest, RestoreRequest, Snapshot
from .batching import WATCHER, Describer
from .clients import Clients
from .ratelimit import RegionLimits

NOT_FOUND = frozenset(
    {
        "DBClusterSnapshotNotFoundFault",
        "DBClusterNotFoundFault",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "DBSubnetGroupNotFoundFault",
    }
)
log = logging.getLogger(__name__)

# AWS's filter values limit; describes are chunked to it.
FILTER_LIMIT = 100
# Records per page of a Describe (AWS's maximum).
PAGE_SIZE = 100

SNAPSHOTS, CLUSTERS, INSTANCES = "snapshots", "clusters", "instances"
# kind: (operation, filter name, list key, identifier key, status key)
KINDS: dict[str, tuple[str, str, str, str, str]] = {
    SNAPSHOTS: (
        "DescribeDBClusterSnapshots",
        "db-cluster-snapshot-id",
        "DBClusterSnapshots",
        "DBClusterSnapshotIdentifier",
        "Status",
    ),
    CLUSTERS: (
        "DescribeDBClusters",
        "db-cluster-id",
        "DBClusters",
        "DBClusterIdentifier",
        "Status",
    ),
    INSTANCES: (
        "DescribeDBInstances",
        "db-instance-id",
        "DBInstances",
        "DBInstanceIdentifier",
        "DBInstanceStatus",
    ),
}
# Filter errors that mean "this endpoint does not know the filter": describe one by one.
UNSUPPORTED_FILTER = frozenset({"InvalidParameterValue", "InvalidParameterCombination"})


@dataclass(frozen=True)
class RdsTuning:
    """How status checks are shared and paced (from the operator settings)."""

    batching: bool = True
    cache_ttl: float = 1.0
    batch_window: float = 0.02
    # Identifiers asked about within this many seconds ride along in every Describe.
    watch_for: float = 120.0
    rate_limit: float = 0.0
    rate_burst: int = 200
    # The region refresh (see batching.py): as often as one restore polling every
    # ``refresh_interval``, shared by all in progress, never more often than the floor.
    refresh_interval: float = 30.0
    refresh_floor: float = 2.0

    @classmethod
    def from_settings(cls, settings: Any) -> RdsTuning:
        return cls(
            batching=settings.aws_batching,
            cache_ttl=settings.cache_ttl_seconds,
            batch_window=settings.aws_batch_window,
            watch_for=2 * settings.poll_seconds + 10,
            rate_limit=settings.aws_rate_limit,
            rate_burst=settings.aws_rate_burst,
            refresh_interval=settings.poll_seconds,
            refresh_floor=settings.poll_floor_seconds,
        )


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


def _arn_target(arn: str) -> tuple[str, str] | None:
    """(kind, identifier) of an RDS ARN, e.g. ``arn:aws:rds:r:a:cluster:id``."""
    parts = arn.split(":")
    if len(parts) < 7:
        return None
    kind = {"cluster-snapshot": SNAPSHOTS, "cluster": CLUSTERS, "db": INSTANCES}.get(parts[5])
    return (kind, ":".join(parts[6:])) if kind else None


def _fresh_since() -> float | None:
    """None when a status check may use the cache; else the moment answers must follow."""
    policy = READS.get()
    if policy is not None and policy.cached:
        return None
    if policy is not None and policy.since is not None:
        return policy.since
    return time.monotonic()


def _instance(item: Mapping[str, Any]) -> Instance:
    return Instance(
        identifier=item["DBInstanceIdentifier"],
        cluster_identifier=item.get("DBClusterIdentifier"),
        status=item.get("DBInstanceStatus", "unknown"),
    )


class RdsAdapter:
    def __init__(
        self,
        clients: Clients,
        tuning: RdsTuning | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.tuning = tuning or RdsTuning()
        # The cache's clock (a test may pass a fake one); the rate limit always paces real
        # calls in real time.
        self.clock = clock
        self.limits = RegionLimits(self.tuning.rate_limit, self.tuning.rate_burst)
        self._describers: dict[tuple[str, str], Describer] = {}
        self._unfiltered: set[tuple[str, str]] = set()
        self._hooked: set[str] = set()
        self._lock = threading.Lock()
        self._refreshing = False
        self._refresh_period = 0.5

    def _call(
        self, region: str, operation: str, shared: bool = False, **params: Any
    ) -> dict[str, Any]:
        """One RDS call within the region's budget. A ``shared`` call (a batched status
        check, answering many restores) waits for its token; a restore's own call in the
        operator is deferred instead (see ratelimit.py), outside it waits too."""
        self._hook_throttling(region)
        watcher = WATCHER.get()
        if shared or watcher is None:
            self.limits.acquire(region)
        else:
            after = self.limits.take_or_defer(region, watcher)
            if after > 0:
                raise Deferred(after, f"Waiting for the AWS call budget of {region}")
        return self.clients.call("rds", region, operation, **params)

    def _hook_throttling(self, region: str) -> None:
        """Every throttling answer slows the region down, including those that botocore
        retried by itself (its ``needs-retry`` event sees every attempt, the last one too)."""
        if region in self._hooked:
            return
        with self._lock:
            if region in self._hooked:
                return
            self._hooked.add(region)
        limits = self.limits

        def on_retry(response: Any = None, **_: Any) -> None:
            if not response:
                return
            code = (response[1] or {}).get("Error", {}).get("Code")
            if code in THROTTLING:
                limits.throttled(region)

        self.clients.client("rds", region).meta.events.register("needs-retry.rds", on_retry)

    # -- batched status checks --------------------------------------------------------------

    def refresh(self) -> int:
        """Refresh, in every region and kind, the objects that restores wait on, when due;
        the operator calls this every half second or so. Returns how many Describes."""
        done = 0
        with self._lock:
            describers = list(self._describers.items())
        for (region, kind), describer in describers:
            slowdown = self.limits.slowdown(region)
            try:
                if describer.refresh_if_due(
                    self.tuning.refresh_interval * slowdown, self.tuning.refresh_floor * slowdown
                ):
                    log.debug("refreshed %s in %s", kind, region)
                    done += 1
            except Exception as exc:  # the restores' own checks will report it
                log.debug("region refresh failed in %s: %s", region, exc)
        return done

    def start_refresher(self, period: float = 0.5) -> threading.Event:
        """Run :meth:`refresh` in a background thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period):
                self.refresh()

        def run() -> None:
            self._refreshing = True
            try:
                loop()
            finally:
                self._refreshing = False

        self._refresh_period = period
        if self.tuning.batching:
            threading.Thread(target=run, name="rds-refresh", daemon=True).start()
        return stop

    def _followed_within(self, region: str, describer: Describer) -> float | None:
        """Within how long the region refresh looks again at a describer's objects and
        wakes whoever asked; None when it will not (no refresh, or nobody to wake)."""
        if not self._refreshing or WATCHER.get() is None:
            return None
        slowdown = self.limits.slowdown(region)
        period = describer.refresh_period(
            self.tuning.refresh_interval * slowdown, self.tuning.refresh_floor * slowdown
        )
        return period + self._refresh_period + self.tuning.cache_ttl * slowdown

    def _note_followed(self, region: str, describer: Describer | None) -> None:
        policy = READS.get()
        if policy is None or policy.followed is None:
            return
        within = self._followed_within(region, describer) if describer else None
        policy.followed.note(within)

    def describer(self, region: str, kind: str) -> Describer:
        key = (region, kind)
        with self._lock:
            found = self._describers.get(key)
            if found is None:
                status_key = KINDS[kind][4]
                found = self._describers[key] = Describer(
                    fetch=lambda ids: self._describe(region, kind, ids),
                    status_of=lambda item: str(item.get(status_key, "unknown")),
                    ttl=lambda: self.tuning.cache_ttl * self.limits.slowdown(region),
                    window=self.tuning.batch_window,
                    watch_for=self.tuning.watch_for,
                    clock=self.clock,
                )
            return found

    def _describe(self, region: str, kind: str, identifiers: list[str]) -> dict[str, Any]:
        """One filtered Describe per 100 identifiers, every page of it."""
        from ..pipeline.errors import PortError

        if (region, kind) in self._unfiltered:
            return self._describe_each(region, kind, identifiers)
        operation, filter_name, list_key, id_key, _ = KINDS[kind]
        found: dict[str, Any] = {}
        for start in range(0, len(identifiers), FILTER_LIMIT):
            chunk = identifiers[start : start + FILTER_LIMIT]
            marker: str | None = None
            while True:
                params: dict[str, Any] = {
                    "Filters": [{"Name": filter_name, "Values": chunk}],
                    "MaxRecords": PAGE_SIZE,
                }
                if marker:
                    params["Marker"] = marker
                try:
                    page = self._call(region, operation, shared=True, **params)
                except PortError as err:
                    if err.code not in UNSUPPORTED_FILTER:
                        raise
                    # A stand-in without this filter: fall back to one Describe each.
                    self._unfiltered.add((region, kind))
                    return self._describe_each(region, kind, identifiers)
                for item in page.get(list_key) or []:
                    found[str(item[id_key]).lower()] = item
                marker = page.get("Marker")
                if not marker:
                    break
        return found

    def _describe_each(self, region: str, kind: str, identifiers: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for identifier in identifiers:
            item = self._describe_one(region, kind, identifier, shared=True)
            if item is not None:
                found[identifier.lower()] = item
        return found

    def _describe_one(
        self, region: str, kind: str, identifier: str, shared: bool = False
    ) -> dict[str, Any] | None:
        operation, _, list_key, _, _ = KINDS[kind]
        param = {
            SNAPSHOTS: "DBClusterSnapshotIdentifier",
            CLUSTERS: "DBClusterIdentifier",
            INSTANCES: "DBInstanceIdentifier",
        }[kind]
        found = self._maybe(region, operation, shared, **{param: identifier})
        items = (found or {}).get(list_key) or []
        return items[0] if items else None

    def _status_check(self, region: str, kind: str, identifier: str) -> dict[str, Any] | None:
        # ARNs (a shared snapshot) are answered under their plain identifier: ask directly.
        if self.tuning.batching and not identifier.startswith("arn:"):
            describer = self.describer(region, kind)
            item: dict[str, Any] | None = describer.get(identifier, _fresh_since())
            self._note_followed(region, describer)
            return item
        self._note_followed(region, None)
        return self._describe_one(region, kind, identifier)

    def _mutated(self, region: str, kind: str, identifier: str | None) -> None:
        if identifier and self.tuning.batching:
            self.describer(region, kind).invalidate(identifier)

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
        item = self._status_check(region, SNAPSHOTS, identifier)
        return _snapshot(item, region) if item else None

    def list_snapshots(
        self, region: str, cluster_identifier: str, snapshot_type: str
    ) -> list[Snapshot]:
        self._note_followed(region, None)
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
            self._mutated(region, SNAPSHOTS, target_identifier)
        return _snapshot(response["DBClusterSnapshot"], region)

    def get_cluster(self, region: str, identifier: str) -> Cluster | None:
        item = self._status_check(region, CLUSTERS, identifier)
        return _cluster(item, region) if item else None

    def get_instances(self, region: str, identifiers: Sequence[str]) -> list[Instance]:
        ids = list(identifiers)
        if self.tuning.batching and ids:
            describer = self.describer(region, INSTANCES)
            items = describer.get_many(ids, _fresh_since())
            self._note_followed(region, describer)
            return [
                _instance(item) for item in (items.get(i.lower()) for i in ids) if item is not None
            ]
        self._note_followed(region, None)
        result: list[Instance] = []
        for start in range(0, len(ids), FILTER_LIMIT):
            chunk = ids[start : start + FILTER_LIMIT]
            page = self._call(
                region,
                "DescribeDBInstances",
                Filters=[{"Name": "db-instance-id", "Values": chunk}],
            )
            result += [
                _instance(i)
                for i in page.get("DBInstances") or []
                if i["DBInstanceIdentifier"] in chunk
            ]
        return result

    def delete_instance(self, region: str, identifier: str) -> None:
        try:
            self._maybe(region, "DeleteDBInstance", DBInstanceIdentifier=identifier)
        finally:
            self._mutated(region, INSTANCES, identifier)

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
            self._mutated(region, CLUSTERS, identifier)
            self._mutated(region, SNAPSHOTS, final_snapshot_identifier)

    def restore_cluster(self, region: str, request: RestoreRequest) -> Cluster:
        params: dict[str, Any] = {
            "DBClusterIdentifier": request.cluster_identifier,
            "SnapshotIdentifier": request.snapshot_identifier,
            "Engine": request.engine,
            "DeletionProtection": request.deletion_protection,
            "Tags": _tag_list(request.tags),
        }
        optional = {
            "EngineVersion": request.engine_version,
            "DBSubnetGroupName": request.db_subnet_group_name,
            "KmsKeyId": request.kms_key_id,
            "DBClusterParameterGroupName": request.db_cluster_parameter_group_name,
        }
        params.update({k: v for k, v in optional.items() if v})
        if request.vpc_security_group_ids:
            params["VpcSecurityGroupIds"] = list(request.vpc_security_group_ids)
        try:
            response = self._call(region, "RestoreDBClusterFromSnapshot", **params)
        finally:
            self._mutated(region, CLUSTERS, request.cluster_identifier)
        return _cluster(response["DBCluster"], region)

    def restore_cluster_to_point_in_time(self, region: str, request: PointInTimeRequest) -> Cluster:
        params: dict[str, Any] = {
            "DBClusterIdentifier": request.cluster_identifier,
            "SourceDBClusterIdentifier": request.source_cluster_identifier,
            "RestoreType": request.restore_type,
            "DeletionProtection": request.deletion_protection,
            "Tags": _tag_list(request.tags),
        }
        if request.use_latest_restorable_time:
            params["UseLatestRestorableTime"] = True
        elif request.restore_to_time is not None:
            params["RestoreToTime"] = request.restore_to_time
        optional = {
            "DBSubnetGroupName": request.db_subnet_group_name,
            "KmsKeyId": request.kms_key_id,
            "DBClusterParameterGroupName": request.db_cluster_parameter_group_name,
        }
        params.update({k: v for k, v in optional.items() if v})
        if request.vpc_security_group_ids:
            params["VpcSecurityGroupIds"] = list(request.vpc_security_group_ids)
        try:
            response = self._call(region, "RestoreDBClusterToPointInTime", **params)
        finally:
            self._mutated(region, CLUSTERS, request.cluster_identifier)
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
            self._mutated(region, INSTANCES, identifier)
            # The cluster lists its members.
            self._mutated(region, CLUSTERS, cluster_identifier)
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
            self._mutated(region, CLUSTERS, cluster_identifier)

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
            self._mutated(region, CLUSTERS, identifier)
            self._mutated(region, CLUSTERS, new_identifier)

    def delete_snapshot(self, region: str, identifier: str) -> None:
        try:
            self._maybe(region, "DeleteDBClusterSnapshot", DBClusterSnapshotIdentifier=identifier)
        finally:
            self._mutated(region, SNAPSHOTS, identifier)

    def tag_resource(self, region: str, arn: str, tags: Mapping[str, str]) -> None:
        try:
            self._call(region, "AddTagsToResource", ResourceName=arn, Tags=_tag_list(tags))
        finally:
            target = _arn_target(arn)
            if target:
                self._mutated(region, *target)

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
