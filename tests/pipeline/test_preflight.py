"""The preflight (first part of snapshot-check) fails before the first mutating AWS call,
the failure clean-up removes what a failed run made, and permanent errors are not retried.
Each case of issue 13's list is reproduced against the stand-in, with its call counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aurora_restore.driver import Driver
from support.aws import vpc_with_subnets
from support.world import (
    SOURCE,
    TARGET,
    World,
    cross_region_spec,
    existing_staging,
    same_region_spec,
)

MUTATING = (
    "CopyDBClusterSnapshot",
    "RestoreDBClusterFromSnapshot",
    "CreateDBInstance",
    "CreateDBSubnetGroup",
    "DeleteDBCluster",
    "DeleteDBInstance",
    "ModifyDBCluster",
)


def mutations(world: World) -> list[str]:
    return [op for op, _ in world.aws.calls() if op in MUTATING]


def network(world: World) -> tuple[str, list[str], str]:
    ec2 = world.client("ec2", TARGET)
    vpc, subnets = vpc_with_subnets(ec2, TARGET)
    group = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    world.aws.reset_calls()
    return vpc, subnets, group


def refused_by_preflight(world: World, spec: dict[str, Any], **run: Any) -> dict[str, Any]:
    """The status of a run of ``spec`` that the preflight refused: failed in snapshot-check,
    before any mutating call."""
    status, _ = world.run(spec, **run)
    assert status["phase"] == "Failed", status
    assert status["error"]["step"] == "snapshot-check", status["error"]
    assert mutations(world) == []
    return status


def test_existing_target_with_fail_copies_nothing(world: World) -> None:
    existing_staging(world, region=TARGET)
    status = refused_by_preflight(world, cross_region_spec())
    assert status["error"]["code"] == "ClusterAlreadyExists"
    assert world.aws.count("CopyDBClusterSnapshot") == 0


def test_subnet_that_does_not_exist_fails_before_the_copy(world: World) -> None:
    vpc, subnets, _ = network(world)
    spec = cross_region_spec(vpcId=vpc, subnetIds=[subnets[0], "subnet-0000000000000dead"])
    status = refused_by_preflight(world, spec)
    assert status["error"]["type"] == "ValidationError"
    assert status["error"]["code"] == "InvalidNetwork"
    assert "subnet-0000000000000dead does not exist" in status["error"]["message"]


def test_subnet_group_that_does_not_exist_fails_before_the_copy(world: World) -> None:
    status = refused_by_preflight(world, cross_region_spec(dbSubnetGroupName="no-such-group"))
    assert status["error"]["code"] == "InvalidNetwork"
    assert "DB subnet group no-such-group does not exist in us-west-2" in status["message"]


def test_kms_alias_that_does_not_exist_is_one_call_and_a_clear_failure(world: World) -> None:
    spec = cross_region_spec()
    spec["copy"] = {"kmsKeyId": "alias/does-not-exist"}
    status = refused_by_preflight(world, spec)
    assert status["error"]["type"] == "ValidationError"
    assert status["error"]["code"] == "KMSKeyNotFound"
    assert status["error"]["message"] == (
        "copy.kmsKeyId: KMS key alias/does-not-exist does not exist in us-west-2"
    )
    assert world.aws.count("DescribeKey") == 1
    assert world.aws.count("CopyDBClusterSnapshot") == 0
    assert status["retries"] == 0


def test_target_kms_key_is_checked_too(world: World) -> None:
    status = refused_by_preflight(world, same_region_spec(kmsKeyId="alias/nope"))
    assert status["error"]["code"] == "KMSKeyNotFound"
    assert status["error"]["message"].startswith("target.kmsKeyId: KMS key alias/nope")


def test_parameter_group_that_does_not_exist_fails_before_the_copy(world: World) -> None:
    spec = cross_region_spec(dbClusterParameterGroupName="no-such-params")
    status = refused_by_preflight(world, spec)
    assert status["error"]["code"] == "DBClusterParameterGroupNotFound"


def test_good_references_pass_and_the_run_completes(world: World) -> None:
    vpc, subnets, group = network(world)
    world.client("rds", TARGET).create_db_cluster_parameter_group(
        DBClusterParameterGroupName="params",
        DBParameterGroupFamily="aurora-postgresql15",
        Description="p",
    )
    world.aws.reset_calls()
    spec = cross_region_spec(
        vpcId=vpc,
        subnetIds=subnets,
        vpcSecurityGroupIds=[group],
        kmsKeyId="alias/staging",
        dbClusterParameterGroupName="params",
    )
    status, _ = world.run(spec)
    assert status["phase"] == "Completed", status.get("error")
    # copy.kmsKeyId and target.kmsKeyId: once each, in the preflight only.
    assert world.aws.count("DescribeKey") == 2
    assert world.aws.count("CopyDBClusterSnapshot") == 1
    assert status.get("preflightPassedAt")


def _secret_spec(world: World) -> dict[str, Any]:
    spec = same_region_spec()
    spec["masterPassword"] = {"secretRef": {"name": "late-master", "key": "password"}}
    return spec


def test_missing_secret_is_waited_for_then_fails_naming_it(world: World) -> None:
    spec = _secret_spec(world)
    status, ticks = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["step"] == "snapshot-check"
    assert status["error"]["code"] == "SecretNotFound"
    assert "late-master" in status["error"]["message"]
    assert status["error"]["message"] == (
        "Secret late-master (key password) did not appear within timeouts.preflight (10m): "
        "Secret late-master was not found"
    )
    waiting = [t for t in ticks if not t.status.phase.finished]
    assert waiting and all(t.status.phase.value == "CheckingSnapshot" for t in waiting)
    cond = {c.type: c for c in waiting[-1].status.conditions}
    assert cond["Progressing"].status == "True"
    assert cond["Progressing"].reason == "WaitingForSecret"
    assert "late-master" in cond["Progressing"].message
    # Waited for timeouts.preflight (10m) with doubling waits, announced and kept exactly.
    assert all(t.exact_wait for t in waiting)
    waits = [t.requeue_after or 0 for t in waiting]
    assert 590 <= sum(waits) <= 610 and len(waits) < 15 and max(waits) > 60
    assert mutations(world) == []


def test_late_secret_is_picked_up_and_the_run_goes_on(world: World) -> None:
    spec = _secret_spec(world)
    driver = world.driver()
    from aurora_restore.driver import Resource

    status: dict[str, Any] | None = None
    for _ in range(3):
        tick = driver.tick(Resource("r", "databases", "uid-late", 1, spec, status), world.kube)
        status = tick.status.to_dict()
        assert status["phase"] == "CheckingSnapshot"
        world.clock.advance(tick.requeue_after or 1)
    assert mutations(world) == []
    world.kube.secrets["late-master"] = {"password": "S3cret-late"}
    status = _tick_until(world, spec, "uid-late", status=status, driver=driver, rounds=200)
    assert status["phase"] == "Completed", status.get("error")


def test_missing_secrets_manager_secret_fails_at_once_naming_it(world: World) -> None:
    spec = same_region_spec()
    spec["masterPassword"] = {"secretsManagerSecretId": "no-such-secret"}
    status = refused_by_preflight(world, spec)
    assert status["error"]["message"].startswith("Secrets Manager secret no-such-secret: ")
    # The namespace-tag check asks for the secret's tags first and reads nothing: one call.
    assert world.aws.count("DescribeSecret") + world.aws.count("GetSecretValue") == 1


def test_target_created_during_the_copy_fails_and_the_copy_is_deleted(world: World) -> None:
    spec = cross_region_spec()
    driver = world.driver()
    copying = _tick_until(
        world, spec, "uid-race", lambda s: s["phase"] != "CheckingSnapshot", driver=driver
    )
    assert world.aws.count("CopyDBClusterSnapshot") == 1
    # Someone creates the target while the copy runs.
    existing_staging(world, region=TARGET, instances=0)
    status = _tick_until(world, spec, "uid-race", status=copying, driver=driver)
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "ClusterAlreadyExists"
    assert world.aws.count("DeleteDBClusterSnapshot", TARGET) == 1
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 0
    copy_id = status["copy"]["identifier"]
    left = world.client("rds", TARGET).describe_db_cluster_snapshots()["DBClusterSnapshots"]
    assert copy_id not in [
        s["DBClusterSnapshotIdentifier"] for s in left if s["Status"] != "deleting"
    ]
    assert f"removed snapshot copy {copy_id}" in status["message"]
    archive = next(s for s in status["steps"] if s["name"] == "archive-snapshot")
    assert archive["state"] == "Succeeded"
    audit = world.audit(status["operationId"])
    cleaned = [a for a in audit if a["step"] == "archive-snapshot" and a["status"] == "Succeeded"]
    assert cleaned and cleaned[0]["details"]["removed"] == [f"snapshot copy {copy_id}"]
    # The cluster someone else created is untouched.
    assert world.aws.count("DeleteDBCluster") == 0


def test_failed_run_deletes_its_unused_subnet_group(world: World) -> None:
    vpc, subnets, _ = network(world)
    # The restore itself is refused (InvalidParameterValue, permanent) after the subnet
    # group was created for it.
    spec = cross_region_spec(vpcId=vpc, subnetIds=subnets)
    world.aws.on_call("RestoreDBClusterFromSnapshot", before=_refuse)
    status, _ = world.run(spec)
    assert status["phase"] == "Failed", status
    assert world.aws.count("CreateDBSubnetGroup") == 1
    assert world.aws.count("DeleteDBSubnetGroup") == 1
    assert "subnet group aurora-restore-staging" in status["message"]
    groups = world.client("rds", TARGET).describe_db_subnet_groups()["DBSubnetGroups"]
    assert "aurora-restore-staging" not in [g["DBSubnetGroupName"] for g in groups]


def _refuse(service: str, operation: str, region: str) -> None:
    from aurora_restore_sandbox.aws import DropRequest

    raise DropRequest("InvalidParameterValue", 400, "The restore is refused (test)")


def test_permanent_errors_are_not_retried() -> None:
    import botocore.exceptions
    import botocore.parsers

    from aurora_restore.aws.clients import translate

    parser = translate("CopyDBClusterSnapshot", botocore.parsers.ResponseParserError("bad xml"))
    assert parser.code == "ResponseParserError" and not parser.retryable
    for code, http in (("KMSKeyNotAccessibleFault", 500), ("InvalidParameterValue", 400)):
        err = botocore.exceptions.ClientError(
            {
                "Error": {"Code": code, "Message": "no"},
                "ResponseMetadata": {"HTTPStatusCode": http},
            },
            "CopyDBClusterSnapshot",
        )
        assert not translate("CopyDBClusterSnapshot", err).retryable
    busy = botocore.exceptions.ClientError(
        {"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "X"
    )
    assert translate("X", busy).retryable


@pytest.mark.parametrize("source_region", [SOURCE])
def test_connection_secret_user_must_be_one_of_the_users(source_region: str) -> None:
    from aurora_restore.api.restore import SpecError, validate_spec

    spec = same_region_spec()
    spec["masterPassword"] = {"secretRef": {"name": "m"}}
    spec["users"] = [{"name": "app", "passwordSecretRef": {"name": "app-db"}}]
    spec["connectionSecret"] = {"name": "conn", "user": "app"}
    assert validate_spec(spec).connection_secret.user == "app"  # type: ignore[union-attr]
    spec["connectionSecret"] = {"name": "conn", "user": "nobody"}
    with pytest.raises(SpecError) as exc:
        validate_spec(spec)
    assert "connectionSecret.user 'nobody' must be the name of one of spec.users" in str(exc.value)


def test_invalid_spec_sends_the_failure_notification(world: World) -> None:
    spec = cross_region_spec(clusterIdentifier="Bad--Name")
    spec["notification"] = {"snsTopicArn": world.topic_arn}
    status, _ = world.run(spec)
    assert status["phase"] == "Failed" and status["error"]["type"] == "ValidationError"
    [message] = world.sns_messages()
    assert message["status"] == "failure"
    assert message["details"]["error_type"] == "ValidationError"
    assert "spec.target.clusterIdentifier" in message["message"]
    assert [op for op, _ in world.aws.calls("rds")] == []
    # Counted like any failed run (CloudWatch RestoreFailed).
    names = [
        m["MetricName"]
        for m in world.client("cloudwatch").list_metrics(Namespace="AuroraRestore")["Metrics"]
    ]
    assert "RestoreFailed" in names


def test_invalid_spec_respects_notification_events(world: World) -> None:
    spec = cross_region_spec(clusterIdentifier="Bad--Name")
    spec["notification"] = {"snsTopicArn": world.topic_arn, "events": ["Completed"]}
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    assert world.sns_messages() == []


def _tick_until(
    world: World,
    spec: dict[str, Any],
    uid: str,
    done: Callable[[dict[str, Any]], bool] = lambda status: False,
    status: dict[str, Any] | None = None,
    driver: Driver | None = None,
    rounds: int = 100,
) -> dict[str, Any]:
    """The status once ``done`` holds or the run asks for no further tick, ticking from
    ``status`` as the operator would (each tick when the last one said)."""
    from aurora_restore.driver import Resource

    driver = driver or world.driver()
    for _ in range(rounds):
        tick = driver.tick(Resource("r", "databases", uid, 1, spec, status), world.kube)
        status = tick.status.to_dict()
        if done(status) or tick.requeue_after is None:
            return status
        world.clock.advance(max(tick.requeue_after, 1))
    raise AssertionError(status)


def _delete(world: World, spec: dict[str, Any], uid: str, status: dict[str, Any]) -> list[str]:
    from aurora_restore.driver import Resource

    driver = world.driver()
    said = []
    for _ in range(50):
        result = driver.cleanup(Resource("r", "databases", uid, 1, spec, status), world.kube)
        said.append(result.message)
        if result.done:
            return said
    raise AssertionError(said)


def test_run_cancelled_during_the_copy_deletes_its_copy(world: World) -> None:
    world.aws.set_delays(30)
    spec = cross_region_spec()
    status = _tick_until(world, spec, "uid-cancel", lambda s: s["phase"] == "CopyingSnapshot")
    assert world.aws.count("CopyDBClusterSnapshot") == 1
    copy_id = status["copy"]["identifier"]
    said = _delete(world, spec, "uid-cancel", status)
    assert world.aws.count("DeleteDBClusterSnapshot", TARGET) == 1
    assert f"removed snapshot copy {copy_id}" in said[-1]
    assert "the cluster is kept" in said[-1]


def test_deletion_policy_delete_also_removes_the_subnet_group(world: World) -> None:
    vpc, subnets, _ = network(world)
    spec = cross_region_spec(vpcId=vpc, subnetIds=subnets)
    spec["deletionPolicy"] = "Delete"
    status = _tick_until(world, spec, "uid-del", lambda s: s["phase"] == "Completed")
    assert status["phase"] == "Completed", status.get("error")
    world.aws.settle()
    said = _delete(world, spec, "uid-del", status)
    assert world.aws.count("DeleteDBCluster") == 1
    assert world.aws.count("DeleteDBSubnetGroup") == 1
    assert "removed subnet group aurora-restore-staging" in said[-1]


def test_text_logs_name_the_restore() -> None:
    import logging

    from aurora_restore.logs import TextFormatter

    record = logging.LogRecord("aurora_restore.k8s", logging.INFO, "", 0, "waiting", (), None)
    record.resource = "databases/staging-refresh"
    assert "[databases/staging-refresh] waiting" in TextFormatter().format(record)
    kopf = logging.LogRecord("kopf.objects", logging.INFO, "", 0, "Handler done", (), None)
    kopf.k8s_ref = {"namespace": "databases", "name": "x"}
    assert "[databases/x] Handler done" in TextFormatter().format(kopf)
    # A line logged by an adapter during a tick names the restore of that tick.
    from aurora_restore.logs import RESOURCE

    plain = logging.LogRecord("aurora_restore.db", logging.DEBUG, "", 0, "connecting", (), None)
    token = RESOURCE.set("databases/tick")
    try:
        assert "[databases/tick] connecting" in TextFormatter().format(plain)
    finally:
        RESOURCE.reset(token)
    assert "[" not in TextFormatter().format(plain)


def test_missing_config_map_is_waited_for_then_fails_naming_it(world: World) -> None:
    spec = same_region_spec()
    spec["sql"] = [{"configMapRef": {"name": "mask-pii", "key": "mask.sql"}}]
    spec["masterPassword"] = {"secretRef": {"name": "master"}}
    world.kube.secrets["master"] = {"password": "S3cret-master"}
    status = refused_by_preflight(world, spec, max_ticks=50)
    assert status["error"]["code"] == "ConfigMapNotFound"
    assert status["error"]["message"].startswith("ConfigMap mask-pii (key mask.sql) did not")
