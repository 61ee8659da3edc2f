"""source.roleArn: restores from a snapshot in another AWS account, on the stand-in.

The production account (SRC_ACCOUNT) is reached only through the assumed role: moto maps
its credentials to the role's account, and our stand-in (sandbox/rds_accounts.py) finds
another account's snapshot by ARN only when that account shared it. The stand-in's call
log names the account of every call, so the tests can see what the operator did where.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from aurora_restore.driver import Resource
from aurora_restore_sandbox.aws import DropRequest
from support.aws import create_cluster
from support.world import SOURCE, TARGET, World

SRC_ACCOUNT = "111111111111"
TARGET_ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{SRC_ACCOUNT}:role/prod-snapshots"
ALLOWED = {"AURORA_RESTORE_SOURCE_ROLE_ARNS": f"arn:aws:iam::{SRC_ACCOUNT}:role/prod-*"}
SNAPSHOT_ARN = f"arn:aws:rds:{SOURCE}:{SRC_ACCOUNT}:cluster-snapshot:prod-manual-1"
# The statement of docs/cross-account.md that lets the target account use the key.
TARGET_MAY_USE_KEY = {
    "Sid": "AllowStagingAccountToCopySnapshots",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{TARGET_ACCOUNT}:root"},
    "Action": [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:CreateGrant",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
    ],
    "Resource": "*",
}
SOURCE_OWNS_KEY = {
    "Sid": "Owner",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{SRC_ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
# What the source role may change in the source account: the snapshot attribute only.
READ_PREFIXES = ("Describe", "List", "Get")
SHARE_CALL = "ModifyDBClusterSnapshotAttribute"


def source_client(world: World, service: str, region: str = SOURCE) -> Any:
    """A client in the production account, as the test's own administrator there."""
    creds = world.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="test-setup")[
        "Credentials"
    ]
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=world.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def make_production(
    world: World, key_statements: list[dict[str, Any]] | None = None, shared: bool = False
) -> str:
    """The production cluster, encrypted with a customer managed key, and its manual
    snapshot prod-manual-1; returns the key ARN."""
    statements = [SOURCE_OWNS_KEY, TARGET_MAY_USE_KEY] if key_statements is None else key_statements
    kms = source_client(world, "kms")
    key = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    key_arn = key["KeyMetadata"]["Arn"]
    rds = source_client(world, "rds")
    create_cluster(rds, "prod", "source-master-pw", StorageEncrypted=True, KmsKeyId=key_arn)
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )
    if shared:
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier="prod-manual-1",
            AttributeName="restore",
            ValuesToAdd=[TARGET_ACCOUNT],
        )
    # The staging key in the source region too (same-region cross-account copies).
    staging_kms = world.client("kms", SOURCE)
    staging_key = staging_kms.create_key()["KeyMetadata"]["KeyId"]
    staging_kms.create_alias(AliasName="alias/staging", TargetKeyId=staging_key)
    world.aws.reset_calls()
    return key_arn


