"""The shared cache never hides a mutation: a check right after a copy, restore, create or
delete asks AWS again; a Describe that started before the mutation is not trusted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aurora_restore.aws.batching import Describer
from aurora_restore.aws.clients import Clients
from aurora_restore.aws.rds import RdsAdapter, RdsTuning
from aurora_restore.pipeline.context import READS, Followed, ReadPolicy
from aurora_restore.pipeline.ports import RestoreRequest
from aurora_restore_sandbox.aws import AwsSandbox
from support.aws import create_source
from support.faults import Fault

from .conftest import SOURCE, TARGET, FakeTime, status_describer, watching


@pytest.fixture
def status_check() -> Iterator[None]:
    """Reads as a waiting step makes them: the cache may answer."""
    token = READS.set(ReadPolicy(cached=True))
    yield
    READS.reset(token)


@pytest.fixture
def session(aws: AwsSandbox) -> boto3.Session:
    create_source(aws)
    aws.settle()
    aws.reset_calls()
    return boto3.Session()


def adapter(session: boto3.Session, clock: FakeTime, **tuning: Any) -> RdsAdapter:
    return RdsAdapter(Clients(session), RdsTuning(cache_ttl=1.0, **tuning), clock)


def _request(cluster: str, snapshot: str) -> RestoreRequest:
    return RestoreRequest(
        cluster_identifier=cluster,
        snapshot_identifier=snapshot,
        engine="aurora-postgresql",
        engine_version=None,
        db_subnet_group_name=None,
        vpc_security_group_ids=(),
        kms_key_id=None,
        db_cluster_parameter_group_name=None,
        deletion_protection=False,
        tags={"dbrestore.io/managed-by": "aurora-restore-operator"},
    )


def test_status_checks_within_the_ttl_cost_one_describe(
    aws: AwsSandbox, session: boto3.Session, status_check: None
) -> None:
    clock = FakeTime()
    rds = adapter(session, clock)
    for _ in range(5):
        assert rds.get_snapshot(SOURCE, "prod-manual-1") is not None
        assert rds.get_cluster(SOURCE, "prod") is not None
    assert aws.count("DescribeDBClusterSnapshots") == 1
    assert aws.count("DescribeDBClusters") == 1
    clock.now += 1.0
    rds.get_snapshot(SOURCE, "prod-manual-1")
    assert aws.count("DescribeDBClusterSnapshots") == 2


def test_reads_outside_status_checks_always_ask_aws(aws: AwsSandbox, session: boto3.Session):
    # The check before a create or delete (outside a status check) always asks AWS.
    rds = adapter(session, FakeTime())
    for _ in range(3):
        assert rds.get_cluster(SOURCE, "prod") is not None
    assert aws.count("DescribeDBClusters") == 3


def test_a_copy_is_seen_right_after_it_starts(
    aws: AwsSandbox, session: boto3.Session, status_check: None
) -> None:
    rds = adapter(session, FakeTime())
    assert rds.get_snapshot(TARGET, "staging-copy") is None  # absent, and cached
    source = rds.get_snapshot(SOURCE, "prod-manual-1")
    assert source is not None
    rds.copy_snapshot(TARGET, source, "staging-copy", None, {})
    # Same instant, same TTL: the cached "absent" must not be answered.
    copied = rds.get_snapshot(TARGET, "staging-copy")
    assert copied is not None and copied.identifier == "staging-copy"
    rds.delete_snapshot(TARGET, "staging-copy")
    assert rds.get_snapshot(TARGET, "staging-copy") is None
    assert aws.count("DescribeDBClusterSnapshots", TARGET) == 3


def test_restore_create_and_delete_invalidate(
    aws: AwsSandbox, session: boto3.Session, status_check: None
) -> None:
    rds = adapter(session, FakeTime())
    assert rds.get_cluster(SOURCE, "staging") is None
    assert rds.get_instances(SOURCE, ["staging-1"]) == []
    rds.restore_cluster(SOURCE, _request("staging", "prod-manual-1"))
    cluster = rds.get_cluster(SOURCE, "staging")
    assert cluster is not None and cluster.status in ("creating", "available")
    rds.create_instance(SOURCE, "staging-1", "staging", "db.r6g.large", "aurora-postgresql", {})
    assert [i.identifier for i in rds.get_instances(SOURCE, ["staging-1"])] == ["staging-1"]
    # Tagging by ARN invalidates the cluster it names.
    rds.tag_resource(SOURCE, cluster.arn, {"team": "payments"})
    tagged = rds.get_cluster(SOURCE, "staging")
    assert tagged is not None and tagged.tags.get("team") == "payments"
    rds.delete_instance(SOURCE, "staging-1")
    gone = rds.get_instances(SOURCE, ["staging-1"])
    assert gone == [] or gone[0].status == "deleting"
    rds.delete_cluster(SOURCE, "staging", None)
    after = rds.get_cluster(SOURCE, "staging")
    assert after is None or after.status == "deleting"
    # One Describe per read: each came right after a mutation of what it reads.
    assert aws.count("DescribeDBClusters", SOURCE) == 4
    assert aws.count("DescribeDBInstances", SOURCE) == 3


def test_a_describe_that_started_before_a_mutation_is_not_cached() -> None:
    started, release = threading.Event(), threading.Event()
    answers = [{}, {"x": {"Status": "creating"}}]
    calls: list[list[str]] = []

    def fetch(ids: list[str]) -> dict[str, Any]:
        calls.append(ids)
        answer = answers[min(len(calls) - 1, 1)]
        if len(calls) == 1:
            started.set()
            release.wait(5)
        return answer

    clock = FakeTime()
    describer = Describer(fetch, lambda i: i["Status"], lambda: 10.0, window=0, clock=clock)
    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(describer.get("x")))
    thread.start()
    assert started.wait(5)
    describer.invalidate("x")  # e.g. the copy was started while the Describe ran
    release.set()
    thread.join(5)
    assert first == [None]  # it asked before the copy: "absent" was right then
    assert describer.get("x") == {"Status": "creating"}
    assert len(calls) == 2


def test_a_status_change_wakes_the_other_restores_watching_it() -> None:
    state = {"x": {"Status": "copying"}, "y": {"Status": "copying"}}
    woken: list[str] = []
    clock = FakeTime()
    describer = status_describer(state, clock)

    def ask(who: str, identifier: str) -> Any:
        with watching(lambda: woken.append(who)):
            return describer.get(identifier)

    ask("a", "x")
    ask("b", "y")
    state["y"]["Status"] = "available"
    clock.now += 2
    # a's next check refreshes everything watched: b's copy is done, so b is woken.
    ask("a", "x")
    assert woken == ["b"]
    assert describer.stats.describes == 3  # x; y (not yet watched); both


def test_an_endpoint_without_the_filter_falls_back_to_one_describe_each(
    aws: AwsSandbox, session: boto3.Session, status_check: None
) -> None:
    fault = Fault(session, "rds.DescribeDBClusters", "InvalidParameterValue", times=1)
    rds = adapter(session, FakeTime())
    found = rds.get_cluster(SOURCE, "prod")
    assert found is not None and found.identifier == "prod"
    assert fault.hits == 1
    assert rds.get_cluster(SOURCE, "missing") is None


def test_reads_before_a_mutation_share_a_describe_only_within_one_tick(
    aws: AwsSandbox, session: boto3.Session
) -> None:
    rds = adapter(session, FakeTime())
    for _tick in range(2):
        token = READS.set(ReadPolicy(cached=False, since=time.monotonic()))
        try:
            # e.g. delete-rds and restore-snapshot both look for the target in one tick
            assert rds.get_cluster(SOURCE, "prod") is not None
            assert rds.get_cluster(SOURCE, "prod") is not None
        finally:
            READS.reset(token)
    assert aws.count("DescribeDBClusters") == 2


def test_a_restore_is_followed_only_when_the_region_refresh_runs_and_can_wake_it(
    aws: AwsSandbox, session: boto3.Session
) -> None:
    rds = adapter(session, FakeTime())

    def check() -> float | None:
        followed = Followed()
        token = READS.set(ReadPolicy(cached=True, followed=followed))
        try:
            rds.get_cluster(SOURCE, "prod")
        finally:
            READS.reset(token)
        return followed.seconds

    assert check() is None  # no refresh running
    stop = rds.start_refresher(period=3600)
    try:
        deadline = time.monotonic() + 5
        while not rds.reads.refreshing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert check() is None  # nobody to wake
        with watching(lambda: None):
            within = check()
        assert within is not None and within <= 30 + 3600 + 1.0
    finally:
        stop.set()
