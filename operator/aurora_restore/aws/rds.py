"""The RDS port on boto3: snapshots, clusters, instances and subnet groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..pipeline.ports import Cluster, Instance, RestoreRequest, Snapshot
from .clients import Clients

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
    )


class RdsAdapter:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _call(self, region: str, operation: str, **params: Any) -> dict[str, Any]:
        return self.clients.call("rds", region, operation, **params)

    def _maybe(self, region: str, operation: str, **params: Any) -> dict[str, Any] | None:
        from ..pipeline.errors import PortError

        try:
            return self._call(region, operation, **params)
        except PortError as err:
            if err.code in NOT_FOUND:
                return None
            raise

    def get_snapshot(self, region: str, identifier: str) -> Snapshot | None:
        found = self._maybe(
            region, "DescribeDBClusterSnapshots", DBClusterSnapshotIdentifier=identifier
        )
        items = (found or {}).get("DBClusterSnapshots") or []
        return _snapshot(items[0], region) if items else None

    def list_snapshots(
        self, region: str, cluster_identifier: str, snapshot_type: str
    ) -> list[Snapshot]:
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
            "SourceRegion": source.region,
            "CopyTags": False,
            "Tags": _tag_list(tags),
        }
        if kms_key_id:
            params["KmsKeyId"] = kms_key_id
        response = self._call(region, "CopyDBClusterSnapshot", **params)
        return _snapshot(response["DBClusterSnapshot"], region)

    def get_cluster(self, region: str, identifier: str) -> Cluster | None:
        found = self._maybe(region, "DescribeDBClusters", DBClusterIdentifier=identifier)
        items = (found or {}).get("DBClusters") or []
        return _cluster(items[0], region) if items else None

    def get_instances(self, region: str, identifiers: Sequence[str]) -> list[Instance]:
        result: list[Instance] = []
        ids = list(identifiers)
        for start in range(0, len(ids), FILTER_LIMIT):
            chunk = ids[start : start + FILTER_LIMIT]
            page = self._call(
                region,
                "DescribeDBInstances",
                Filters=[{"Name": "db-instance-id", "Values": chunk}],
            )
            result += [
                Instance(
                    identifier=i["DBInstanceIdentifier"],
                    cluster_identifier=i.get("DBClusterIdentifier"),
                    status=i.get("DBInstanceStatus", "unknown"),
                )
                for i in page.get("DBInstances") or []
                if i["DBInstanceIdentifier"] in chunk
            ]
        return result

    def delete_instance(self, region: str, identifier: str) -> None:
        self._maybe(region, "DeleteDBInstance", DBInstanceIdentifier=identifier)

    def delete_cluster(
        self, region: str, identifier: str, final_snapshot_identifier: str | None
    ) -> None:
        params: dict[str, Any] = {"DBClusterIdentifier": identifier}
        if final_snapshot_identifier:
            params["FinalDBSnapshotIdentifier"] = final_snapshot_identifier
        else:
            params["SkipFinalSnapshot"] = True
        self._maybe(region, "DeleteDBCluster", **params)

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
        response = self._call(region, "RestoreDBClusterFromSnapshot", **params)
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
        response = self._call(
            region,
            "CreateDBInstance",
            DBInstanceIdentifier=identifier,
            DBClusterIdentifier=cluster_identifier,
            DBInstanceClass=instance_class,
            Engine=engine,
            Tags=_tag_list(tags),
        )
        item = response["DBInstance"]
        return Instance(
            identifier, item.get("DBClusterIdentifier"), item.get("DBInstanceStatus", "creating")
        )

    def set_master_password(self, region: str, cluster_identifier: str, password: str) -> None:
        self._call(
            region,
            "ModifyDBCluster",
            DBClusterIdentifier=cluster_identifier,
            MasterUserPassword=password,
            ApplyImmediately=True,
        )

    def delete_snapshot(self, region: str, identifier: str) -> None:
        self._maybe(region, "DeleteDBClusterSnapshot", DBClusterSnapshotIdentifier=identifier)

    def tag_resource(self, region: str, arn: str, tags: Mapping[str, str]) -> None:
        self._call(region, "AddTagsToResource", ResourceName=arn, Tags=_tag_list(tags))

    def ensure_subnet_group(
        self, region: str, name: str, subnet_ids: Sequence[str], tags: Mapping[str, str]
    ) -> None:
        if self._maybe(region, "DescribeDBSubnetGroups", DBSubnetGroupName=name):
            return
        self._call(
            region,
            "CreateDBSubnetGroup",
            DBSubnetGroupName=name,
            DBSubnetGroupDescription="Created by aurora-restore-operator",
            SubnetIds=list(subnet_ids),
            Tags=_tag_list(tags),
        )
