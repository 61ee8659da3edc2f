"""A client-side budget for AWS calls: one token bucket per region.

RDS throttles per account and region, and every operator (and every person with a console)
in the account shares that budget. The operator keeps under its own share: ``rate`` calls
per second with bursts of ``burst``, however many restores are in flight. Callers wait for
a token (in their worker thread), so over any window of ``t`` seconds at most
``burst + rate * t`` calls start.

When AWS answers with a throttling error anyway, the region's rate is halved (down to a
tenth of the setting) and then recovers linearly over ``recovery`` seconds: additive
increase, multiplicative decrease, as TCP does. ``slowdown`` tells how much slower than
configured a region currently runs, so that status checks can look again less often too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe; ``acquire`` reserves a token and sleeps until it is due."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        recovery: float = 60.0,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.configured = rate
        self.rate = rate
        self.burst = float(burst)
        self.min_rate = rate / 10
        self.recovery = recovery
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()
        self.throttles = 0
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        if self.rate < self.configured:
            # Linear recovery: back to the configured rate ``recovery`` seconds after a halving
            # from it.
            self.rate = min(self.configured, self.rate + elapsed * self.configured / self.recovery)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0
            # A negative balance is a queue: this caller's token comes due after the others'.
            delay = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.waited += delay
        if delay > 0:
            self._sleep(delay)
        return delay

    def throttled(self) -> None:
        """AWS said slow down: halve the rate and drop the saved-up burst."""
        with self._lock:
            self._refill(self._clock())
            self.rate = max(self.min_rate, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)
            self.throttles += 1

    def slowdown(self) -> float:
        """How many times slower than configured the bucket now runs (1.0: not at all)."""
        with self._lock:
            self._refill(self._clock())
            return self.configured / self.rate


class RegionLimits:
    """One bucket per region, made on first use; ``rate`` 0 means no limit."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, region: str) -> TokenBucket | None:
        if self.rate <= 0:
            return None
        with self._lock:
            found = self._buckets.get(region)
            if found is None:
                found = self._buckets[region] = TokenBucket(
                    self.rate, self.burst, self._clock, self._sleep
                )
            return found

    def acquire(self, region: str) -> float:
        bucket = self.bucket(region)
        return bucket.acquire() if bucket else 0.0

    def throttled(self, region: str) -> None:
        bucket = self.bucket(region)
        if bucket:
            bucket.throttled()

    def slowdown(self, region: str) -> float:
        bucket = self.bucket(region)
        return bucket.slowdown() if bucket else 1.0
