"""docs/iam-policy.json grants the pipeline's AWS operations, scoped where AWS allows."""

from __future__ import annotations

import json

import pytest
from iam_policy import POLICY_PATH, allowed, load_policy, statements_allowing

# The boto3 operations the pipeline calls (the code-derived check lives with the code).
OPERATIONS = {
    "rds": [
        "DescribeDBClusterSnapshots",
        "DescribeDBClusters",
        "DescribeDBInstances",
        "CopyDBClusterSnapshot",
        "CreateDBClusterSnapshot",  # implied by DeleteDBCluster with a final snapshot
        "DeleteDBInstance",
        "DeleteDBCluster",
        "RestoreDBClusterFromSnapshot",
        "RestoreDBClusterToPointInTime",
        "CreateDBInstance",
        "ModifyDBCluster",
        "DeleteDBClusterSnapshot",
        "AddTagsToResource",
        "ListTagsForResource",
        "CreateDBSubnetGroup",
        "DescribeDBSubnetGroups",
        "DescribeDBClusterParameterGroups",  # the preflight
        "DeleteDBSubnetGroup",  # the clean-up of a subnet group a run created
    ],
    "ec2": ["DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups"],
    "kms": ["DescribeKey", "CreateGrant", "Decrypt"],
    "dynamodb": [
        "PutItem",
        "BatchWriteItem",
        "UpdateItem",
        "GetItem",
        "BatchGetItem",
        "Query",
        "DescribeTable",
        "CreateTable",
    ],
    "sns": ["Publish", "GetTopicAttributes"],
    "ssm": ["GetParametersByPath", "GetParameter"],
    "secretsmanager": ["DescribeSecret", "GetSecretValue"],
    "sts": ["GetCallerIdentity", "AssumeRole"],  # AssumeRole: source.roleArn only
    "cloudwatch": ["PutMetricData"],
}
ALL = [(s, op) for s, ops in OPERATIONS.items() for op in ops]
MANAGED_BY = "aws:ResourceTag/dbrestore.io/managed-by"


@pytest.mark.parametrize(("service", "operation"), ALL, ids=[f"{s}:{o}" for s, o in ALL])
def test_operation_allowed(service, operation):
    assert allowed(service, operation)


def test_snake_case_method_names_work():
    assert allowed("rds", "describe_db_cluster_snapshots")
    assert allowed("rds", "restore_db_cluster_from_snapshot")
    assert allowed("dynamodb", "put_item")
    assert allowed("cloudwatch", "put_metric_data")


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("rds", "DeleteDBClusterParameterGroup"),
        ("rds", "CreateDBCluster"),
        ("rds", "ModifyDBInstance"),
        ("rds", "DeleteDBSnapshot"),
        ("dynamodb", "DeleteTable"),
        ("dynamodb", "Scan"),
        ("kms", "ScheduleKeyDeletion"),
        ("iam", "PassRole"),
        ("s3", "GetObject"),
        ("sns", "Subscribe"),
        ("ssm", "PutParameter"),
    ],
)
def test_nothing_else(service, operation):
    assert not allowed(service, operation)


def test_policy_shape():
    policy = json.loads(POLICY_PATH.read_text())
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    granted = set()
    for s in policy["Statement"]:
        assert s["Effect"] == "Allow"
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        for a in actions:
            assert "*" not in a, f"{s['Sid']}: wildcard action {a}"
            granted.add(a.lower())
    expected = {f"{s}:{op}".lower() for s, op in ALL}
    assert granted == expected, f"extra: {granted - expected}, missing: {expected - granted}"


@pytest.mark.parametrize(
    "operation",
    ["DeleteDBCluster", "DeleteDBInstance", "DeleteDBClusterSnapshot", "ModifyDBCluster"],
)
def test_destructive_rds_actions_need_the_managed_by_tag(operation):
    statements = statements_allowing("rds", operation)
    assert statements
    for s in statements:
        # the tag's value, not its mere presence: any value passed `Null: false`
        assert s["Condition"] == {"StringEquals": {MANAGED_BY: "aurora-restore-operator"}}, s["Sid"]


def test_every_tagging_statement_is_conditioned():
    statements = statements_allowing("rds", "AddTagsToResource")
    assert len(statements) == 2
    for s in statements:
        assert s["Resource"] != "*" and s.get("Condition"), s["Sid"]


def test_secrets_need_the_namespace_tag():
    (s,) = statements_allowing("secretsmanager", "GetSecretValue")
    assert s["Condition"] == {
        "Null": {"secretsmanager:ResourceTag/dbrestore.io/namespace": "false"}
    }


def test_scoped_statements():
    policy = load_policy()
    sid = {s["Sid"]: s for s in policy["Statement"]}
    for s in statements_allowing("dynamodb", "PutItem") + statements_allowing(
        "dynamodb", "CreateTable"
    ):
        resources = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
        assert resources and all(":table/aurora-restore-" in r for r in resources), s["Sid"]
    grant = statements_allowing("kms", "CreateGrant")
    assert grant and all(
        s["Condition"]["Bool"]["kms:GrantIsForAWSResource"] == "true" for s in grant
    )
    decrypt = statements_allowing("kms", "Decrypt")
    assert decrypt and all("kms:ViaService" in s["Condition"]["StringLike"] for s in decrypt)
    metrics = statements_allowing("cloudwatch", "PutMetricData")
    assert metrics[0]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "AuroraRestore"}}
    assert sid["SsmSettings"]["Resource"] != "*"


def test_every_statement_is_explained():
    from ship_support import REPO

    doc = (REPO / "docs" / "iam.md").read_text()
    for s in load_policy()["Statement"]:
        assert f"`{s['Sid']}`" in doc, f"docs/iam.md does not explain {s['Sid']}"
