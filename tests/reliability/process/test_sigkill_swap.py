"""SIGKILL of the operator process around the calls of existingCluster: Swap: before and
after each rename (ModifyDBCluster NewDBClusterIdentifier), after the restore and after the
retired cluster's deletion. The operator restarts each time; the swap completes, each rename
reaches AWS exactly once, and the target name ends with the new cluster. The full matrix
(every call, every occurrence) runs at driver level in ../test_swap_crashes.py."""

from __future__ import annotations

import pytest

from aurora_restore_sandbox.aws import AwsSandbox, DropRequest
from support.cluster import TARGET, AwsWorld, Cluster, Operator, full_spec, wait_finished

from ..helpers import MUTATING, SWAP_BASELINE, assert_audit_complete

pytestmark = pytest.mark.e2e


# ModifyDBCluster arrivals, in order: the temporary cluster's password reset, then the
# retire (killed before: dropped, so sent again), the retire again (killed after), the
# swap-in (killed before), the swap-in again (killed after).
MODIFY_KILLS = {2: "before", 3: "after", 4: "before", 5: "after"}
OTHER_KILLS = [("after", "RestoreDBClusterFromSnapshot"), ("after", "DeleteDBCluster")]


def test_sigkill_around_the_renames_resumes_without_renaming_twice(
    aws: AwsSandbox, aws_world: AwsWorld, operator: Operator, cluster: Cluster
) -> None:
    cluster.secret("staging-master", {"password": "new-master-pw"})
    killed: list[str] = []
    arrivals = {"n": 0}

    def kill(label: str, drop: bool) -> None:
        operator.kill()
        killed.append(label)
        if drop:
            raise DropRequest

    def modify_before(*_: str) -> None:
        arrivals["n"] += 1
        if MODIFY_KILLS.get(arrivals["n"]) == "before":
            kill(f"before ModifyDBCluster #{arrivals['n']}", drop=True)

    def modify_after(*_: str) -> None:
        if MODIFY_KILLS.get(arrivals["n"]) == "after":
            kill(f"after ModifyDBCluster #{arrivals['n']}", drop=False)

    aws.on_call("ModifyDBCluster", before=modify_before, after=modify_after, times=None)
    for when, op in OTHER_KILLS:

        def hook(*_: str, label: str = f"{when} {op}") -> None:
            kill(label, drop=False)

        aws.on_call(op, after=hook, times=1)
    spec = full_spec(aws_world)
    spec["target"]["existingCluster"] = "Swap"
    cluster.apply_restore("staging-refresh", spec)
    # The operator is started again whenever it exited: the pod restarts.
    obj = wait_finished(cluster, "staging-refresh", timeout=180, operator=operator)
    status = obj["status"]
    assert status["phase"] == "Completed", (status.get("error"), operator.logs()[-2000:])
    assert sorted(killed) == sorted(
        [f"{w} ModifyDBCluster #{n}" for n, w in MODIFY_KILLS.items()]
        + [f"{w} {o}" for w, o in OTHER_KILLS]
    )
    # Five arrivals: two were dropped before AWS saw them; the three AWS handled are the
    # password reset and the two renames, each once.
    assert arrivals["n"] == 5
    assert {op: aws.count(op) for op in MUTATING} == SWAP_BASELINE
    rds = aws.client("rds", TARGET)
    [new] = rds.describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"]
    tags = {t["Key"]: t["Value"] for t in new["TagList"]}
    assert tags["dbrestore.io/operation-id"] == status["operationId"]
    swap = status["swap"]
    gone = rds.describe_db_clusters(
        Filters=[{"Name": "db-cluster-id", "Values": [swap["temporary"], swap["retired"]]}]
    )["DBClusters"]
    assert gone == []
    assert_audit_complete(aws_world, status)