def shared_with(world: World) -> list[str]:
    found = source_client(world, "rds").describe_db_cluster_snapshot_attributes(
        DBClusterSnapshotIdentifier="prod-manual-1"
    )["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
    return next(a["AttributeValues"] for a in found if a["AttributeName"] == "restore")


def spec(target_region: str = TARGET, **source: Any) -> dict[str, Any]:
    return {
        "source": {
            "region": SOURCE,
            "snapshotIdentifier": "prod-manual-1",
            "roleArn": ROLE,
            **source,
        },
        "copy": {"kmsKeyId": "alias/staging"},
        "target": {"region": target_region, "clusterIdentifier": "staging"},
    }


def source_account_calls(world: World) -> list[str]:
    return [op for account, _, op, _ in world.aws.account_calls() if account == SRC_ACCOUNT]


def step(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in status["steps"] if s["name"] == name)


@pytest.mark.parametrize("target_region", [TARGET, SOURCE], ids=["cross-region", "same-region"])
def test_cross_account_restore_shares_copies_and_unshares(world: World, target_region: str) -> None:
    make_production(world)
    status, _ = world.run(spec(target_region), world.driver(**ALLOWED))
    assert status["phase"] == "Completed", status
    # Found in the production account (the operator's own account has a prod-manual-1 too).
    assert status["snapshot"]["arn"] == SNAPSHOT_ARN
    assert status["snapshot"]["share"] == "removed"
    assert status["snapshot"]["sharedWith"] == TARGET_ACCOUNT
    assert shared_with(world) == []
    # The copy and the restore happened in the operator's account, in the target region.
    calls = world.aws.account_calls()
    copies = [(a, r) for a, _, op, r in calls if op == "CopyDBClusterSnapshot"]
    assert copies == [(TARGET_ACCOUNT, target_region)]
    restores = [(a, r) for a, _, op, r in calls if op == "RestoreDBClusterFromSnapshot"]
    assert restores == [(TARGET_ACCOUNT, target_region)]
    cluster = world.client("rds", target_region).describe_db_clusters(
        DBClusterIdentifier="staging"
    )["DBClusters"][0]
    assert cluster["Status"] == "available"
    # In the source account: reads, and exactly one share and one unshare.
    ops = source_account_calls(world)
    assert ops.count(SHARE_CALL) == 2
    assert [op for op in ops if op != SHARE_CALL and not op.startswith(READ_PREFIXES)] == []
    # Both recorded in the audit trail.
    audit = world.audit(status["operationId"])
    copied = next(
        a["details"] for a in audit if a["step"] == "copy-snapshot" and a["status"] == "Succeeded"
    )
    assert copied["shared_with_account"] == TARGET_ACCOUNT and copied["share"] == "added"
    unshared = [
        a["details"]["unshared"]
        for a in audit
        if a["step"] == "check-copy-status" and "unshared" in a["details"]
    ]
    assert unshared == [f"stopped sharing snapshot prod-manual-1 with account {TARGET_ACCOUNT}"]


def test_a_share_that_existed_before_is_left_as_it_was(world: World) -> None:
    make_production(world, shared=True)
    status, _ = world.run(spec(), world.driver(**ALLOWED))
    assert status["phase"] == "Completed", status
    assert status["snapshot"]["share"] == "existing"
    assert shared_with(world) == [TARGET_ACCOUNT]
    assert SHARE_CALL not in source_account_calls(world)


def test_the_stand_in_refuses_a_copy_of_an_unshared_snapshot(world: World) -> None:
    make_production(world)
    rds = world.client("rds", TARGET)
    with pytest.raises(rds.exceptions.DBClusterSnapshotNotFoundFault):
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=SNAPSHOT_ARN,
            TargetDBClusterSnapshotIdentifier="stolen",
            KmsKeyId="alias/staging",
            SourceRegion=SOURCE,
        )
    with pytest.raises(rds.exceptions.DBClusterSnapshotNotFoundFault):
        world.client("rds", SOURCE).restore_db_cluster_from_snapshot(
            DBClusterIdentifier="stolen",
            SnapshotIdentifier=SNAPSHOT_ARN,
            Engine="aurora-postgresql",
        )


def test_an_unlisted_role_is_refused_before_any_call(world: World) -> None:
    make_production(world)
    other = {"AURORA_RESTORE_SOURCE_ROLE_ARNS": "arn:aws:iam::222222222222:role/*"}
    status, ticks = world.run(spec(), world.driver(**other))
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValidationError"
    assert status["error"]["code"] == "SourceRoleNotAllowed"
    assert ROLE in status["error"]["message"]
    assert any(e.type == "Warning" for t in ticks for e in t.events)
    ops = {op for _, _, op, _ in world.aws.account_calls()}
    assert not ops & {"AssumeRole", "DescribeDBClusterSnapshots", SHARE_CALL}
    assert source_account_calls(world) == []


