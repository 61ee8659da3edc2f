"""Tenancy, operator process: the lease of a SIGKILLed operator expires and another run
takes the target over; a Secret the operator does not own is not overwritten; a failing
masking script's data (an e-mail address) reaches no channel."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from aurora_restore_sandbox.aws import AwsSandbox, DropRequest
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.aws import subscribed_queue
from support.cluster import SOURCE, Cluster, Operator, master_password, wait_finished

from .conftest import (
    OPERATION,
    cluster_tags,
    events,
    spec,
    team,
    wait_until,
)

pytestmark = pytest.mark.e2e

# Long enough that the restarted operator (6-9 s on a loaded 2-core machine) sees the dead
# holder's lease still valid and waits with TargetBusy; short enough to keep the test quick.
LEASE = 20


@pytest.fixture
def operator_env(operator_env: dict[str, str]) -> dict[str, str]:
    # The folder's operator_env (conftest.py) already polls faster.
    return {**operator_env, "AURORA_RESTORE_LEASE_DURATION": f"{LEASE}s"}


def _lease(aws: AwsSandbox, target: str) -> dict[str, Any]:
    items = aws.client("dynamodb", SOURCE).scan(TableName="aurora-restore-state")["Items"]
    leases = [
        {k: TypeDeserializer().deserialize(v) for k, v in i.items()}
        for i in items
        if i["operation_id"]["S"].endswith(f":{SOURCE}:{target}")
    ]
    assert len(leases) == 1, leases
    return leases[0]


def test_lease_of_a_killed_operator_expires_and_another_run_takes_over(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    team_a = team(cluster, "team-a")
    killed: list[float] = []

    def kill(*_: str) -> None:
        operator.kill()
        killed.append(time.time())
        raise DropRequest

    # The first run holds the lease (its cluster is restored) when its operator dies.
    aws.on_call("CreateDBInstance", before=kill, times=1)
    team_a.apply_restore("first", spec("taken"))
    wait_until(lambda: bool(killed), 90, "the operator to be killed")
    first = team_a.get("first")
    assert first
    first_op = first["status"]["operationId"]
    lease = _lease(aws, "taken")
    assert lease["holder_op"] == first_op
    # The first resource goes away with its operator (no clean-up runs): only the lease
    # and the half-made cluster are left. A second run of the same target starts.
    team_a.patch("first", {"metadata": {"finalizers": []}})
    team_a.delete("first")
    takeover: list[float] = []
    aws.on_call("DeleteDBInstance", before=lambda *_: takeover.append(time.time()), times=None)
    aws.on_call("DeleteDBCluster", before=lambda *_: takeover.append(time.time()), times=None)
    team_a.apply_restore("second", spec("taken", target={"existingCluster": "Replace"}))
    operator.start()
    second = wait_finished(team_a, "second", 120)["status"]
    assert second["phase"] == "Completed", second.get("error")
    busy = [m for _, r, m in events(team_a, "second") if r == "TargetBusy"]
    assert busy and first_op in busy[0] and "team-a/first" in busy[0], events(team_a, "second")
    # No call on the target before the dead holder's lease expired.
    assert takeover, "the second run replaced the first one's cluster"
    assert min(takeover) >= float(lease["expires_at"]), (takeover, lease)
    tags = cluster_tags(aws, "taken")
    assert tags is not None and tags[OPERATION] == second["operationId"]
    assert _lease(aws, "taken")["expires_at"] == 0, "released when the run ended"


def _write_user_secret(api: Cluster, name: str, labels: dict[str, str], owner: Any) -> None:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [owner]
    api.core.create_namespaced_secret(
        api.namespace,
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"keep": "me"}},
    )


def test_a_secret_the_operator_does_not_own_is_not_overwritten(
    aws: AwsSandbox, postgres: PostgresSandbox | None, operator: Operator, cluster: Cluster
) -> None:
    team_a = team(cluster, "team-a")
    master_password(postgres, team_a, "own-S3ntinel-master", "master")
    other = {
        "apiVersion": "dbrestore.io/v1alpha1",
        "kind": "AuroraRestore",
        "name": "other",
        "uid": "0000-other",
    }
    # A user's Secret, and one labelled as the operator's but owned by another restore.
    _write_user_secret(team_a, "users-own", {}, None)
    _write_user_secret(
        team_a, "someone-elses", {"app.kubernetes.io/managed-by": "aurora-restore-operator"}, other
    )
    for name, target in (("users-own", "db-one"), ("someone-elses", "db-two"), ("fresh", "db-3")):
        team_a.apply_restore(
            name,
            spec(
                target,
                masterPassword={"secretRef": {"name": "master"}},
                connectionSecret={"name": name, "database": "app"},
            ),
        )
    for name in ("users-own", "someone-elses"):
        status = wait_finished(team_a, name)["status"]
        assert status["phase"] == "Failed"
        assert (status["error"]["type"], status["error"]["code"]) == (
            "ValidationError",
            "SecretNotOwned",
        ), status["error"]
        kept = team_a.core.read_namespaced_secret(name, team_a.namespace)
        assert set(kept.data) == {"keep"}, "the Secret was overwritten"
    fresh = wait_finished(team_a, "fresh")["status"]
    assert fresh["phase"] == "Completed", fresh.get("error")
    written = team_a.core.read_namespaced_secret("fresh", team_a.namespace)
    assert written.metadata.labels == {
        "app.kubernetes.io/managed-by": "aurora-restore-operator",
        "dbrestore.io/restore": "fresh",
    }
    assert [r.name for r in written.metadata.owner_references] == ["fresh"]


def test_a_failing_masking_script_leaks_no_row_value(
    aws: AwsSandbox, postgres: PostgresSandbox | None, operator: Operator, cluster: Cluster
) -> None:
    team_a = team(cluster, "team-a")
    master_password(postgres, team_a, "mask-S3ntinel-master", "master")
    topic, queue = subscribed_queue(aws, SOURCE, "masking")
    sqs = aws.client("sqs", SOURCE)
    # Statement 2, line 3 fails on the first row: 'ada@example.com' is not an integer.
    team_a.config_map(
        "mask",
        {
            "mask.sql": "UPDATE public.customers SET full_name = 'x';\n\n"
            "SELECT email::integer FROM public.customers ORDER BY id;\n"
        },
    )
    team_a.apply_restore(
        "masked",
        spec(
            "masked-db",
            masterPassword={"secretRef": {"name": "master"}},
            sql=[{"configMapRef": {"name": "mask", "key": "mask.sql"}, "database": "app"}],
            notification={"snsTopicArn": topic},
        ),
    )
    obj = wait_finished(team_a, "masked")
    status = obj["status"]
    assert status["phase"] == "Failed"
    message = status["error"]["message"]
    assert status["error"]["type"] == "DatabaseError"
    for part in (
        "22P02",
        "invalid_text_representation",
        "sql[0] (mask/mask.sql)",
        "statement 2",
        "line 3",
        "invalid input syntax for type integer",
    ):
        assert part in message, message
    op = status["operationId"]
    de = TypeDeserializer()
    audit = aws.client("dynamodb", SOURCE).query(
        TableName="aurora-restore-audit",
        KeyConditionExpression="operation_id = :o",
        ExpressionAttributeValues={":o": {"S": op}},
    )["Items"]
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    channels = {
        "status": json.dumps(obj),
        "events": json.dumps(events(team_a, "masked")),
        "audit": json.dumps(
            [{k: de.deserialize(v) for k, v in i.items()} for i in audit], default=str
        ),
        "sns": json.dumps([m["Body"] for m in got.get("Messages", [])]),
        "operator log": operator.logs(),
    }
    assert "22P02" in channels["sns"] or "DatabaseError" in channels["sns"], channels["sns"]
    for name, text in channels.items():
        assert "ada@example.com" not in text, f"the address reached the {name}"
        assert "ada@" not in text, f"part of the address reached the {name}"
