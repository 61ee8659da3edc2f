"""What docs/iam-policy.json guarantees on its own, what it cannot say, and what the
guardrail SCP (docs/iam-guardrails-scp.json) adds; every policy linted with parliament."""

from __future__ import annotations

import json

import parliament
import pytest
from iam_eval import Request, decide
from ship_support import REPO

DOCS = REPO / "docs"
POLICY = json.loads((DOCS / "iam-policy.json").read_text())
SCP = json.loads((DOCS / "iam-guardrails-scp.json").read_text())
POLICY_FILES = ["iam-policy.json", "iam-guardrails-scp.json", "iam-policy-source.json"]

MB, OP, OWNER = "dbrestore.io/managed-by", "dbrestore.io/operation-id", "dbrestore.io/owner"
OURS = {MB: "aurora-restore-operator", OP: "op-3f2a9c1d5e7b", OWNER: "databases/staging-refresh"}
PROD = "arn:aws:rds:us-east-1:123456789012:cluster:prod"
STAGING = "arn:aws:rds:us-west-2:123456789012:cluster:staging-app"
COPY = "arn:aws:rds:us-west-2:123456789012:cluster-snapshot:staging-app-op-3f2a9c1d5e7b"
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:team-a/payments-AbCdEf"

# parliament findings accepted, each with the reason (statement Sid -> issue -> why).
ACCEPTED = {
    # The batched per-region Describe calls list every cluster, instance and subnet group of
    # a region in one request (filters, no identifier), which RDS authorizes only on "*".
    ("RdsRead", "RESOURCE_STAR"),
    # kms:CreateGrant is "permissions management" by nature: RDS creates a grant on the
    # target key for an encrypted copy/restore. The statement allows it only through RDS
    # (kms:ViaService) and only for AWS resources (kms:GrantIsForAWSResource).
    ("KmsGrantForRds", "PERMISSIONS_MANAGEMENT_ACTIONS"),
    # sts:AssumeRole hands out credentials by nature: only of the source roles listed (the
    # same ARNs as AURORA_RESTORE_SOURCE_ROLE_ARNS), for source.roleArn.
    ("StsAssumeSourceRoles", "CREDENTIALS_EXPOSURE"),
}


def _findings(name: str) -> list[tuple[str, str, object]]:
    policy = parliament.analyze_policy_string(
        (DOCS / name).read_text(), include_community_auditors=True
    )
    statements = json.loads((DOCS / name).read_text())["Statement"]
    out = []
    for f in policy.findings:
        # parliament names the actions in `detail` or in `location`, in any case
        detail = json.dumps([f.detail, f.location], default=str).lower()
        sids = [s["Sid"] for s in statements if any(a.lower() in detail for a in _actions(s))]
        out.append((sids[0] if sids else "?", f.issue, f.detail))
    return out


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("name", POLICY_FILES)
def test_parliament_finds_nothing_unexplained(name):
    unexplained = [
        (sid, issue, d) for sid, issue, d in _findings(name) if (sid, issue) not in ACCEPTED
    ]
    assert unexplained == []


def test_parliament_would_catch_a_wrong_condition_key():
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "rds:DeleteDBCluster",
                "Resource": ["arn:aws:rds:*:*:cluster:*", "arn:aws:rds:*:*:cluster-snapshot:*"],
                "Condition": {"StringEquals": {"rds:managed-by": "aurora-restore-operator"}},
            }
        ],
    }
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(bad)).findings}
    assert "UNKNOWN_CONDITION_FOR_ACTION" in issues


def test_every_accepted_finding_still_occurs():
    found = {(sid, issue) for name in POLICY_FILES for sid, issue, _ in _findings(name)}
    assert ACCEPTED <= found, f"accepted but no longer found (remove them): {ACCEPTED - found}"


# --- the identity policy alone -----------------------------------------------------------


def test_restores_and_creates_only_with_the_managed_by_tag():
    restore = Request.of("rds:RestoreDBClusterFromSnapshot", STAGING, request_tags=OURS)
    assert decide(restore, POLICY) == "allowed"
    untagged = Request.of("rds:RestoreDBClusterFromSnapshot", STAGING)
    assert decide(untagged, POLICY) == "implicit"
    # create-time tagging (RDS authorizes AddTagsToResource on the new resource)
    assert decide(Request.of("rds:AddTagsToResource", STAGING, request_tags=OURS), POLICY) == (
        "allowed"
    )


@pytest.mark.parametrize(
    "action", ["rds:DeleteDBCluster", "rds:ModifyDBCluster", "rds:DeleteDBInstance"]
)
def test_destroys_only_what_carries_the_tags_value(action):
    assert decide(Request.of(action, STAGING, resource_tags=OURS), POLICY) == "allowed"
    assert decide(Request.of(action, PROD), POLICY) == "implicit"
    forged = {MB: "yes"}  # `Null: false` used to let any value through
    assert decide(Request.of(action, PROD, resource_tags=forged), POLICY) == "implicit"


