"""Unit tests of every validation rule and default in aurora_restore.spec."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from spec_crd_support import base_spec, model_accepts

from aurora_restore.api import restore, rules
from aurora_restore.api import status as status_api
from aurora_restore.api.restore import (
    AuroraRestoreSpec,
    SpecError,
    resolve_snapshot_date,
    validate_spec,
)
from aurora_restore.api.status import AuroraRestoreStatus


def problems(doc: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(doc)
    return info.value.problems


def one_problem(doc: Any) -> str:
    found = problems(doc)
    assert len(found) == 1, found
    return found[0]


def with_target(**fields: Any) -> dict[str, Any]:
    return base_spec(target={"region": "us-west-2", "clusterIdentifier": "staging", **fields})


def with_source(**fields: Any) -> dict[str, Any]:
    return base_spec(source={"region": "us-east-1", **fields})


# --- identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a", "a" * 63, "staging", "a1", "a-1", "a-b-c", "Staging-DB", "x" + "-y" * 31],
)
def test_cluster_id_valid(value: str) -> None:
    assert rules.validate_cluster_id(value) == value.lower()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "got 0 characters"),
        ("a" * 64, "got 64 characters"),
        ("a--b", "got 'a--b'"),
        ("staging-", "got 'staging-'"),
        ("-staging", "got '-staging'"),
        ("1staging", "got '1staging'"),
        ("stag_ing", "got 'stag_ing'"),
        ("stag.ing", "got 'stag.ing'"),
        ("staging\n", "got 'staging\\n'"),
        ("stäging", "got 'stäging'"),
        ("a b", "got 'a b'"),
    ],
)
def test_cluster_id_invalid(value: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        rules.validate_cluster_id(value)
    message = str(info.value)
    assert message.startswith("a DB cluster identifier must be 1-63 letters, digits or hyphens")
    assert "no two consecutive hyphens and no trailing hyphen" in message
    assert why in message


def test_cluster_id_is_lower_cased_in_the_spec() -> None:
    parsed = validate_spec(with_target(clusterIdentifier="Staging-DB"))
    assert parsed.target.cluster_identifier == "staging-db"
    assert validate_spec(base_spec(source={"region": "us-east-1", "clusterIdentifier": "PROD"}))


@pytest.mark.parametrize("length", [1, 254, 255])
def test_snapshot_id_lengths_valid(length: int) -> None:
    assert rules.validate_snapshot_id("s" * length) == "s" * length
    assert rules.validate_source_snapshot_id("S" * length) == "s" * length


@pytest.mark.parametrize("value", ["", "s" * 256, "a--b", "snap-", "9snap", "snap_1", "rds:x"])
def test_snapshot_id_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="a cluster snapshot identifier must be 1-255"):
        rules.validate_snapshot_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "rds:prod-2026-11-26-03-05",
        "rds:a-2026-01-01-00-00",
        "rds:" + "p" * 63 + "-2026-11-26-03-05",
        "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:prod-final",
        "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:prod-2026-11-26-03-05",
        "arn:aws-us-gov:rds:us-gov-west-1:123456789012:cluster-snapshot:prod",
        "arn:aws-cn:rds:cn-north-1:123456789012:cluster-snapshot:prod",
        "arn:aws:rds:eu-central-2:123456789012:cluster-snapshot:" + "s" * 255,
    ],
)
def test_source_snapshot_forms_valid(value: str) -> None:
    assert rules.validate_source_snapshot_id(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("rds:Prod-2026-11-26-03-05", "rds:<cluster>-YYYY-MM-DD-HH-MM"),
        ("rds:prod-2026-11-26", "rds:<cluster>-YYYY-MM-DD-HH-MM"),
        ("rds:prod", "rds:<cluster>-YYYY-MM-DD-HH-MM"),
        ("rds:" + "p" * 64 + "-2026-11-26-03-05", "rds:<cluster>-YYYY-MM-DD-HH-MM"),
        ("rds:prod-٢٠٢٦-11-26-03-05", "rds:<cluster>-YYYY-MM-DD-HH-MM"),
        ("arn:aws:rds:us-east-1:123456789012:cluster-snapshot:bad--name", "1-255"),
        ("arn:aws:rds:us-east-1:123456789012:cluster-snapshot:" + "s" * 256, "1-255"),
        ("arn:aws:rds:us-east-1:123456789012:cluster-snapshot:", "1-255"),
        ("arn:aws:rds:us-east-1:12345:cluster-snapshot:prod", "1-255"),
        ("arn:aws:rds:us-east-1:123456789012:cluster-snapshot:x y", "1-255"),
        # An ARN inside an ARN is not a snapshot name.
        (2 * "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:" + "x", "1-255"),
    ],
)
def test_source_snapshot_forms_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("*", r"\*")):
        rules.validate_source_snapshot_id(value)


def test_snapshot_arn_must_be_in_the_source_region() -> None:
    arn = "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:prod-final"
    message = one_problem(with_source(snapshotIdentifier=arn))
    assert message.startswith("spec.source: snapshotIdentifier is an ARN in eu-west-1")
    assert "but region is us-east-1" in message
    assert validate_spec(base_spec(source={"region": "eu-west-1", "snapshotIdentifier": arn}))


def test_parameter_group_name_follows_aws_identifier_rules() -> None:
    assert validate_spec(with_target(dbClusterParameterGroupName="aurora-pg15-custom"))
    assert "a parameter group name must be 1-255" in one_problem(
        with_target(dbClusterParameterGroupName="pg--15")
    )


# --- regions and AWS ids --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "us-east-1",
        "us-west-2",
        "eu-central-2",
        "eu-south-1",
        "ap-southeast-7",
        "ap-northeast-3",
        "ca-west-1",
        "me-central-1",
        "il-central-1",
        "mx-central-1",
        "af-south-1",
        "sa-east-1",
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
        "us-iso-east-1",
        "us-isob-east-1",
    ],
)
def test_region_valid(value: str) -> None:
    assert rules.validate_region(value) == value


@pytest.mark.parametrize(
    "value",
    ["us-east", "US-EAST-1", "us-east-0", "us-east-10", "useast1", "xx-east-1", "us-east-1 ", ""],
)
def test_region_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="must be an AWS region name such as us-east-1"):
        rules.validate_region(value)


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        (
            rules.VpcId,
            ["vpc-0123abcd", "vpc-0123456789abcdef0"],
            ["vpc-0123", "vpc-0123ABCD", "vpc-0123abcdz", "subnet-0123abcd", "vpc-0123abcd\n"],
        ),
        (
            rules.SubnetId,
            ["subnet-0123abcd", "subnet-0123456789abcdef0"],
            ["subnet-xyz", "subnet-0123abc", "vpc-0123abcd", "subnet-0123456789abcdef"],
        ),
        (
            rules.SecurityGroupId,
            ["sg-0123abcd", "sg-0123456789abcdef0"],
            ["sg-0123", "sg_0123abcd", "sg-0123abcd0", "default"],
        ),
        (
            rules.KmsKeyId,
            [
                "1234abcd-12ab-34cd-56ef-1234567890ab",
                "mrk-1234abcd12ab34cd56ef1234567890ab",
                "alias/staging",
                "alias/aws/rds",
                "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:us-west-2:123456789012:alias/staging",
                "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234",
            ],
            [
                "staging",
                "alias/",
                "alias/bad key",
                "1234ABCD-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:us-west-2:123:key/abc",
                "arn:aws:kms:us-west-2:123456789012:secret/x",
            ],
        ),
        (
            rules.SnsTopicArn,
            [
                "arn:aws:sns:us-east-1:123456789012:db-restores",
                "arn:aws:sns:us-east-1:123456789012:db_restores.fifo",
                "arn:aws-cn:sns:cn-north-1:123456789012:t",
            ],
            [
                "arn:aws:sqs:us-east-1:123456789012:db-restores",
                "arn:aws:sns:us-east:123456789012:t",
                "arn:aws:sns:us-east-1:123456789012:",
                "arn:aws:sns:us-east-1:123456789012:a b",
                "db-restores",
            ],
        ),
        (
            rules.K8sName,
            ["app-db", "a", "a.b-c", "a" * 253],
            ["App-db", "-app", "app-", "app_db", "", "a" * 254],
        ),
        (rules.K8sKey, ["password", "mask.sql", "A_b-1"], ["", "a/b", "a b"]),
        (rules.PgDatabase, ["app", "_x", "shop$1", "a-b"], ["1app", "a b", "a;b", "", "a" * 64]),
    ],
)
def test_patterned_ids(type_: Any, good: list[str], bad: list[str]) -> None:
    for value in good:
        assert model_accepts(type_, value), value
    for value in bad:
        assert not model_accepts(type_, value), value


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("instanceClass", ["db.r6g.large", "db.serverless", "db.x2g.16xlarge"], ["r6g.large"]),
        ("engineVersion", ["15", "15.4", "16.4.1"], ["15.", "v15", "15.4.1.2", "15a"]),
        ("dbSubnetGroupName", ["staging-subnets", "My group_1.a"], ["", "bad/name"]),
    ],
)
def test_target_string_fields(field: str, good: list[str], bad: list[str]) -> None:
    for value in good:
        assert validate_spec(with_target(**{field: value}))
    for value in bad:
        assert one_problem(with_target(**{field: value})).startswith(f"spec.target.{field}: ")


# --- dates and durations --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-11-26", "2024-02-29", "2026-12-31", "latest"])
def test_date_valid(value: str) -> None:
    assert validate_spec(with_source(clusterIdentifier="prod", date=value)).source.date == value


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "2025-02-29", "2026-13-01", "2026-11-31", "26-11-26", "2026-1-1",
     "20261126", "2026-11-26T00:00:00", "Latest", "yesterday", "0000-01-01", "2026-11-26\n"],
)  # fmt: skip
def test_date_invalid(value: str) -> None:
    message = one_problem(with_source(clusterIdentifier="prod", date=value))
    assert message.startswith("spec.source.date: must be a UTC date YYYY-MM-DD or 'latest'")


def test_date_only_with_cluster_identifier() -> None:
    message = one_problem(with_source(snapshotIdentifier="snap", date="2026-11-26"))
    assert message == (
        "spec.source: date only applies with clusterIdentifier, not snapshotIdentifier"
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("45s", 45), ("1h2m3s", 3723), ("0s", 0),
     ("0", 0), ("500ms", 0.5), ("1.5h", 5400), ("30m1h", 5400), ("1m30s500ms", 90.5),
     ("2500us", 0.0025), ("999999h", 999999 * 3600)],
)  # fmt: skip
def test_duration_valid(value: str, seconds: float) -> None:
    # Go's time.ParseDuration gives the same values (units in any order, decimals).
    assert rules.parse_duration(value).total_seconds() == seconds
    assert validate_spec(with_source(clusterIdentifier="prod", waitTimeout=value))


@pytest.mark.parametrize(
    "value",
    ["", "2", "2 hours", "2H", "-1h", "+1h", "1d", "1w", "1y", "h", "2h\n", "٢h", ".5s", "1.h",
     "1234567h", "1µs"],
)  # fmt: skip
def test_duration_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="must be a duration such as 90m, 2h, 1h30m or 500ms"):
        rules.parse_duration(value)
    message = one_problem(base_spec(timeouts={"total": value}))
    assert message.startswith("spec.timeouts.total: must be a duration")


def test_longest_duration_fits() -> None:
    # The CRD's maxLength and the digit bounds keep every accepted value inside timedelta.
    longest = "999999h" * 9
    assert len(longest) <= 64
    assert rules.parse_duration(longest).days > 0
    with pytest.raises(ValueError, match="must be a duration"):
        rules.parse_duration(longest + "9s")  # 65 characters: longer than the CRD allows


# --- choices --------------------------------------------------------------------------------


def test_source_needs_exactly_one_of_snapshot_or_cluster() -> None:
    expected = (
        "spec.source: set exactly one of snapshotIdentifier (an exact snapshot) or "
        "clusterIdentifier (pick that cluster's snapshot by date)"
    )
    assert one_problem(with_source()) == expected
    assert one_problem(with_source(snapshotIdentifier="snap", clusterIdentifier="prod")) == expected


def test_network_subnet_group_or_vpc_with_subnets() -> None:
    subnets = ["subnet-0123abcd", "subnet-4567ef01"]
    assert validate_spec(with_target(dbSubnetGroupName="g"))
    assert validate_spec(with_target(vpcId="vpc-0123abcd", subnetIds=subnets))
    assert one_problem(with_target(subnetIds=subnets)) == (
        "spec.target: vpcId and subnetIds go together: set both or neither"
    )
    assert one_problem(with_target(vpcId="vpc-0123abcd")).endswith("set both or neither")
    assert one_problem(
        with_target(dbSubnetGroupName="g", vpcId="vpc-0123abcd", subnetIds=subnets)
    ) == ("spec.target: set either dbSubnetGroupName or vpcId with subnetIds, not both")
    assert "at least 2 subnets" in one_problem(
        with_target(vpcId="vpc-0123abcd", subnetIds=subnets[:1])
    )
    assert "at most 20" in one_problem(
        with_target(vpcId="vpc-0123abcd", subnetIds=[f"subnet-{i:08x}" for i in range(21)])
    )
    assert "at most 5" in one_problem(
        with_target(vpcSecurityGroupIds=[f"sg-{i:08x}" for i in range(6)])
    )


def test_master_password_exactly_one_source() -> None:
    ref = {"name": "master"}
    assert validate_spec(base_spec(masterPassword={"secretRef": ref}))
    assert validate_spec(base_spec(masterPassword={"secretsManagerSecretId": "prod/master"}))
    expected = "spec.masterPassword: set exactly one of secretRef or secretsManagerSecretId"
    assert one_problem(base_spec(masterPassword={})) == expected
    both = {"secretRef": ref, "secretsManagerSecretId": "x"}
    assert one_problem(base_spec(masterPassword=both)) == expected


def test_secret_ref_key_defaults_to_password() -> None:
    parsed = validate_spec(base_spec(masterPassword={"secretRef": {"name": "master"}}))
    assert parsed.master_password and parsed.master_password.secret_ref
    assert parsed.master_password.secret_ref.key == "password"


MASTER = {"secretRef": {"name": "master"}}
SAME_REGION = {"region": "us-east-1", "clusterIdentifier": "staging"}


def user(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "passwordSecretRef": {"name": "app-db"}, **fields}


def test_user_exactly_one_password_source() -> None:
    assert validate_spec(base_spec(masterPassword=MASTER, users=[user()]))
    sm = {"name": "app", "passwordSecretsManagerSecretId": "arn:aws:secretsmanager:x"}
    assert validate_spec(base_spec(masterPassword=MASTER, users=[sm]))
    expected = (
        "spec.users[0]: user 'app': set exactly one of passwordSecretRef or "
        "passwordSecretsManagerSecretId"
    )
    assert one_problem(base_spec(masterPassword=MASTER, users=[{"name": "app"}])) == expected
    both = {**sm, "passwordSecretRef": {"name": "x"}}
    assert one_problem(base_spec(masterPassword=MASTER, users=[both])) == expected


@pytest.mark.parametrize("name", ["app", "_svc", "App_1", "a$b", "read-only", "a" * 63])
def test_user_name_valid(name: str) -> None:
    assert validate_spec(base_spec(masterPassword=MASTER, users=[user(name)]))


@pytest.mark.parametrize(
    "name",
    ['app"; DROP ROLE x; --', "app;", "a b", "1app", "", "a" * 64, "app\n", "app'", "ä"],
)
def test_user_name_hostile_or_malformed(name: str) -> None:
    message = one_problem(base_spec(masterPassword=MASTER, users=[user(name)]))
    assert message.startswith("spec.users[0].name: must be 1-63 letters, digits, '_', '$' or '-'")


@pytest.mark.parametrize(
    "name", ["postgres", "Postgres", "rdsadmin", "rdsrepladmin", "rds_superuser", "public",
             "pg_monitor", "rds_x", "rdsfoo"],
)  # fmt: skip
def test_user_name_reserved(name: str) -> None:
    message = one_problem(base_spec(masterPassword=MASTER, users=[user(name)]))
    assert message == (
        f"spec.users[0].name: {name!r} is reserved by PostgreSQL or RDS; choose another name"
    )


def test_user_names_unique_case_insensitively() -> None:
    message = one_problem(base_spec(masterPassword=MASTER, users=[user("App"), user("app")]))
    assert message == "spec: users lists app more than once"


def test_user_privileges_and_databases() -> None:
    parsed = validate_spec(base_spec(masterPassword=MASTER, users=[user()]))
    assert parsed.users[0].privileges == restore.Privileges.readonly
    assert parsed.users[0].databases == []
    message = one_problem(base_spec(masterPassword=MASTER, users=[user(privileges="admin")]))
    assert message == "spec.users[0].privileges: must be 'readonly', 'readwrite' or 'owner'"


def test_sql_exactly_one_source() -> None:
    cm = {"configMapRef": {"name": "mask", "key": "mask.sql"}}
    parsed = validate_spec(base_spec(masterPassword=MASTER, sql=[cm, {"inline": "ANALYZE;"}]))
    assert [s.database for s in parsed.sql] == ["postgres", "postgres"]
    expected = "spec.sql[0]: set exactly one of configMapRef or inline"
    assert one_problem(base_spec(masterPassword=MASTER, sql=[{}])) == expected
    assert one_problem(base_spec(masterPassword=MASTER, sql=[{**cm, "inline": "x"}])) == expected
    assert one_problem(base_spec(masterPassword=MASTER, sql=[{"configMapRef": {"name": "m"}}]))


@pytest.mark.parametrize(
    "extra",
    [
        {"users": [user()]},
        {"sql": [{"inline": "ANALYZE;"}]},
        {"connectionSecret": {"name": "staging-db"}},
    ],
)
def test_master_password_required_for_database_work(extra: dict[str, Any]) -> None:
    message = one_problem(base_spec(**extra))
    assert message.startswith(
        "spec: masterPassword is required when users, sql or connectionSecret are set"
    )
    assert validate_spec(base_spec(masterPassword=MASTER, **extra))


def test_target_is_not_the_source_cluster_in_the_same_region() -> None:
    same = base_spec(target={"region": "us-east-1", "clusterIdentifier": "PROD"})
    assert one_problem(same) == (
        "spec: target.clusterIdentifier is the source cluster itself in the same region; "
        "restore to a different cluster"
    )
    # The same name in another region is another cluster.
    assert validate_spec(base_spec(target={"region": "us-west-2", "clusterIdentifier": "prod"}))


@pytest.mark.parametrize(
    "snapshot",
    [
        "rds:prod-2026-11-26-03-05",
        "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:prod-2026-11-26-03-05",
    ],
)
def test_target_is_not_the_cluster_of_an_automated_snapshot(snapshot: str) -> None:
    doc = base_spec(
        source={"region": "us-east-1", "snapshotIdentifier": snapshot},
        target={"region": "us-east-1", "clusterIdentifier": "Prod"},
    )
    assert one_problem(doc).startswith(
        "spec: target.clusterIdentifier is the cluster the source snapshot was taken from"
    )
    doc["target"]["clusterIdentifier"] = "prod-copy"
    assert validate_spec(doc)
    doc["target"] = {"region": "us-west-2", "clusterIdentifier": "prod"}
    assert validate_spec(doc)


def test_copy_kms_key_only_cross_region() -> None:
    assert validate_spec(base_spec(copy={"kmsKeyId": "alias/staging"})).cross_region
    same = base_spec(
        copy={"kmsKeyId": "alias/staging"},
        target={"region": "us-east-1", "clusterIdentifier": "staging"},
    )
    assert one_problem(same) == (
        "spec: copy.kmsKeyId only applies when target.region differs from source.region or "
        "source.roleArn is set; remove it or use target.kmsKeyId"
    )
    # From another account the snapshot is copied in the same region too.
    role = "arn:aws:iam::111122223333:role/aurora-restore-source"
    other_account = validate_spec(
        {**same, "source": {**same["source"], "roleArn": role, "snapshotType": "manual"}}
    )
    assert other_account.copies and not other_account.cross_region


def test_role_arn_rules() -> None:
    role = "arn:aws:iam::111122223333:role/path/aurora-restore-source"
    source = {"region": "us-east-1", "snapshotIdentifier": "prod-manual-1", "roleArn": role}
    spec = validate_spec(base_spec(source={**source, "externalId": "staging-refresh"}))
    assert spec.cross_account and spec.source.external_id == "staging-refresh"
    assert not validate_spec(base_spec()).cross_account
    bad_arn = one_problem(base_spec(source={**source, "roleArn": "arn:aws:iam::1:role/x"}))
    assert bad_arn.startswith("spec.source.roleArn: must be an IAM role ARN")
    no_role = {"region": "us-east-1", "snapshotIdentifier": "p", "externalId": "x1"}
    assert one_problem(base_spec(source=no_role)).endswith("externalId only applies with roleArn")
    too_long = one_problem(base_spec(source={**source, "externalId": "x" * 1225}))
    assert too_long.startswith("spec.source.externalId")


def test_copy_target_snapshot_identifier() -> None:
    assert validate_spec(base_spec(copy={"targetSnapshotIdentifier": "prod-copy-1"}))
    message = one_problem(base_spec(copy={"targetSnapshotIdentifier": "rds:prod"}))
    assert message.startswith("spec.copy.targetSnapshotIdentifier: a cluster snapshot identifier")


def test_instances_bounds_and_strict_types() -> None:
    assert validate_spec(with_target(instances=0)).target.instances == 0
    assert validate_spec(with_target(instances=16)).target.instances == 16
    for bad in (-1, 17, "2", 2.0, True):
        assert one_problem(with_target(instances=bad)).startswith("spec.target.instances: ")
    for bad in ("true", 1):
        assert one_problem(with_target(deletionProtection=bad)).startswith(
            "spec.target.deletionProtection: "
        )


def test_tags() -> None:
    ok = {"environment": "staging", "cost center": "a.b:c/d=e+f-g@h_i", "empty": ""}
    assert validate_spec(with_target(tags=ok)).target.tags == ok
    for key in ("aws:cloudformation", "AWS:x", "a\tb", "a\nb", "", "k" * 129, "ä"):
        message = one_problem(with_target(tags={key: "v"}))
        assert message.startswith("spec.target.tags: tag key")
        assert "1-128 letters, digits, spaces or _.:/=+-@ and not start with aws:" in message
    assert "reserved for the operator" in one_problem(
        with_target(tags={"dbrestore.io/managed-by": "me"})
    )
    assert "has a value that is not 0-256" in one_problem(with_target(tags={"k": "v" * 257}))
    assert "has a value" in one_problem(with_target(tags={"k": "a\nb"}))
    assert "at most 40 tags" in one_problem(with_target(tags={f"k{i}": "v" for i in range(41)}))


def test_notification() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:db-restores"
    parsed = validate_spec(base_spec(notification={"snsTopicArn": arn, "events": ["Failed"]}))
    assert parsed.notification.events == [restore.NotifyOn.Failed]
    assert one_problem(base_spec(notification={"snsTopicArn": "topic"})).startswith(
        "spec.notification.snsTopicArn: must be an SNS topic ARN"
    )
    assert one_problem(base_spec(notification={"events": ["Started"]})).startswith(
        "spec.notification.events[0]: must be 'Completed' or 'Failed'"
    )
    assert one_problem(base_spec(notification={"events": ["Failed", "Failed"]})) == (
        "spec.notification.events: lists an event more than once"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("archive", {"policy": "Keep"}, "spec.archive.policy: must be 'Delete', 'Retain' or 'Tag'"),
        ("deletionPolicy", "Orphan", "spec.deletionPolicy: must be 'Retain' or 'Delete'"),
        ("connectionSecret", {"name": "Bad_Name"}, "spec.connectionSecret.name: must be a Kub"),
    ],
)
def test_other_enums_and_names(field: str, value: Any, message: str) -> None:
    doc = base_spec(masterPassword=MASTER, **{field: value})
    assert one_problem(doc).startswith(message)


def test_snapshot_type_enum() -> None:
    for value in ("automated", "manual", "any"):
        assert validate_spec(with_source(clusterIdentifier="p", snapshotType=value))
    assert one_problem(with_source(clusterIdentifier="p", snapshotType="shared")) == (
        "spec.source.snapshotType: must be 'automated', 'manual' or 'any'"
    )


def test_required_and_unknown_fields() -> None:
    assert problems({}) == ["spec.source: is required", "spec.target: is required"]
    assert one_problem(with_target(clusterIdentifer="x")) == (
        "spec.target.clusterIdentifer: is not a known field; check its spelling against the "
        "AuroraRestore reference"
    )
    assert problems("not a mapping") == ["spec must be a mapping"]


# --- defaults -------------------------------------------------------------------------------


def test_defaults() -> None:
    parsed = validate_spec(base_spec())
    assert parsed.source.date is None
    assert parsed.source.snapshot_type == restore.SnapshotType.automated
    assert parsed.source.wait_timeout == "1h"
    assert parsed.copy_.kms_key_id is None and parsed.copy_.target_snapshot_identifier is None
    target = parsed.target
    assert target.existing_cluster == restore.ExistingCluster.Fail
    assert (target.instance_class, target.instances) == ("db.r6g.large", 1)
    assert target.vpc_security_group_ids == [] and target.tags == {}
    assert target.deletion_protection is False and target.final_snapshot is False
    assert parsed.master_password is None and parsed.connection_secret is None
    assert parsed.users == [] and parsed.sql == []
    assert parsed.archive.policy == restore.ArchivePolicy.Delete
    assert parsed.notification.sns_topic_arn is None
    assert parsed.notification.events == [restore.NotifyOn.Completed, restore.NotifyOn.Failed]
    assert parsed.deletion_policy == restore.DeletionPolicy.Retain
    assert parsed.timeouts.total == "6h"
    assert parsed.cross_region


def test_camel_case_aliases_and_snake_case_names() -> None:
    by_alias = validate_spec(base_spec(deletionPolicy="Delete"))
    by_name = AuroraRestoreSpec.model_validate({**base_spec(), "deletion_policy": "Delete"})
    assert by_alias == by_name
    dumped = by_alias.model_dump(mode="json", by_alias=True)
    assert "deletionPolicy" in dumped and "copy" in dumped and "copy_" not in dumped


# --- every message names its field ----------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (with_target(clusterIdentifier="a--b"), "spec.target.clusterIdentifier"),
        (with_source(snapshotIdentifier="bad--snap"), "spec.source.snapshotIdentifier"),
        (with_source(clusterIdentifier="p", date="x"), "spec.source.date"),
        (with_source(clusterIdentifier="p", waitTimeout="x"), "spec.source.waitTimeout"),
        (base_spec(target={"region": "x", "clusterIdentifier": "s"}), "spec.target.region"),
        (with_target(vpcId="vpc-1", subnetIds=["subnet-0123abcd"] * 2), "spec.target.vpcId"),
        (with_target(vpcSecurityGroupIds=["sg-x"]), "spec.target.vpcSecurityGroupIds[0]"),
        (with_target(kmsKeyId="x"), "spec.target.kmsKeyId"),
        (base_spec(copy={"kmsKeyId": "x"}), "spec.copy.kmsKeyId"),
        (base_spec(masterPassword={"secretRef": {"name": "A"}}), "spec.masterPassword.secretRef"),
        (base_spec(masterPassword=MASTER, users=[user("x", databases=["a b"])]), "databases[0]"),
        (base_spec(masterPassword=MASTER, sql=[{"inline": ""}]), "spec.sql[0].inline"),
        (base_spec(timeouts={"total": "x"}), "spec.timeouts.total"),
        (with_source(), "snapshotIdentifier"),
        (with_target(subnetIds=["subnet-0123abcd"] * 2), "vpcId"),
        (base_spec(copy={"kmsKeyId": "alias/x"}, target=SAME_REGION), "copy.kmsKeyId"),
        (base_spec(users=[user()]), "masterPassword"),
        (base_spec(target={"region": "us-east-1", "clusterIdentifier": "prod"}),
         "target.clusterIdentifier"),
    ],
)  # fmt: skip
def test_every_message_names_its_field(doc: dict[str, Any], field: str) -> None:
    found = problems(doc)
    assert found and all(field in message for message in found), found
    # One sentence a user can act on: the path, then what is wrong or allowed.
    assert all(message.startswith("spec") and ": " in message for message in found)


# --- resolve_snapshot_date and status -------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC), "2026-11-26"),
        (dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC), "2026-02-28"),
        (dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC), "2025-12-31"),
        # 23:30 on the 27th in New York is already the 28th in UTC: yesterday is the 27th.
        (dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
         "2026-11-27"),
        # 00:30 on the 27th in Tokyo is still the 26th in UTC: yesterday is the 25th.
        (dt.datetime(2026, 11, 27, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=9))),
         "2026-11-25"),
    ],
)  # fmt: skip
def test_resolve_snapshot_date_is_yesterday_utc(now: dt.datetime, expected: str) -> None:
    assert resolve_snapshot_date(validate_spec(base_spec()), now) == expected


def test_resolve_snapshot_date_keeps_an_explicit_date_and_ignores_snapshots() -> None:
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    for value in ("2026-11-20", "latest"):
        parsed = validate_spec(with_source(clusterIdentifier="prod", date=value))
        assert resolve_snapshot_date(parsed, now) == value
    assert resolve_snapshot_date(validate_spec(with_source(snapshotIdentifier="s")), now) is None


def test_status_steps_and_dump() -> None:
    status = AuroraRestoreStatus()
    assert status.phase == status_api.Phase.Pending
    first = status.step("snapshot-check")
    assert status.step("snapshot-check") is first and len(status.steps) == 1
    assert status_api.STEP_NAMES[0] == "snapshot-check" and len(status_api.STEP_NAMES) == 13
    # The seed's ten, in the seed's order, and the three of existingCluster: Swap.
    seed = [
        n
        for n in status_api.STEP_NAMES
        if n not in ("swap-clusters", "delete-retired-cluster", "undo-swap")
    ]
    assert len(seed) == 10 and seed[-1] == "sns-notification"
    dumped = status.to_dict()
    assert dumped["phase"] == "Pending"
    assert dumped["steps"] == [{"name": "snapshot-check", "state": "Pending", "attempts": 0}]
    assert "operationId" not in dumped  # None is left out of the status patch
    assert status_api.Phase.Completed.finished and status_api.Phase.Failed.finished
    assert not status_api.Phase.CopyingSnapshot.finished


def test_step_names_are_the_pipeline_steps() -> None:
    """One list in the spec (for the CRD and the docs), one table in the pipeline: the same."""
    from aurora_restore.pipeline.table import STEP_NAMES

    assert list(STEP_NAMES) == list(status_api.STEP_NAMES)
