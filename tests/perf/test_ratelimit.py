"""The per-region budget: never more than ``burst + rate * t`` calls in any ``t`` seconds,
however many restores call at once; a throttling answer slows the region down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import boto3
import pytest

from aurora_restore.aws.clients import Clients
from aurora_restore.aws.ratelimit import RegionLimits, TokenBucket
from aurora_restore.aws.rds import CLUSTERS, RdsAdapter, RdsTuning
from aurora_restore.driver import Driver
from aurora_restore_sandbox.aws import AwsSandbox
from support.faults import Fault

from .conftest import SOURCE, TARGET, Fleet, cross_region, watching


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now = max(self.now, self.now + seconds)


def assert_within_budget(starts: list[float], rate: float, burst: int) -> None:
    starts = sorted(starts)
    for i, first in enumerate(starts):
        for window in (0.5, 1.0, 5.0):
            inside = sum(1 for t in starts[i:] if t < first + window)
            assert inside <= burst + rate * window + 1e-9, (first, window, inside)


def test_a_bucket_never_exceeds_its_budget() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=5, burst=3, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(100):
        waited = bucket.acquire()
        # The call starts once the sleep is over; with this clock, "now" is the start.
        starts.append(clock.now if waited else clock.now)
    assert_within_budget(starts, 5, 3)
    assert starts[-1] >= (100 - 3) / 5 - 1e-9


def test_many_threads_share_one_budget_per_region() -> None:
    # Real time: 8 threads, 60 calls, 50 calls/s with bursts of 5.
    limits = RegionLimits(rate=50, burst=5)
    starts: dict[str, list[float]] = {SOURCE: [], TARGET: []}
    lock = threading.Lock()
    bucket = limits.bucket(SOURCE)
    assert bucket is not None

    def call(region: str) -> None:
        limits.acquire(region)
        now = bucket._clock()
        with lock:
            starts[region].append(now)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(call, [SOURCE] * 60 + [TARGET] * 10))
    assert len(starts[SOURCE]) == 60
    assert_within_budget(starts[SOURCE], 50, 5)
    # Another region has its own budget: its calls did not wait for us-east-1's.
    target = limits.bucket(TARGET)
    assert target is not None and target.waited < bucket.waited


def test_no_limit_means_no_bucket() -> None:
    limits = RegionLimits(rate=0, burst=5)
    assert limits.bucket(SOURCE) is None
    assert limits.acquire(SOURCE) == 0.0
    assert limits.slowdown(SOURCE) == 1.0


def test_throttling_halves_the_rate_then_it_recovers() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=10, burst=10, clock=clock, sleep=clock.sleep, recovery=60)
    bucket.throttled()
    assert bucket.rate == 5 and bucket.slowdown() == 2
    bucket.throttled()
    bucket.throttled()
    bucket.throttled()
    bucket.throttled()
    assert bucket.rate == 1  # never below a tenth of the setting
    clock.now += 30
    assert abs(bucket.configured / bucket.slowdown() - 6) < 1e-9  # 1 + 30 s * 10/60
    clock.now += 60
    assert bucket.slowdown() == 1


def test_a_throttled_region_slows_down_and_looks_again_less_often(aws: AwsSandbox) -> None:
    session = boto3.Session()
    aws.client("rds", SOURCE).create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="source-master-pw",
    )
    rds = RdsAdapter(Clients(session), RdsTuning(cache_ttl=1.0, rate_limit=20, rate_burst=5))
    # botocore retries this by itself; the adapter still hears about it.
    fault = Fault(session, "rds.DescribeDBClusters", "Throttling", times=1)
    assert rds.get_cluster(SOURCE, "prod") is not None
    assert fault.hits == 1
    bucket = rds.limits.bucket(SOURCE)
    assert bucket is not None and bucket.throttles == 1
    assert bucket.slowdown() > 1.5
    # The shared cache of that region is kept longer in proportion.
    assert rds.reads.describer(SOURCE, CLUSTERS)._ttl() > 1.5
    other = rds.limits.bucket(TARGET)
    assert other is not None and other.slowdown() == 1


def test_the_adapter_takes_a_token_for_every_rds_call(aws: AwsSandbox) -> None:
    rds = RdsAdapter(Clients(boto3.Session()), RdsTuning(rate_limit=1000, rate_burst=1000))
    for i in range(5):
        rds.get_cluster(SOURCE, f"missing-{i}")
    rds.list_snapshots(SOURCE, "prod", "any")
    bucket = rds.limits.bucket(SOURCE)
    assert bucket is not None
    assert round(bucket.burst - bucket._tokens) <= 6
    assert aws.count("DescribeDBClusters") + aws.count("DescribeDBClusterSnapshots") == 6


def test_restores_turned_away_are_told_to_come_back_later_not_all_at_once() -> None:
    clock = FakeTime()
    limits = RegionLimits(rate=10, burst=2, clock=clock, sleep=clock.sleep)
    assert limits.take_or_defer(SOURCE, "r0") == 0.0
    assert limits.take_or_defer(SOURCE, "r1") == 0.0
    waits = [limits.take_or_defer(SOURCE, f"r{i}") for i in range(2, 52)]
    assert all(w > 0 for w in waits)
    # 50 restores wait for 10 tokens a second: the last ones are sent about 5 s away.
    assert 2.0 <= waits[-1] <= 8.0
    assert waits[0] < waits[-1] or waits[0] <= 1.5
    bucket = limits.bucket(SOURCE)
    assert bucket is not None and bucket.deferred == 50 and bucket.taken == 2
    clock.now += 1.0
    # Back a second later: the bucket holds at most its burst, and the first comers get it.
    admitted = [limits.take_or_defer(SOURCE, f"r{i}") == 0.0 for i in range(2, 52)]
    assert admitted[:2] == [True, True] and sum(admitted) == 2


@contextmanager
def restore_at_its_copy(fleet: Fleet, target_cluster: str) -> Iterator[Driver]:
    """A driver with a budget of 10 calls/s and one cross-region restore ``r`` past its
    snapshot-check, ticked inside as the operator's daemon ticks it (with a callback)."""
    driver = fleet.make_driver(AURORA_RESTORE_AWS_RATE_LIMIT="10")
    fleet.add("r", cross_region(target_cluster))
    with watching(lambda: None):
        fleet.tick("r")  # snapshot-check
        yield driver