def test_tags_without_the_managed_by_value_are_refused():
    for tags in ({"team": "x"}, {MB: "someone-else", OP: "op-1", OWNER: "a/b"}, {MB: OURS[MB]}):
        assert decide(Request.of("rds:AddTagsToResource", PROD, request_tags=tags), POLICY) == (
            "implicit"
        ), tags


def test_archive_tag_only_on_the_operators_copies():
    archived = {"dbrestore.io/archived": "2026-11-27T03:50:00Z"}
    ours = Request.of("rds:AddTagsToResource", COPY, request_tags=archived, resource_tags=OURS)
    assert decide(ours, POLICY) == "allowed"
    foreign = Request.of("rds:AddTagsToResource", COPY, request_tags=archived)
    assert decide(foreign, POLICY) == "implicit"
    more = Request.of(
        "rds:AddTagsToResource", COPY, request_tags={**archived, "x": "y"}, resource_tags=OURS
    )
    assert decide(more, POLICY) == "implicit"


def test_what_iam_alone_cannot_say_is_documented():
    """RDS has no condition key that tells create-time tagging from a standalone
    AddTagsToResource, so the identity policy lets the role put all three tags on an existing
    cluster. docs/iam.md says so, and the SCP closes it (below)."""
    takeover = Request.of("rds:AddTagsToResource", PROD, request_tags=OURS)
    assert decide(takeover, POLICY) == "allowed"
    doc = (DOCS / "iam.md").read_text()
    assert "cannot" in doc and "iam-guardrails-scp.json" in doc and "CreateAction" in doc


def test_secrets_only_with_a_namespace_tag():
    tagged = {"dbrestore.io/namespace": "databases"}
    get = "secretsmanager:GetSecretValue"
    assert decide(Request.of(get, SECRET, resource_tags=tagged), POLICY) == "allowed"
    assert decide(Request.of(get, SECRET), POLICY) == "implicit"


# --- with the guardrail SCP ---------------------------------------------------------------


def test_scp_closes_the_takeover_outside_the_restore_targets():
    takeover = Request.of("rds:AddTagsToResource", PROD, request_tags=OURS)
    assert decide(takeover, POLICY, SCP) == "denied"
    delete = Request.of("rds:DeleteDBCluster", PROD, resource_tags=OURS)
    assert decide(delete, POLICY, SCP) == "denied"


def test_scp_protects_tagged_clusters_even_inside_the_targets():
    protected = {"dbrestore.io/protected": "true"}
    for action in ("rds:AddTagsToResource", "rds:DeleteDBCluster", "rds:RemoveTagsFromResource"):
        request = Request.of(action, STAGING, request_tags=OURS, resource_tags=protected)
        assert decide(request, POLICY, SCP) == "denied", action


def test_scp_leaves_the_operators_own_work_alone():
    for request in (
        Request.of("rds:RestoreDBClusterFromSnapshot", STAGING, request_tags=OURS),
        Request.of("rds:AddTagsToResource", STAGING, request_tags=OURS),
        Request.of("rds:AddTagsToResource", COPY, request_tags=OURS),
        Request.of("rds:DeleteDBCluster", STAGING, resource_tags=OURS),
        Request.of("rds:DeleteDBClusterSnapshot", COPY, resource_tags=OURS),
    ):
        assert decide(request, POLICY, SCP) == "allowed", request


def test_scp_applies_only_to_the_operators_role():
    admin = "arn:aws:iam::123456789012:role/platform-admin"
    request = Request.of("rds:AddTagsToResource", PROD, request_tags=OURS, principal=admin)
    assert decide(request, SCP) == "implicit"  # not denied: the SCP is not about admins


def test_the_evaluator_follows_awss_documented_rules():
    """Cases whose answers AWS's policy evaluation documentation states."""
    allow = {"Statement": [{"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}]}
    deny = {"Statement": [{"Effect": "Deny", "Action": "rds:*", "Resource": "*"}]}
    describe = Request.of("rds:DescribeDBClusters", PROD)
    assert decide(describe, allow) == "allowed"
    assert decide(describe, allow, deny) == "denied"  # an explicit deny wins
    assert decide(Request.of("rds:DeleteDBCluster", PROD), allow) == "implicit"
    null_false = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "rds:*",
                "Resource": "*",
                "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
            }
        ]
    }
    # ForAllValues over a missing key is true (the documented pitfall)
    assert decide(describe, null_false) == "allowed"
    assert decide(Request.of("rds:X", PROD, request_tags={"b": "1"}), null_false) == "implicit"


def test_scp_keeps_source_snapshots_out_of_reach():
    source = "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:prod-manual-2026-11-26"
    tag = Request.of("rds:AddTagsToResource", source, request_tags=OURS)
    assert decide(tag, POLICY) == "allowed"  # IAM alone: the same gap as for clusters
    assert decide(tag, POLICY, SCP) == "denied"
    delete = Request.of("rds:DeleteDBClusterSnapshot", source, resource_tags=OURS)
    assert decide(delete, POLICY, SCP) == "denied"
