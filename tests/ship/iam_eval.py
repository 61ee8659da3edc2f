"""A small evaluator of IAM policy documents, enough to ask the questions docs/iam.md answers:
may the role tag a cluster it did not create, delete an untagged one, read a secret of
another namespace, with the identity policy alone and with the guardrail SCP on top?

It implements AWS's documented evaluation for the parts these policies use: an explicit
Deny wins, otherwise an Allow is needed; Action and Resource/NotResource with `*` and `?`
wildcards; the condition operators StringEquals, StringNotEquals, StringLike, ArnLike,
Bool, Null and the ForAllValues:/ForAnyValue: set qualifiers; every key in a Condition
block must hold (AND), any value of a key may match (OR). A missing key fails every operator
but Null and ForAllValues:. It is not AWS: it says what the documents say, which is what the
tests need, and tests/ship/test_ship_iam_guardrails.py checks it against cases whose answers
AWS's documentation states.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

Context = dict[str, str | list[str]]


@dataclass
class Request:
    action: str
    resource: str
    context: Context = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        action: str,
        resource: str,
        *,
        request_tags: dict[str, str] | None = None,
        resource_tags: dict[str, str] | None = None,
        principal: str = "arn:aws:iam::123456789012:role/aurora-restore-operator",
        **extra: str | list[str],
    ) -> Request:
        ctx: Context = {"aws:PrincipalArn": principal, **extra}
        for key, value in (request_tags or {}).items():
            ctx[f"aws:RequestTag/{key}"] = value
        if request_tags:
            ctx["aws:TagKeys"] = list(request_tags)
        service = action.split(":", 1)[0]
        for key, value in (resource_tags or {}).items():
            ctx[f"aws:ResourceTag/{key}"] = value
            ctx[f"{service}:ResourceTag/{key}"] = value
        return cls(action, resource, ctx)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _lookup(ctx: Context, key: str) -> list[str] | None:
    for k, v in ctx.items():
        if k.lower() == key.lower():
            return [str(x) for x in _list(v)]
    return None


def _operator(name: str, wanted: list[str], got: list[str]) -> bool:
    """Does one value of `got` satisfy the operator against one of `wanted`?"""
    base = name.removesuffix("IfExists")
    for value in got:
        if base == "StringEquals" and value in wanted:
            return True
        if base == "StringNotEquals" and value not in wanted:
            return True
        if base in ("StringLike", "ArnLike") and any(_like(w, value) for w in wanted):
            return True
        if base == "Bool" and value.lower() in [w.lower() for w in wanted]:
            return True
    if base not in ("StringEquals", "StringNotEquals", "StringLike", "ArnLike", "Bool"):
        raise NotImplementedError(f"condition operator {name}")
    return False


def _condition_holds(op: str, key: str, wanted: Any, ctx: Context) -> bool:
    wanted_values = [str(w).lower() if op == "Null" else str(w) for w in _list(wanted)]
    got = _lookup(ctx, key)
    if op == "Null":
        return (got is None) == (wanted_values[0] == "true")
    qualifier, _, base = op.rpartition(":")
    if qualifier == "ForAllValues":
        return got is None or all(_operator(base, wanted_values, [g]) for g in got)
    if qualifier == "ForAnyValue":
        return got is not None and any(_operator(base, wanted_values, [g]) for g in got)
    if got is None:
        return op.endswith("IfExists")
    return _operator(op, wanted_values, got)


def _matches(statement: dict[str, Any], request: Request) -> bool:
    actions = [a.lower() for a in _list(statement.get("Action", []))]
    if not any(_like(a, request.action.lower()) for a in actions):
        return False
    if "NotResource" in statement:
        if any(_like(r, request.resource) for r in _list(statement["NotResource"])):
            return False
    elif not any(_like(r, request.resource) for r in _list(statement.get("Resource", []))):
        return False
    for op, block in (statement.get("Condition") or {}).items():
        for key, wanted in block.items():
            if not _condition_holds(op, key, wanted, request.context):
                return False
    return True


def decide(request: Request, *policies: dict[str, Any]) -> str:
    """`allowed`, `denied` (an explicit Deny) or `implicit` (no Allow) over identity policies;
    SCPs are passed the same way (their Deny statements apply, their absence of Allow is
    treated as AWS's default FullAWSAccess)."""
    statements = [s for p in policies for s in _list(p["Statement"])]
    if any(s["Effect"] == "Deny" and _matches(s, request) for s in statements):
        return "denied"
    if any(s["Effect"] == "Allow" and _matches(s, request) for s in statements):
        return "allowed"
    return "implicit"
