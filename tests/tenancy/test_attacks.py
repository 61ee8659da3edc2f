"""The four attacks of issue 12 against the operator process, one operator watching the
namespaces team-a, team-b and evil. Each counts the calls at the AWS stand-in.

1. A forged status (operationId, runSpec, cluster of team-a's restore) on an evil restore
   neither deletes team-a's cluster on deletion nor resets its master password.
2. A Secrets Manager secret tagged for team-b is not read for a restore in evil.
3. Three Replace restores of one target run one after the other, never interleaved.
(4, the IAM policy, is tests/ship's.)
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from support.aws import create_cluster, tag_list
from support.cluster import SOURCE, Cluster, Operator, wait_finished

from .conftest import (
    MANAGED_BY,
    OPERATION,
    OWNER,
    cluster_tags,
    events,
    gone,
    patch_status,
    spec,
    tampered_audit,
    team,
    wait_until,
)

pytestmark = pytest.mark.e2e


DESTRUCTIVE = ("DeleteDBCluster", "DeleteDBInstance", "ModifyDBCluster")


def _two_finished_restores(cluster: Cluster) -> tuple[Cluster, Cluster, dict[str, Any]]:
    """team-a's restore (kept on deletion) and evil's (deleted with it), both Completed."""
    team_a, evil = team(cluster, "team-a"), team(cluster, "evil")
    for api in (team_a, evil):
        api.secret("master", {"password": f"{api.namespace}-master-pw"})
    team_a.apply_restore("a", spec("team-a-db", masterPassword={"secretRef": {"name": "master"}}))
    evil.apply_restore(
        "e",
        spec(
            "evil-db",
            deletionPolicy="Delete",
            masterPassword={"secretRef": {"name": "master"}},
        ),
    )
    a = wait_finished(team_a, "a")
    e = wait_finished(evil, "e")
    assert (a["status"]["phase"], e["status"]["phase"]) == ("Completed", "Completed")
    return team_a, evil, a


def _forge(team_a_status: dict[str, Any], how: str, evil_obj: dict[str, Any]) -> dict[str, Any]:
    forged = {k: v for k, v in team_a_status.items() if k not in ("conditions", "history")}
    forged["runSpec"] = {**forged["runSpec"], "deletionPolicy": "Delete"}
    if how == "own operation id":
        # The id is a public function of the uid: an attacker can compute evil's own one
        # and leave it in place, changing only the frozen spec.
        meta = evil_obj["metadata"]
        digest = hashlib.sha256(f"{meta['uid']}/{meta['generation']}/".encode()).hexdigest()
        forged["operationId"] = f"op-{digest[:12]}"
        forged["observedGeneration"] = meta["generation"]
    return forged


def _forged_while_stopped(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, how: str
) -> tuple[Cluster, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Both restores finished, then the operator stopped and the call counts reset: (evil's
    API, team-a's object, evil's object, a status for evil's forged from team-a's)."""
    _, evil, a = _two_finished_restores(cluster)
    evil_obj = evil.get("e")
    assert evil_obj
    operator.stop()
    aws.reset_calls()
    return evil, a, evil_obj, _forge(a["status"], how, evil_obj)


@pytest.mark.parametrize("how", ["team-a's operation id", "own operation id"])
def test_forged_status_does_not_delete_another_namespaces_cluster(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, how: str
) -> None:
    # While the operator restarts, the status of evil's finished restore is made to name
    # team-a's run and cluster, with deletionPolicy: Delete; then the resource is deleted.
    evil, a, evil_obj, forged = _forged_while_stopped(aws, operator, cluster, how)
    patch_status(evil, "e", forged)
    evil.delete("e")  # held by the finalizer until the operator cleans up
    operator.start()
    wait_until(lambda: gone(evil, "e"), 60, "the evil resource to go")
    assert cluster_tags(aws, "team-a-db") is not None, "team-a's cluster was deleted"
    assert {op: aws.count(op) for op in DESTRUCTIVE} == dict.fromkeys(DESTRUCTIVE, 0)
    # Refused by the clean-up (reason StatusTampered) or by a tick before it (the run fails
    # as a SafetyViolation): either way a Warning saying why.
    wait_until(
        lambda: any(
            t == "Warning" and "changed by someone other than the operator" in m
            for t, _, m in events(evil, "e")
        ),
        10,
        f"a Warning saying the status was changed: {events(evil, 'e')}",
    )
    # The audit item is under evil's own operation id, not in team-a's trail.
    assert tampered_audit(aws, evil_obj["status"]["operationId"])
    assert not tampered_audit(aws, a["status"]["operationId"])