def test_a_snapshot_arn_of_another_account_than_the_role_is_refused(world: World) -> None:
    make_production(world)
    arn = SNAPSHOT_ARN.replace(SRC_ACCOUNT, "222222222222")
    status, _ = world.run(spec(snapshotIdentifier=arn), world.driver(**ALLOWED))
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValidationError"
    assert (
        "is in account 222222222222 but source.roleArn is in account" in status["error"]["message"]
    )
    assert source_account_calls(world) == []
    # The role's own account by ARN is fine.
    world.aws.reset_calls()
    status, _ = world.run(spec(snapshotIdentifier=SNAPSHOT_ARN), world.driver(**ALLOWED), uid="u2")
    assert status["phase"] == "Completed", status


def test_a_key_the_target_account_may_not_use_fails_before_any_copy(world: World) -> None:
    make_production(world, key_statements=[SOURCE_OWNS_KEY])
    status, _ = world.run(spec(), world.driver(**ALLOWED))
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "KMSKeyNotShared"
    message = status["error"]["message"]
    assert f"does not allow account {TARGET_ACCOUNT}" in message
    assert "kms:Decrypt" in message and "grant" in message
    assert world.aws.count("CopyDBClusterSnapshot") == 0
    assert SHARE_CALL not in source_account_calls(world)


def test_a_grant_to_the_target_account_is_enough(world: World) -> None:
    key_arn = make_production(world, key_statements=[SOURCE_OWNS_KEY])
    source_client(world, "kms").create_grant(
        KeyId=key_arn,
        GranteePrincipal=f"arn:aws:iam::{TARGET_ACCOUNT}:root",
        Operations=["Decrypt", "DescribeKey", "CreateGrant"],
    )
    world.aws.reset_calls()
    status, _ = world.run(spec(), world.driver(**ALLOWED))
    assert status["phase"] == "Completed", status


def test_a_role_that_may_not_share_fails_clearly_and_leaves_nothing(world: World) -> None:
    make_production(world)

    def denied(*_: str) -> None:
        raise DropRequest(
            "AccessDenied",
            403,
            f"User: arn:aws:sts::{SRC_ACCOUNT}:assumed-role/prod-snapshots is not authorized "
            "to perform: rds:ModifyDBClusterSnapshotAttribute",
        )

    world.aws.on_call(SHARE_CALL, before=denied, times=None)
    try:
        status, _ = world.run(spec(), world.driver(**ALLOWED))
    finally:
        world.aws.clear_hooks()
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "AWSError"
    assert status["error"]["code"] == "AccessDenied"
    assert "ModifyDBClusterSnapshotAttribute" in status["error"]["message"]
    assert "source role's policy" in status["error"]["message"]
    # Nothing half-done: not shared, nothing copied, and the clean-up had nothing to undo.
    assert shared_with(world) == []
    assert world.aws.count("CopyDBClusterSnapshot") == 0
    assert step(status, "archive-snapshot")["state"] == "Succeeded"


def test_a_failure_after_sharing_unshares(world: World) -> None:
    make_production(world)

    def refused(*_: str) -> None:
        raise DropRequest("KMSKeyNotAccessibleFault", 400, "The key is not accessible")

    world.aws.on_call("CopyDBClusterSnapshot", before=refused, times=None)
    try:
        status, _ = world.run(spec(), world.driver(**ALLOWED))
    finally:
        world.aws.clear_hooks()
    assert status["phase"] == "Failed", status
    assert status["error"]["step"] == "copy-snapshot"
    assert status["snapshot"]["share"] == "removed"
    assert shared_with(world) == []
    assert source_account_calls(world).count(SHARE_CALL) == 2
    assert "the share of snapshot prod-manual-1" in step(status, "archive-snapshot")["message"]


