"""EC2 checks for a target given as vpcId + subnetIds: they exist and belong to that VPC."""

from __future__ import annotations

from collections.abc import Sequence

from ..pipeline.errors import PortError
from .clients import Clients


class NetworkAdapter:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def problems(
        self, region: str, vpc_id: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str]
    ) -> list[str]:
        found: list[str] = []
        vpcs = self.clients.call(
            "ec2", region, "DescribeVpcs", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        ).get("Vpcs", [])
        if not vpcs:
            return [f"VPC {vpc_id} does not exist in {region}"]
        subnets = self.clients.call(
            "ec2",
            region,
            "DescribeSubnets",
            Filters=[{"Name": "subnet-id", "Values": list(subnet_ids)}],
        ).get("Subnets", [])
        by_id = {s["SubnetId"]: s for s in subnets}
        for subnet in subnet_ids:
            if subnet not in by_id:
                found.append(f"subnet {subnet} does not exist in {region}")
            elif by_id[subnet].get("VpcId") != vpc_id:
                found.append(f"subnet {subnet} is in {by_id[subnet].get('VpcId')}, not {vpc_id}")
        zones = {s.get("AvailabilityZone") for s in subnets}
        if len(subnets) == len(subnet_ids) and len(zones) < 2:
            found.append("subnetIds must cover at least two availability zones")
        if security_group_ids:
            try:
                groups = self.clients.call(
                    "ec2",
                    region,
                    "DescribeSecurityGroups",
                    Filters=[{"Name": "group-id", "Values": list(security_group_ids)}],
                ).get("SecurityGroups", [])
            except PortError as err:
                if err.code != "InvalidGroup.NotFound":
                    raise
                groups = []
            by_group = {g["GroupId"]: g for g in groups}
            for group in security_group_ids:
                if group not in by_group:
                    found.append(f"security group {group} does not exist in {region}")
                elif by_group[group].get("VpcId") != vpc_id:
                    found.append(f"security group {group} is not in {vpc_id}")
        return found