@pytest.mark.parametrize("how", ["team-a's operation id", "own operation id"])
def test_forged_status_does_not_reset_another_namespaces_master_password(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, how: str
) -> None:
    evil, a, evil_obj, forged = _forged_while_stopped(aws, operator, cluster, how)
    # Back to ConfiguringDatabase: the next tick would reset the master password of the
    # cluster the status names, to the password of evil's Secret.
    forged["phase"] = "ConfiguringDatabase"
    forged["cluster"] = {**forged["cluster"], "masterPasswordReset": False}
    forged["completedAt"] = None
    forged["steps"] = [
        {**s, "state": "Pending"}
        if s["name"] in ("setup-db-users", "archive-snapshot", "sns-notification")
        else s
        for s in forged["steps"]
    ]
    patch_status(evil, "e", forged)
    operator.start()
    obj = evil.wait(
        "e", lambda o: ((o.get("status") or {}).get("error") or {}).get("code") == "StatusTampered"
    )
    status = obj["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "SafetyViolation"
    assert "cluster" not in status and "runSpec" not in status
    assert {op: aws.count(op) for op in DESTRUCTIVE} == dict.fromkeys(DESTRUCTIVE, 0)
    assert aws.calls("rds") == [], "no AWS call for a tampered status"
    # Events are posted after the status patch (kopf queues them): wait for it.
    wait_until(
        lambda: ("Warning", "SafetyViolation") in [(t, r) for t, r, _ in events(evil, "e")],
        10,
        "the SafetyViolation Warning event",
    )
    assert tampered_audit(aws, evil_obj["status"]["operationId"])


def test_secrets_manager_secret_of_another_namespace_is_not_read(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    aws.client("secretsmanager", SOURCE).create_secret(
        Name="team-b/payments-db",
        SecretString='{"password": "payments-S3ntinel"}',
        Tags=[{"Key": "dbrestore.io/namespace", "Value": "team-b, team-c"}],
    )
    sm = {"masterPassword": {"secretsManagerSecretId": "team-b/payments-db"}}
    team_b, evil = team(cluster, "team-b"), team(cluster, "evil")
    evil.apply_restore("steal", spec("evil-db", **sm))
    stolen = wait_finished(evil, "steal")["status"]
    assert stolen["phase"] == "Failed"
    assert (stolen["error"]["type"], stolen["error"]["code"]) == (
        "ValidationError",
        "SecretNotAllowed",
    )
    assert "team-b/payments-db" in stolen["error"]["message"]
    assert "dbrestore.io/namespace" in stolen["error"]["message"]
    # Tags first, and nothing read: no value, and so no password sent to ModifyDBCluster.
    assert aws.count("DescribeSecret") == 1
    assert (aws.count("GetSecretValue"), aws.count("ModifyDBCluster")) == (0, 0)
    # The positive control: team-b's restore reads it and resets its own cluster's password.
    team_b.apply_restore("own", spec("team-b-db", **sm))
    own = wait_finished(team_b, "own")["status"]
    assert own["phase"] == "Completed", own.get("error")
    assert aws.count("GetSecretValue") >= 1
    assert aws.count("ModifyDBCluster") == 1


def test_three_replace_restores_of_one_target_run_one_after_the_other(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    rds = aws.client("rds", SOURCE)
    create_cluster(
        rds,
        "shared",
        "old-shared-pw",
        Tags=tag_list({MANAGED_BY: "aurora-restore-operator", OWNER: "team-a/earlier"}),
    )
    aws.reset_calls()
    team_a = team(cluster, "team-a")
    team_a.secret("master", {"password": "shared-pw"})
    names = ["r1", "r2", "r3"]
    for name in names:
        team_a.apply_restore(
            name,
            spec(
                "shared",
                target={"existingCluster": "Replace"},
                masterPassword={"secretRef": {"name": "master"}},
            ),
        )
    busy_seen: set[str] = set()

    def all_done() -> bool:
        for name in names:
            obj = team_a.get(name) or {}
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Progressing" and cond["reason"] == "TargetBusy":
                    busy_seen.add(name)
        return all(
            ((team_a.get(n) or {}).get("status") or {}).get("phase") in ("Completed", "Failed")
            for n in names
        )

    wait_until(all_done, 240, "three restores")
    statuses = {n: wait_finished(team_a, n)["status"] for n in names}
    assert {n: s["phase"] for n, s in statuses.items()} == dict.fromkeys(names, "Completed"), {
        n: s.get("error") for n, s in statuses.items()
    }
    assert len(busy_seen) >= 1, "a run waited with Progressing reason TargetBusy"
    # Each run's calls on the target form one block: replace, restore, instances, password.
    ops = [
        op
        for op, _ in aws.calls("rds")
        if op
        in (
            "DeleteDBInstance",
            "DeleteDBCluster",
            "RestoreDBClusterFromSnapshot",
            "CreateDBInstance",
            "ModifyDBCluster",
        )
    ]
    block = (
        r"(DeleteDBInstance,)*DeleteDBCluster,RestoreDBClusterFromSnapshot,"
        r"CreateDBInstance,ModifyDBCluster,"
    )
    assert re.fullmatch(f"({block}){{3}}", ",".join(ops) + ","), ops
    # The cluster left is the last run's, and carries its operation id.
    tags = cluster_tags(aws, "shared")
    assert tags is not None
    last = max(statuses.values(), key=lambda s: s["completedAt"])
    assert tags[OPERATION] == last["operationId"]