def _tick_until(
    world: World, status: dict[str, Any] | None, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    driver = world.driver(**ALLOWED)
    for _ in range(50):
        tick = driver.tick(Resource("r", "databases", "uid-x", 1, spec(), status), world.kube)
        status = tick.status.to_dict()
        if done(status):
            return status
        world.clock.advance(max(tick.requeue_after or 0, 1.0))
    raise AssertionError(status)


def test_a_crash_between_share_and_copy_resumes_without_sharing_twice(world: World) -> None:
    make_production(world)
    before = _tick_until(world, None, lambda s: (s.get("snapshot") or {}).get("share") == "adding")
    assert shared_with(world) == []

    # The next tick shares, then the copy request is lost and the process stops before its
    # status is written: the next operator resumes from the status written before.
    def lost(*_: str) -> None:
        raise DropRequest()

    world.aws.on_call("CopyDBClusterSnapshot", before=lost)
    driver = world.driver(**ALLOWED)
    driver.tick(Resource("r", "databases", "uid-x", 1, spec(), before), world.kube)
    world.aws.clear_hooks()
    assert shared_with(world) == [TARGET_ACCOUNT]
    assert source_account_calls(world).count(SHARE_CALL) == 1

    done = _tick_until(world, before, lambda s: s["phase"] in ("Completed", "Failed"))
    assert done["phase"] == "Completed", done
    assert done["snapshot"]["share"] == "removed"
    assert shared_with(world) == []
    # One share (before the crash), one unshare: never shared twice.
    assert source_account_calls(world).count(SHARE_CALL) == 2


def test_deleting_the_resource_after_sharing_unshares(world: World) -> None:
    make_production(world)
    shared = _tick_until(world, None, lambda s: (s.get("snapshot") or {}).get("share") == "added")
    assert shared_with(world) == [TARGET_ACCOUNT]
    driver = world.driver(**ALLOWED)
    resource = Resource("r", "databases", "uid-x", 1, spec(), shared)
    for _ in range(20):
        if driver.cleanup(resource, world.kube).done:
            break
    assert shared_with(world) == []


def test_role_sessions_are_cached_named_by_run_and_refreshed_before_expiry(world: World) -> None:
    import datetime as dt

    from aurora_restore.aws.clients import Clients

    clients = Clients(world.session)
    role = clients.for_role(ROLE, "staging-refresh", "aurora-restore-op-123456789012")
    assert clients.for_role(ROLE, "staging-refresh", "aurora-restore-op-123456789012") is role
    who = role.call("sts", SOURCE, "GetCallerIdentity")
    assert who["Account"] == SRC_ACCOUNT
    assert who["Arn"].endswith("assumed-role/prod-snapshots/aurora-restore-op-123456789012")
    assert clients.account_id() == TARGET_ACCOUNT
    assert world.aws.count("AssumeRole") == 1
    # Credentials five minutes from expiry are renewed before the next call goes out.
    credentials = role.client("rds", SOURCE)._request_signer._credentials
    credentials._expiry_time = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    role.call("rds", SOURCE, "DescribeDBClusterSnapshots")
    assert world.aws.count("AssumeRole") == 2
    role.call("rds", SOURCE, "DescribeDBClusterSnapshots")
    assert world.aws.count("AssumeRole") == 2


def _automated_snapshot(world: World) -> str:
    found = source_client(world, "rds").describe_db_cluster_snapshots(
        DBClusterIdentifier="prod", SnapshotType="automated"
    )["DBClusterSnapshots"]
    assert found, "moto snapshots a new cluster at once"
    return str(found[0]["DBClusterSnapshotIdentifier"])


def test_by_cluster_and_date_only_manual_snapshots_are_considered(world: World) -> None:
    make_production(world)
    # The automated snapshot is the newest, but AWS would not let it be shared.
    automated = _automated_snapshot(world)
    world.aws.edit_cluster_snapshot(
        SOURCE, automated, created_at=world.clock.now, account_id=SRC_ACCOUNT
    )
    by_date = spec()
    by_date["source"] = {
        "region": SOURCE,
        "clusterIdentifier": "prod",
        "snapshotType": "any",
        "date": "latest",
        "roleArn": ROLE,
    }
    status, _ = world.run(by_date, world.driver(**ALLOWED))
    assert status["phase"] == "Completed", status
    assert status["snapshot"]["arn"] == SNAPSHOT_ARN


def test_an_automated_snapshot_named_exactly_is_refused_before_sharing(world: World) -> None:
    make_production(world)
    status, _ = world.run(
        spec(snapshotIdentifier=_automated_snapshot(world)), world.driver(**ALLOWED)
    )
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "SnapshotNotShareable"
    assert "AWS shares only manual snapshots" in status["error"]["message"]
    assert SHARE_CALL not in source_account_calls(world)
