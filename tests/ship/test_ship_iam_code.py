"""Every AWS operation the code calls is granted by docs/iam-policy.json.

The adapters call AWS only through ``Clients.call(service, region, "Operation", ...)`` and
thin wrappers of it, so a scan of their source finds every operation by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from iam_policy import allowed

AWS_DIR = Path(__file__).resolve().parents[2] / "operator" / "aurora_restore" / "aws"
# Wrappers that fix the service: method name -> (service, index of the operation argument).
WRAPPERS = {
    "_call": ("rds", 1),
    "_maybe": ("rds", 1),
    "call_or_none": ("rds", 1),
    "_dynamodb": ("dynamodb", 0),
}


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def called_operations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in AWS_DIR.glob("*.py"):
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
