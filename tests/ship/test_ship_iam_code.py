"""Every AWS operation the code calls is granted by docs/iam-policy.json, or for the
source account of a cross-account restore (aws/source.py, the assumed role), by
docs/iam-policy-source.json.

The adapters call AWS only through ``Clients.call(service, region, "Operation", ...)`` and
thin wrappers of it, so a scan of their source finds every operation by name.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from iam_policy import allowed

AWS_DIR = Path(__file__).resolve().parents[2] / "operator" / "aurora_restore" / "aws"
SOURCE_ADAPTER = AWS_DIR / "source.py"
SOURCE_POLICY = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "iam-policy-source.json").read_text()
)
# What the source role may change in the production account: nothing but the share.
SOURCE_WRITES = {("rds", "ModifyDBClusterSnapshotAttribute")}
# Wrappers that fix the service: method name -> (service, index of the operation argument).
WRAPPERS = {
    "_call": ("rds", 1),
    "_maybe": ("rds", 1),
    "call_or_none": ("rds", 1),
    "_dynamodb": ("dynamodb", 0),
}


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def called_operations(paths: list[Path] | None = None) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in paths or [p for p in AWS_DIR.glob("*.py") if p != SOURCE_ADAPTER]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name, args = node.func.attr, node.args
            if name == "call" and len(args) >= 3 and _literal(args[0]) and _literal(args[2]):
                found.add((_literal(args[0]) or "", _literal(args[2]) or ""))
            elif name in WRAPPERS:
                service, index = WRAPPERS[name]
                if len(args) > index and _literal(args[index]):
                    found.add((service, _literal(args[index]) or ""))
    return found


def test_the_scan_finds_the_pipelines_calls() -> None:
    ops = called_operations()
    for expected in (
        ("rds", "CopyDBClusterSnapshot"),
        ("rds", "RestoreDBClusterFromSnapshot"),
        ("rds", "RestoreDBClusterToPointInTime"),
        ("rds", "DeleteDBCluster"),
        ("dynamodb", "PutItem"),
        ("sns", "Publish"),
        ("cloudwatch", "PutMetricData"),
        ("ec2", "DescribeSubnets"),
        ("secretsmanager", "GetSecretValue"),
        ("ssm", "GetParametersByPath"),
    ):
        assert expected in ops


def test_every_called_operation_is_allowed() -> None:
    missing = sorted(f"{s}:{o}" for s, o in called_operations() if not allowed(s, o))
    assert missing == [], f"add to docs/iam-policy.json (and docs/iam.md): {missing}"


def test_every_source_account_operation_is_in_the_source_policy() -> None:
    ops = called_operations([SOURCE_ADAPTER])
    assert ("rds", "ModifyDBClusterSnapshotAttribute") in ops
    missing = sorted(f"{s}:{o}" for s, o in ops if not allowed(s, o, SOURCE_POLICY))
    assert missing == [], (
        f"add to docs/iam-policy-source.json (and docs/cross-account.md): {missing}"
    )


def test_the_source_policy_allows_no_other_write() -> None:
    """Read-only but for the share: every action is a read, or the snapshot attribute."""
    actions = {a for s in SOURCE_POLICY["Statement"] for a in _listed(s["Action"])}
    writes = {a for a in actions if not a.split(":")[1].startswith(("Describe", "Get", "List"))}
    assert writes == {f"{s}:{o}" for s, o in SOURCE_WRITES}
    assert all(s["Effect"] == "Allow" for s in SOURCE_POLICY["Statement"])
    assert "*" not in json.dumps(SOURCE_POLICY).replace(":*", "").replace("/*", "")


def test_the_operator_assumes_only_listed_roles() -> None:
    from iam_policy import statements_allowing

    found = statements_allowing("sts", "AssumeRole")
    assert found and all(
        r.startswith("arn:aws:iam::") and ":role/" in r
        for s in found
        for r in _listed(s["Resource"])
    )


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
