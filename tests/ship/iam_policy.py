"""Answer "does docs/iam-policy.json allow this AWS operation?".

    from iam_policy import allowed          # tests/ship on sys.path (pytest does it)
    allowed("rds", "DescribeDBClusters")    # API name
    allowed("rds", "describe_db_clusters")  # or the boto3 client method name

An operation is allowed when an Allow statement's Action matches it (wildcards
included); conditions and resources are not evaluated here (they narrow *where*,
the question is *whether* the action is granted at all). Deny statements with no
condition win.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from pathlib import Path
from typing import Any

POLICY_PATH = Path(__file__).resolve().parents[2] / "docs" / "iam-policy.json"

# boto3 service name -> IAM action prefix, where they differ.
IAM_PREFIX = {
    "elbv2": "elasticloadbalancing",
    "stepfunctions": "states",
    "monitoring": "cloudwatch",
    "logs": "logs",
}


@functools.cache
def load_policy(path: Path = POLICY_PATH) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _norm(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _action(service: str, operation: str) -> str:
    return f"{IAM_PREFIX.get(service, service)}:{_norm(operation)}"


def _matches(statement: dict[str, Any], action: str) -> bool:
    patterns = _as_list(statement.get("Action", []))
    return any(fnmatch.fnmatchcase(action, _norm_pattern(p)) for p in patterns)


def _norm_pattern(pattern: str) -> str:
    prefix, _, name = pattern.partition(":")
    return f"{prefix.lower()}:{_norm(name)}"


def statements_allowing(
    service: str, operation: str, policy: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The Allow statements whose Action matches service:operation."""
    policy = policy or load_policy()
    action = _action(service, operation)
    return [s for s in policy["Statement"] if s.get("Effect") == "Allow" and _matches(s, action)]


def allowed(service: str, operation: str, policy: dict[str, Any] | None = None) -> bool:
    policy = policy or load_policy()
    action = _action(service, operation)
    for s in policy["Statement"]:
        if s.get("Effect") == "Deny" and "Condition" not in s and _matches(s, action):
            return False
    return bool(statements_allowing(service, operation, policy))
