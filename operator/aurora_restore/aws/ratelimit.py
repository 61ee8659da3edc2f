"""A client-side budget for AWS calls: one token bucket per region.

RDS throttles per account and region, and every operator (and every person with a console)
in the account shares that budget. The operator keeps under its own share: ``rate`` calls
per second with bursts of ``burst``, however many restores are in flight. A call takes a
token; there are never more than ``burst`` tokens, so over any window of ``t`` seconds at
most ``burst + rate * t`` calls start.

Without a token, a caller either waits for one in its thread (the shared status checks,
which are few, and anything outside the operator), or, when it can be asked to come back
(a restore's own call in the operator, ``key`` given), queues: it is given the next free
slot, one ``1 / rate`` after the last one given, and told to come back then. Slots are
served in order (FIFO): a newcomer, or a caller back before its slot (woken for another
reason), takes a token only when the callers whose turn has come are served first. That
keeps the operator's worker threads free for the restores that have tokens, serves the
restores in the order they asked, and spreads them out instead of having them all retry
at once.

When AWS answers with a throttling error anyway, the region's rate is halved (down to a
tenth of the setting) and then recovers linearly over ``recovery`` seconds: additive
increase, multiplicative decrease, as TCP does. ``slowdown`` tells how much slower than
configured a region currently runs, so that status checks can look again less often too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

# How long after its slot a queued caller keeps its place; one that does not come back by
# then (its resource deleted, its daemon stopped) no longer holds the others up.
SLOT_GRACE = 10.0
# The shortest "come back in": a turn missed by a moment is not retried in a busy loop.
MIN_WAIT = 0.05


class TokenBucket:
    """Thread-safe. ``take`` never waits; ``acquire`` sleeps until it gets a token."""

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
        # Callers turned away, by key, in the order they came: their slot (when to come back).
        self._waiting: dict[Hashable, float] = {}
        self._last_slot = float("-inf")
        self.throttles = 0
        self.taken = 0
        self.deferred = 0
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        if self.rate < self.configured:
            # Linear recovery: back to the configured rate ``recovery`` seconds after a halving
            # from it.
            self.rate = min(self.configured, self.rate + elapsed * self.configured / self.recovery)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    def take(self) -> float:
        """Take a token if there is one (returns 0.0); else the seconds until there is."""
        with self._lock:
            self._refill(self._clock())
            return self._take()

    def _take(self) -> float:
        if self._tokens >= 1.0 - 1e-9:  # float sums of refills may fall just short
            self._tokens = max(0.0, self._tokens - 1.0)
            self.taken += 1
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def admit(self, key: Hashable) -> float:
        """In queue order: a token now (0.0), or the seconds until ``key``'s slot."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._drop_late(now)
            slot = self._waiting.get(key)
            mine = slot is not None and slot <= now + 1e-9
            # The tokens there are go first to the callers whose turn has come; one that is
            # back early, or new, may have what is left over (callers late for their turn
            # leave tokens that would otherwise be lost).
            due = sum(1 for k, t in self._waiting.items() if t <= now + 1e-9 and k != key)
            if self._tokens >= (1.0 if mine else 1.0 + due) - 1e-9:
                self._take()
                self._waiting.pop(key, None)
                return 0.0
            if mine:
                # Its turn, but a shared call had the token: it keeps its place.
                return max((1.0 - self._tokens) / self.rate, MIN_WAIT)
            if slot is None:
                slot = max(now + max(0.0, 1.0 - self._tokens) / self.rate, self._last_slot)
                slot += 0.0 if not self._waiting else 1.0 / self.rate
                self._waiting[key] = self._last_slot = slot
                self.deferred += 1
            return max(slot - now, MIN_WAIT)

    def _drop_late(self, now: float) -> None:
        for other, slot in list(self._waiting.items()):
            if now - slot > SLOT_GRACE:
                del self._waiting[other]

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        waited = 0.0
        while True:
            delay = self.take()
            if delay <= 0:
                with self._lock:
                    self.waited += waited
                return waited
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay

    def queued(self, key: Hashable) -> bool:
        """Whether ``key`` waits for its turn."""
        with self._lock:
            return key in self._waiting

    def contended(self) -> bool:
        """Whether callers queue for a token."""
        with self._lock:
            self._drop_late(self._clock())
            return bool(self._waiting)

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


@dataclass(eq=False)
class RegionLimits:
    """One bucket per region, made on first use; ``rate`` 0 means no limit."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _buckets: dict[str, TokenBucket] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def bucket(self, region: str) -> TokenBucket | None:
        if self.rate <= 0:
            return None
        with self._lock:
            found = self._buckets.get(region)
            if found is None:
                found = self._buckets[region] = TokenBucket(
                    self.rate, self.burst, self.clock, self.sleep
                )
            return found

    def acquire(self, region: str) -> float:
        """Wait for a token of ``region``; returns the seconds waited."""
        bucket = self.bucket(region)
        return bucket.acquire() if bucket else 0.0

    def take_or_defer(self, region: str, key: Hashable) -> float:
        """A token now (0.0), or how many seconds the caller ``key`` should stay away."""
        bucket = self.bucket(region)
        return bucket.admit(key) if bucket else 0.0

    def throttled(self, region: str) -> None:
        bucket = self.bucket(region)
        if bucket:
            bucket.throttled()

    def queued(self, region: str, key: Hashable) -> bool:
        bucket = self.bucket(region)
        return bucket.queued(key) if bucket else False

    def contended(self, region: str) -> bool:
        bucket = self.bucket(region)
        return bucket.contended() if bucket else False

    def slowdown(self, region: str) -> float:
        bucket = self.bucket(region)
        return bucket.slowdown() if bucket else 1.0
