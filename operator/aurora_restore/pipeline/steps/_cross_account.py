"""source.roleArn: the snapshot lives in another AWS account (docs/cross-account.md).

The source side is read with the assumed role; the only change made there is the
snapshot's ``restore`` attribute: the target account is added before the copy and removed
once the copy is available, or after a failure or deletion, and only when this run added
it (a share that existed before is left as it was). Everything else happens in the
operator's own (target) account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..context import Context, StepResult
from ..errors import invalid
from ..ports import KeyAccess, Rds, SourceAccount

# SnapshotStatus.share: "adding" is written (and kept in status) before the attribute is
# changed, so that a run stopped between the two knows the share is its own.
ADDING, ADDED, EXISTING, REMOVED = "adding", "added", "existing", "removed"
OURS = frozenset({ADDING, ADDED})
# What the target account does with the source key while copying (the KMS key policy
# statement in docs/cross-account.md grants these, or a grant does).
KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant")
GRANT_OPERATIONS = ("Decrypt", "DescribeKey", "CreateGrant")


def session_name(operation_id: str) -> str:
    """The STS session name: CloudTrail in the source account shows which run it was."""
    return f"aurora-restore-{operation_id}"[:64]


def check_role(ctx: Context) -> None:
    """A ValidationError, before any AWS call, for a role the operator may not assume."""
    role = ctx.spec.source.role_arn
    if role and not ctx.config.source_role_allowed(role):
        raise invalid(
            f"source.roleArn {role} is not one of the roles this operator may assume "
            "(AURORA_RESTORE_SOURCE_ROLE_ARNS, Helm value aws.sourceRoleArns)",
            code="SourceRoleNotAllowed",
        )
    if role and ctx.ports.source_accounts is None:
        raise invalid("source.roleArn is not supported here: no source account access")
    named = ctx.spec.source.snapshot_identifier or ""
    if role and named.startswith("arn:") and named.split(":")[4] != role.split(":")[4]:
        # The snapshot is looked up in the role's account: another account's ARN would
        # silently find a namesake there.
        raise invalid(
            f"source.snapshotIdentifier is in account {named.split(':')[4]} but "
            f"source.roleArn is in account {role.split(':')[4]}; use a role of the "
            "snapshot's account"
        )


def source(ctx: Context) -> SourceAccount:
    role = ctx.spec.source.role_arn
    accounts = ctx.ports.source_accounts
    assert role and accounts, "only for source.roleArn (check_role ran first)"
    return accounts.open(role, ctx.spec.source.external_id, session_name(ctx.operation_id))


def snapshots(ctx: Context) -> Rds | SourceAccount:
    """Where the source snapshot is looked up: the source account, or our own."""
    return source(ctx) if ctx.spec.cross_account else ctx.ports.rds


def target_account(ctx: Context) -> str:
    assert ctx.ports.source_accounts
    return ctx.ports.source_accounts.target_account()


def _listed(values: object) -> list[str]:
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values] if isinstance(values, Iterable) else []


def _principal_in(principal: object, account: str) -> bool:
    if principal == "*":
        return True
    found = principal.get("AWS", []) if isinstance(principal, dict) else []
    for value in _listed(found):
        if value in ("*", account) or value.split(":")[4:5] == [account]:
            return True
    return False


def _action_covers(actions: object, wanted: str) -> bool:
    service, _, name = wanted.partition(":")
    for action in _listed(actions):
        action = action.lower()
        if action in ("*", f"{service}:*", wanted.lower()):
            return True
        if action.endswith("*") and wanted.lower().startswith(action[:-1]):
            return True
    return False


def _policy_allows(policy: str, account: str) -> set[str]:
    """The KEY_ACTIONS the key policy allows principals of ``account`` (conditions aside:
    they narrow, and AWS evaluates them at the copy)."""
    try:
        statements = json.loads(policy).get("Statement") or []
    except (ValueError, AttributeError):
        return set()
    if isinstance(statements, dict):
        statements = [statements]
    allowed: set[str] = set()
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if not _principal_in(statement.get("Principal"), account):
            continue
        allowed |= {a for a in KEY_ACTIONS if _action_covers(statement.get("Action"), a)}
    return allowed


def key_problem(access: KeyAccess, account: str) -> str | None:
    """What keeps account ``account`` from using the snapshot's key, as a sentence."""
    if access.manager == "AWS":
        return (
            f"the snapshot is encrypted with the AWS managed key {access.arn}, which AWS "
            "never lets another account use: the production account must copy it once with a "
            "customer managed key and share that copy"
        )
    if access.state != "Enabled":
        return f"its KMS key {access.arn} is {access.state}, not Enabled"
    granted = {
        op
        for grantee, ops in access.grants
        if grantee.split(":")[4:5] == [account] or grantee == account
        for op in ops
    }
    if all(op in granted for op in GRANT_OPERATIONS):
        return None
    if access.policy is None:
        return (
            f"the source role may not read the key policy of {access.arn} "
            "(kms:GetKeyPolicy), so its use by the target account cannot be checked"
        )
    missing = [a for a in KEY_ACTIONS if a not in _policy_allows(access.policy, account)]
    if not missing:
        return None
    return (
        f"the key policy of {access.arn} does not allow account {account} "
        f"{', '.join(missing)}, and no grant to that account allows "
        f"{', '.join(op for op in GRANT_OPERATIONS if op not in granted)}: add the key policy "
        "statement of docs/cross-account.md in the production account, or a grant"
    )


def share(ctx: Context) -> StepResult | None:
    """Share the snapshot with the target account before the copy; a result while that is
    under way. The intent is recorded first (a tick of its own), so that a run stopped
    between the share and the status write neither shares twice nor mistakes its own share
    for one that existed before."""
    snap = ctx.status.snapshot
    assert snap, "after snapshot-check"
    if snap.share in (ADDED, EXISTING):
        return None
    src = source(ctx)
    account = snap.shared_with or target_account(ctx)
    shared = src.shared_with(snap.region, snap.identifier)
    already = account in shared or "all" in shared
    if snap.share is None:
        snap.shared_with = account
        snap.share = EXISTING if already else ADDING
        if already:
            return None
        return StepResult.waiting(
            f"Sharing snapshot {snap.identifier} with account {account}",
            wait=0,
            reason="SharingSnapshot",
        )
    if not already:
        src.share(snap.region, snap.identifier, account)
    snap.share = ADDED
    return None


def unshare(ctx: Context) -> str | None:
    """Stop sharing the snapshot if this run shared it: a sentence for the audit trail, or
    None when there is nothing of ours to undo."""
    snap = ctx.status.snapshot
    if snap is None or snap.share not in OURS or not snap.shared_with:
        return None
    src = source(ctx)
    if snap.shared_with in src.shared_with(snap.region, snap.identifier):
        src.unshare(snap.region, snap.identifier, snap.shared_with)
    snap.share = REMOVED
    return f"stopped sharing snapshot {snap.identifier} with account {snap.shared_with}"
