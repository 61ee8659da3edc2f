"""The preflight's read-only look-ups (KMS keys, subnet and parameter groups), and the
subnet group clean-up after a failed run."""

from __future__ import annotations

from typing import Any

from ..pipeline.errors import PortError
from .clients import Clients
from .rds import RdsAdapter

# KMS answers these for a key that does not exist or may not be used by the caller.
KMS_NOT_USABLE = frozenset({"NotFoundException", "AccessDeniedException", "InvalidArnException"})
PARAMETER_GROUP_NOT_FOUND = frozenset(
    {"DBParameterGroupNotFound", "DBParameterGroupNotFoundFault", "DBClusterParameterGroupNotFound"}
)


class PreflightChecks:
    def __init__(self, clients: Clients, rds: RdsAdapter) -> None:
        self.clients = clients
        self.rds = rds

    def kms_key(self, region: str, key_id: str) -> str | None:
        if key_id.startswith("arn:"):
            region = key_id.split(":")[3]
        try:
            meta: dict[str, Any] = self.clients.call("kms", region, "DescribeKey", KeyId=key_id)[
                "KeyMetadata"
            ]
        except PortError as err:
            if err.code not in KMS_NOT_USABLE:
                raise
            if err.code == "AccessDeniedException":
                return f"KMS key {key_id} in {region} may not be used by the operator ({err.code})"
            return f"KMS key {key_id} does not exist in {region}"
        state = meta.get("KeyState", "Enabled")
        if state != "Enabled":
            return f"KMS key {key_id} in {region} is {state}, not Enabled"
        return None

    def subnet_group(self, region: str, name: str) -> str | None:
        if self.rds.call_or_none(region, "DescribeDBSubnetGroups", DBSubnetGroupName=name) is None:
            return f"DB subnet group {name} does not exist in {region}"
        return None

    def parameter_group(self, region: str, name: str) -> str | None:
        try:
            self.rds.call_or_none(
                region, "DescribeDBClusterParameterGroups", DBClusterParameterGroupName=name
            )
        except PortError as err:
            if err.code not in PARAMETER_GROUP_NOT_FOUND:
                raise
            return f"DB cluster parameter group {name} does not exist in {region}"
        return None

    def subnet_group_owner(self, region: str, name: str) -> tuple[dict[str, str], list[str]] | None:
        found = self.rds.call_or_none(region, "DescribeDBSubnetGroups", DBSubnetGroupName=name)
        groups = (found or {}).get("DBSubnetGroups") or []
        if not groups:
            return None
        arn = groups[0].get("DBSubnetGroupArn")
        tags: dict[str, str] = {}
        if arn:
            listed = self.rds.call_or_none(region, "ListTagsForResource", ResourceName=arn) or {}
            tags = {t["Key"]: t["Value"] for t in listed.get("TagList") or []}
        clusters = (self.rds.call_or_none(region, "DescribeDBClusters") or {}).get(
            "DBClusters"
        ) or []
        users = [c["DBClusterIdentifier"] for c in clusters if c.get("DBSubnetGroup") == name]
        return tags, users

    def delete_subnet_group(self, region: str, name: str) -> None:
        self.rds.call_or_none(region, "DeleteDBSubnetGroup", DBSubnetGroupName=name)