def test_a_restore_over_budget_waits_without_counting_a_retry(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    with restore_at_its_copy(fleet, "staging-budget") as driver:
        with monkeypatch.context() as patched:
            # The region's budget is spent: a restore's own calls are turned away for 7 s.
            patched.setattr(driver.rds.limits, "take_or_defer", lambda region, key: 7.0)
            for _ in range(3):
                tick = fleet.tick("r")
                assert tick.requeue_after == 7.0
                assert not [e for e in tick.events if e.type == "Warning"]
            status = fleet.statuses["r"] or {}
            assert status.get("retries", 0) == 0
            assert fleet.aws.count("CopyDBClusterSnapshot") == 0
        fleet.tick("r")
        assert fleet.aws.count("CopyDBClusterSnapshot") == 1


class RunClock:
    """One clock for a simulated run (the budget's and the driver's): the run moves it, and
    a shared Describe waiting for its token moves it too (as its sleep would)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.fleet.clock.advance(seconds)


def run_under_budget(
    fleet: Fleet, n: int, rate: float, burst: int, **env: str
) -> dict[str, int]:
    """n restores driven as the operator's daemons drive them (each ticks when its last
    tick said, exactly, or when woken), under a budget of ``rate`` calls/s and ``burst``;
    returns RDS calls by operation."""
    from aurora_restore.aws.ratelimit import RegionLimits
    from aurora_restore_sandbox.aws import RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE

    driver = fleet.make_driver(AURORA_RESTORE_AWS_RATE_LIMIT=str(rate), **env)
    clock = RunClock(fleet)
    # The region refresh runs (the test calls it, as the operator's thread would).
    driver.rds.reads.refreshing = True
    driver.rds.reads.limits = driver.rds.limits = RegionLimits(rate, burst, clock, clock.sleep)
    for model in (RDS_CLUSTER_SNAPSHOT, RDS_CLUSTER, RDS_INSTANCE):
        fleet.aws.set_transition(model, {"progression": "manual", "times": 2})
    names = [f"budget-{i}" for i in range(n)]
    for name in names:
        fleet.add(name, cross_region(f"staging-{name}"))
    due = dict.fromkeys(names, 0.0)
    callbacks = {name: (lambda name=name: due.__setitem__(name, clock.now)) for name in names}
    fleet.aws.reset_calls()
    step = 0.25
    for _ in range(4000):
        if all(fleet.phase(name) == "Completed" for name in names):
            break
        for name in names:
            if due[name] > clock.now or fleet.phase(name) == "Completed":
                continue
            with watching(callbacks[name]):
                tick = fleet.tick(name)
            wait = tick.requeue_after if tick.requeue_after is not None else 30.0
            due[name] = clock.now + (wait if tick.exact_wait else max(wait, 0.5))
        driver.rds.reads.refresh()
        clock.sleep(step)
    assert {fleet.phase(name) for name in names} == {"Completed"}, [
        (fleet.phase(name), (fleet.statuses[name] or {}).get("message")) for name in names
    ]
    bucket = driver.rds.limits.bucket(TARGET)
    assert bucket is not None and bucket.deferred > 0, "the budget was never reached"
    return {op: fleet.aws.count(op) for op in {op for op, _ in fleet.aws.calls("rds")}}


@pytest.mark.parametrize("batching", ["true", "false"])
def test_restores_complete_under_the_budget_each_call_once(fleet: Fleet, batching: str) -> None:
    # The default budget at N = 200 (10 calls/s, bursts of 200), scaled down tenfold. Without
    # batching each restore reads for itself: a fresh read before a create must not use up
    # the turn its create needs (it did, and no restore ever got past its copy).
    n = 20
    calls = run_under_budget(fleet, n, rate=1.0, burst=20, AURORA_RESTORE_AWS_BATCHING=batching)
    mutating = ("CopyDBClusterSnapshot", "RestoreDBClusterFromSnapshot", "CreateDBInstance")
    for operation in mutating + ("DeleteDBClusterSnapshot",):
        assert calls.get(operation) == n, calls


def test_a_deferred_restore_does_not_repeat_its_reads(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    with restore_at_its_copy(fleet, "staging-reads") as driver:
        fleet.aws.reset_calls()
        turns = iter([3.0, 2.0, 1.0])
        with monkeypatch.context() as patched:
            # Its turn in the region's queue comes after three tries.
            patched.setattr(
                driver.rds.limits, "take_or_defer", lambda region, key: next(turns, 0.0)
            )
            for wait in (3.0, 2.0, 1.0):
                tick = fleet.tick("r")
                assert tick.requeue_after == wait and tick.exact_wait
            # Turned away three times, it read nothing: copy-snapshot's look for an earlier
            # copy is made once, when the copy is made.
            assert fleet.aws.calls("rds") == []
            fleet.tick("r")
        assert fleet.aws.count("DescribeDBClusterSnapshots", TARGET) == 1
        assert fleet.aws.count("CopyDBClusterSnapshot", TARGET) == 1


def test_turns_are_served_in_order() -> None:
    clock = FakeTime()
    limits = RegionLimits(rate=10, burst=1, clock=clock, sleep=clock.sleep)
    assert limits.take_or_defer(SOURCE, "first") == 0.0
    waits = {key: limits.take_or_defer(SOURCE, key) for key in ("a", "b", "c")}
    assert waits["a"] < waits["b"] < waits["c"]
    # Back before its turn, b waits for it, even with a token there for a.
    clock.now = waits["a"]
    assert limits.take_or_defer(SOURCE, "b") > 0
    assert limits.take_or_defer(SOURCE, "a") == 0.0
    # A newcomer queues behind those waiting.
    assert limits.take_or_defer(SOURCE, "late") > waits["c"] - clock.now
    clock.now = waits["b"]
    assert limits.take_or_defer(SOURCE, "b") == 0.0
