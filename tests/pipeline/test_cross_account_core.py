"""The functional core of cross-account restores: which roles may be assumed, and whether
the target account may use the source snapshot's KMS key (no I/O here)."""

from __future__ import annotations

import json
from typing import Any

from aurora_restore.pipeline.context import PipelineConfig
from aurora_restore.pipeline.ports import KeyAccess
from aurora_restore.pipeline.steps._cross_account import key_problem, session_name

TARGET = "444455556666"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, action: Any, effect: str = "Allow") -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": "*"}


def access(text: str | None, grants: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> KeyAccess:
    return KeyAccess(KEY, "CUSTOMER", "Enabled", text, grants)


ALL = ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"]


def test_a_statement_for_the_target_account_is_enough() -> None:
    for principal in (
        {"AWS": f"arn:aws:iam::{TARGET}:root"},
        {"AWS": TARGET},
        {"AWS": [f"arn:aws:iam::{TARGET}:role/aurora-restore-operator"]},
        {"AWS": "*"},
        "*",
    ):
        assert key_problem(access(policy(allow(principal, ALL))), TARGET) is None, principal
    for action in ("kms:*", "*", ["kms:Decrypt", "kms:Describe*", "kms:Create*"]):
        text = policy(allow({"AWS": TARGET}, action))
        assert key_problem(access(text), TARGET) is None, action


def test_what_is_missing_is_named() -> None:
    only_decrypt = policy(
        allow({"AWS": "arn:aws:iam::111122223333:root"}, "kms:*"),
        allow({"AWS": f"arn:aws:iam::{TARGET}:root"}, "kms:Decrypt"),
        # A Deny never grants, and another account's statement does not count.
        allow({"AWS": TARGET}, "kms:*", effect="Deny"),
        allow({"AWS": "arn:aws:iam::999999999999:root"}, "kms:*"),
    )
    problem = key_problem(
        access(only_decrypt, ((f"arn:aws:iam::{TARGET}:root", ("Decrypt",)),)), TARGET
    )
    assert problem is not None
    assert f"does not allow account {TARGET} kms:DescribeKey, kms:CreateGrant" in problem
    assert "no grant to that account allows DescribeKey, CreateGrant" in problem
    assert "key policy statement of docs/cross-account.md" in problem


def test_a_grant_to_the_target_account_is_enough() -> None:
    grants = ((f"arn:aws:iam::{TARGET}:root", ("Decrypt", "DescribeKey", "CreateGrant")),)
    assert key_problem(access(policy(), grants), TARGET) is None
    assert key_problem(access(None, grants), TARGET) is None
    other = (("arn:aws:iam::999999999999:root", ("Decrypt", "DescribeKey", "CreateGrant")),)
    assert key_problem(access(policy(), other), TARGET) is not None


def test_keys_another_account_can_never_use() -> None:
    managed = key_problem(KeyAccess(KEY, "AWS", "Enabled", None), TARGET)
    assert managed is not None and "AWS managed key" in managed
    disabled = key_problem(KeyAccess(KEY, "CUSTOMER", "Disabled", policy()), TARGET)
    assert disabled == f"its KMS key {KEY} is Disabled, not Enabled"
    unreadable = key_problem(access(None), TARGET)
    assert unreadable is not None and "kms:GetKeyPolicy" in unreadable


def test_roles_are_matched_by_glob_and_sessions_named_by_run() -> None:
    config = PipelineConfig(source_role_arns=("arn:aws:iam::111122223333:role/restore-*",))
    assert config.source_role_allowed("arn:aws:iam::111122223333:role/restore-prod")
    assert not config.source_role_allowed("arn:aws:iam::111122223333:role/admin")
    assert not config.source_role_allowed("arn:aws:iam::222222222222:role/restore-prod")
    assert not PipelineConfig().source_role_allowed("arn:aws:iam::111122223333:role/restore-x")
    assert session_name("op-3f2a9c1d5e7b") == "aurora-restore-op-3f2a9c1d5e7b"
