"""Transient AWS faults are retried with backoff; permanent ones fail with a clear error; a
process that stops at any point resumes without repeating a create or delete."""

from __future__ import annotations

import pytest

from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Resource
from support.faults import Fault
from support.world import TARGET, World, cross_region_spec, same_region_spec

MUTATING = (
    "CopyDBClusterSnapshot",
    "DeleteDBInstance",
    "DeleteDBCluster",
    "RestoreDBClusterFromSnapshot",
    "CreateDBInstance",
    "DeleteDBClusterSnapshot",
)


def test_throttling_then_success_completes_and_counts_retries(world: World) -> None:
    # botocore retries 3 times by itself; the 4th failure reaches the pipeline.
    fault = Fault(world.session, "rds.CopyDBClusterSnapshot", "Throttling", times=4)
    status, ticks = world.run(cross_region_spec())
    assert status["phase"] == "Completed", status.get("error")
    assert fault.hits == 4
    copy = next(s for s in status["steps"] if s["name"] == "copy-snapshot")
    assert copy["attempts"] == 2
    retries = [e for t in ticks for e in t.events if e.reason == "Retrying"]
    assert len(retries) == 1 and "Throttling" in retries[0].message
    assert world.aws.count("CopyDBClusterSnapshot") == 1


@pytest.mark.parametrize(
    "status_code,code", [(500, "InternalFailure"), (503, "ServiceUnavailable")]
)
def test_server_errors_are_retried(world: World, status_code: int, code: str) -> None:
    Fault(world.session, "rds.RestoreDBClusterFromSnapshot", code, status=status_code, times=5)
    status, _ = world.run(same_region_spec())
    assert status["phase"] == "Completed", status.get("error")
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 1


def test_persistent_access_denied_fails_clearly(world: World) -> None:
    Fault(
        world.session,
        "rds.RestoreDBClusterFromSnapshot",
        "AccessDenied",
        status=403,
        times=100,
        message="User is not authorized to perform rds:RestoreDBClusterFromSnapshot",
    )
    status, ticks = world.run(same_region_spec())
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "AWSError"
    assert status["error"]["code"] == "AccessDenied"
    assert status["error"]["step"] == "restore-snapshot"
    assert "docs/iam.md" in status["error"]["message"]
    assert any(e.type == "Warning" and e.reason == "AWSError" for t in ticks for e in t.events)
    # Earlier steps keep their results.
    assert status["snapshot"]["identifier"] == "prod-manual-1"


def test_too_many_transient_errors_give_up(world: World) -> None:
    Fault(world.session, "rds.DescribeDBClusterSnapshots", "Throttling", times=10_000)
    # One attempt per call keeps botocore's own backoff sleeps out of this test.
    driver = world.driver()
    driver.clients = Clients(world.session, max_retries=0)
    driver.rds.clients = driver.clients
    status, _ = world.run(same_region_spec(), driver=driver)
    assert status["phase"] == "Failed"
    assert "gave up after 8 retries" in status["error"]["message"]


def _counts(world: World) -> dict[str, int]:
    return {op: world.aws.count(op) for op in MUTATING}


def test_lost_status_at_every_tick_repeats_no_create_or_delete(world: World) -> None:
    """Crash-and-resume at every step: each tick runs twice from the same saved status, as
    when the process dies after the AWS call but before the status is written."""
    from support.world import MANAGED, existing_staging

    existing_staging(world, MANAGED, instances=2, region=TARGET)
    spec = cross_region_spec(existingCluster="Replace", instances=2)
    driver = world.driver()
    status = None
    for _ in range(200):
        resource = Resource("staging-refresh", "databases", "uid-1", 1, spec, status)
        driver.tick(resource, world.kube)  # this result is "lost"
        tick = driver.tick(resource, world.kube)
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            break
        world.clock.advance(max(tick.requeue_after, 1.0))
    assert status["phase"] == "Completed", status.get("error")
    assert _counts(world) == {
        "CopyDBClusterSnapshot": 1,
        "DeleteDBInstance": 2,
        "DeleteDBCluster": 1,
        "RestoreDBClusterFromSnapshot": 1,
        "CreateDBInstance": 2,
        "DeleteDBClusterSnapshot": 1,
    }
