"""How RDS reads are shared and paced: the region refresh, fresh reads, the call budget.

``rds.py`` maps the RDS API onto our types; this module decides when those calls are made:

- **Shared status checks.** One :class:`~aurora_restore.aws.batching.Describer` per region
  and kind answers every restore waiting there from one filtered ``Describe*`` (see
  ``batching.py``). A status check (a waiting step) may be answered from its short-lived
  cache; the reads before a mutating call must come from a Describe that started after the
  tick did (``ReadPolicy.since``) or after the read itself.
- **The region refresh.** A background thread describes what restores wait on when it is
  due, and wakes them when their objects change; a restore that it follows sleeps until
  POLL_INTERVAL instead of polling itself (``Followed``).
- **The budget.** Every RDS call takes a token of its region's bucket (``ratelimit.py``)
  first. A shared Describe waits for its token; a restore's own call in the operator is
  deferred instead (``Deferred``), and the step runs again later. A step that reads fresh
  before its own call (copy, restore, create, delete) takes that call's token before the
  read, and so does every read of a restore already queued for a token: deferred, it has
  read nothing, and when it runs it is not deferred after reading, so the budget is not
  spent on reads that a retry would repeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..pipeline.context import READS, Deferred
from ..pipeline.errors import THROTTLING
from .batching import WATCHER, Describer
from .clients import Clients
from .ratelimit import RegionLimits

log = logging.getLogger(__name__)

# The region refresh's shortest period while the region's budget has room: a change is seen
# within about half of it. When restores wait for tokens, the refresh falls back to the
# tuning's floor (POLL_FLOOR), so that the budget goes to their progress; when AWS throttles,
# both stretch with the region's slowdown.
REFRESH_FLOOR = 0.75
# A token taken for a restore's own call before its fresh read is used within this long (the
# same tick), or given up.
RESERVED_FOR = 10.0
# How often the refresher thread asks whether a refresh is due (cheap when it is not).
REFRESH_TICK = 0.1

# (region, kind, identifiers) -> {identifier.lower(): item} of those that exist.
RegionFetch = Callable[[str, str, list[str]], dict[str, Any]]
# kind -> the item's status (for the wake-ups).
StatusOf = Callable[[str, Any], str]


@dataclass(frozen=True)
class RdsTuning:
    """How status checks are shared and paced (from the operator settings)."""

    batching: bool = True
    cache_ttl: float = 1.0
    batch_window: float = 0.02
    # Identifiers asked about within this many seconds ride along in every Describe.
    watch_for: float = 120.0
    rate_limit: float = 0.0
    rate_burst: int = 200
    # The region refresh (see batching.py): as often as one restore polling every
    # ``refresh_interval``, shared by all in progress, never more often than the floor.
    refresh_interval: float = 30.0
    refresh_floor: float = 2.0

    @classmethod
    def from_settings(cls, settings: Any) -> RdsTuning:
        return cls(
            batching=settings.aws_batching,
            cache_ttl=settings.cache_ttl_seconds,
            batch_window=settings.aws_batch_window,
            watch_for=2 * settings.poll_seconds + 10,
            rate_limit=settings.aws_rate_limit,
            rate_burst=settings.aws_rate_burst,
            refresh_interval=settings.poll_seconds,
            refresh_floor=settings.poll_floor_seconds,
        )


def fresh_since() -> float | None:
    """None when a status check may use the cache; else the moment answers must follow."""
    policy = READS.get()
    if policy is not None and policy.cached:
        return None
    if policy is not None and policy.since is not None:
        return policy.since
    return time.monotonic()


@dataclass(eq=False)
class RdsReads:
    """The describers of every region and kind, their refresh, and the regions' budgets."""

    clients: Clients
    tuning: RdsTuning
    fetch: RegionFetch
    status_of: StatusOf
    # The cache's clock (a test may pass a fake one); the rate limit always paces real
    # calls in real time.
    clock: Callable[[], float] = time.monotonic
    limits: RegionLimits = field(init=False)
    _describers: dict[tuple[str, str], Describer] = field(default_factory=dict, init=False)
    _hooked: set[str] = field(default_factory=set, init=False)
    # (region, watcher) -> when a token was taken for that restore's next own call.
    _reserved: dict[tuple[str, Any], float] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    refreshing: bool = field(default=False, init=False)
    _refresh_period: float = field(default=REFRESH_TICK, init=False)

    def __post_init__(self) -> None:
        self.limits = RegionLimits(self.tuning.rate_limit, self.tuning.rate_burst)

    # -- the budget --------------------------------------------------------------------------

    def call(
        self, region: str, operation: str, shared: bool = False, **params: Any
    ) -> dict[str, Any]:
        """One RDS call within the region's budget. A ``shared`` call (a batched status
        check, answering many restores) waits for its token; a restore's own call in the
        operator is deferred instead (see ratelimit.py), outside it waits too."""
        self._hook_throttling(region)
        watcher = WATCHER.get()
        if shared or watcher is None:
            self.limits.acquire(region)
        elif not self._reservation(region, watcher, take=True):
            self._admit(region, watcher)
        return self.clients.call("rds", region, operation, **params)

    def _admit(self, region: str, watcher: Any) -> None:
        after = self.limits.take_or_defer(region, watcher)
        if after > 0:
            raise Deferred(after, f"Waiting for the AWS call budget of {region}")

    def _reservation(self, region: str, watcher: Any, take: bool) -> bool:
        """Whether a token taken for this restore's own call is held (and, with ``take``,
        use it up)."""
        with self._lock:
            held = self._reserved.pop((region, watcher), None) if take else None
            if not take:
                held = self._reserved.get((region, watcher))
            return held is not None and time.monotonic() - held < RESERVED_FOR

    def _reserve(self, region: str) -> None:
        """Before a restore's fresh read: its own call's token now, or Deferred before
        anything is read (see the module's docstring)."""
        watcher = WATCHER.get()
        if watcher is None or self.limits.bucket(region) is None:
            return
        if self._reservation(region, watcher, take=False):
            return
        self._admit(region, watcher)
        with self._lock:
            now = time.monotonic()
            for key, since in list(self._reserved.items()):
                if now - since >= RESERVED_FOR:
                    del self._reserved[key]  # a step that read and then made no call
            self._reserved[(region, watcher)] = now

    def _hook_throttling(self, region: str) -> None:
        """Every throttling answer slows the region down, including those that botocore
        retried by itself (its ``needs-retry`` event sees every attempt, the last one too)."""
        if region in self._hooked:
            return
        with self._lock:
            if region in self._hooked:
                return
            self._hooked.add(region)
        limits = self.limits

        def on_retry(response: Any = None, **_: Any) -> None:
            if not response:
                return
            code = (response[1] or {}).get("Error", {}).get("Code")
            if code in THROTTLING:
                limits.throttled(region)

        self.clients.client("rds", region).meta.events.register("needs-retry.rds", on_retry)

    # -- shared status checks ----------------------------------------------------------------

    def describer(self, region: str, kind: str) -> Describer:
        key = (region, kind)
        with self._lock:
            found = self._describers.get(key)
            if found is None:
                found = self._describers[key] = Describer(
                    fetch=lambda ids: self.fetch(region, kind, ids),
                    status_of=lambda item: self.status_of(kind, item),
                    ttl=lambda: self.tuning.cache_ttl * self.limits.slowdown(region),
                    window=self.tuning.batch_window,
                    watch_for=self.tuning.watch_for,
                    clock=self.clock,
                    # A woken restore acts on the Describe that woke it for this long.
                    hold=self.tuning.refresh_interval,
                )
            return found

    def before_own_read(self, region: str) -> float | None:
        """Before a restore's status check: with a fresh read (a create or delete follows) or
        a turn in the region's queue, take its own call's token first, so that the read never
        uses up the turn the call needs (then Deferred, having read nothing). The read itself
        goes as a shared call, which waits for its token. Returns the fresh-read bound."""
        since = fresh_since()
        if since is not None or self.limits.queued(region, WATCHER.get()):
            self._reserve(region)
        return since

    def shared(self, region: str, kind: str, identifiers: list[str]) -> dict[str, Any]:
        """{identifier.lower(): item or None} from the region's shared Describe, as fresh as
        the read policy of the step asks; notes whether the region refresh follows them."""
        since = self.before_own_read(region)
        describer = self.describer(region, kind)
        items = describer.get_many(identifiers, since)
        self.note_followed(region, describer)
        return items

    def mutated(self, region: str, kind: str, identifier: str | None) -> None:
        """After a mutating call: what is cached of ``identifier`` is no longer true."""
        if identifier and self.tuning.batching:
            self.describer(region, kind).invalidate(identifier)

    # -- the region refresh ------------------------------------------------------------------

    def refresh(self) -> int:
        """Refresh, in every region and kind, the objects that restores wait on, when due;
        the operator calls this every half second or so. Returns how many Describes."""
        done = 0
        with self._lock:
            describers = list(self._describers.items())
        for (region, kind), describer in describers:
            try:
                if describer.refresh_if_due(*self._pace(region)):
                    log.debug("refreshed %s in %s", kind, region)
                    done += 1
            except Exception as exc:  # the restores' own checks will report it
                log.debug("region refresh failed in %s: %s", region, exc)
        return done

    def _pace(self, region: str) -> tuple[float, float]:
        """(interval, floor) of the region refresh now (see REFRESH_FLOOR)."""
        slowdown = self.limits.slowdown(region)
        floor = self.tuning.refresh_floor
        if not self.limits.contended(region):
            floor = min(floor, REFRESH_FLOOR)
        return self.tuning.refresh_interval * slowdown, floor * slowdown

    def start_refresher(self, period: float = REFRESH_TICK) -> threading.Event:
        """Run :meth:`refresh` in a background thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period):
                self.refresh()

        def run() -> None:
            self.refreshing = True
            try:
                loop()
            finally:
                self.refreshing = False

        self._refresh_period = period
        if self.tuning.batching:
            threading.Thread(target=run, name="rds-refresh", daemon=True).start()
        return stop

    def _followed_within(self, region: str, describer: Describer) -> float | None:
        """Within how long the region refresh looks again at a describer's objects and
        wakes whoever asked; None when it will not (no refresh, or nobody to wake). The
        describer keeps that promise (``Describer.follow``)."""
        if not self.refreshing or WATCHER.get() is None:
            return None
        period = describer.follow(*self._pace(region))
        return period + self._refresh_period + self.tuning.cache_ttl * self.limits.slowdown(region)

    def note_followed(self, region: str, describer: Describer | None) -> None:
        """Tell the step's read policy whether (and within how long) the region refresh
        follows what it just read; ``describer`` None: nothing follows it."""
        policy = READS.get()
        if policy is None or policy.followed is None:
            return
        within = self._followed_within(region, describer) if describer else None
        policy.followed.note(within)
