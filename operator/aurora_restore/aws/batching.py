"""Batched status checks: one Describe per region and kind, shared by all restores.

Every restore waiting on AWS asks about its own objects (its snapshot copy, its cluster, its
instances), one identifier at a time. A :class:`Describer` (one per region and kind) answers
them all from one ``Describe*`` call with a filter listing the identifiers:

- **Single flight.** The first caller whose answer is not in the cache becomes the leader:
  it waits a short window for others to join, then describes every identifier asked about
  recently (not only its own), so the answer serves the restores that will ask next too.
  Callers that arrive while that Describe is in flight, and whose identifier it covers, wait
  for it; the others join the next one. At most one Describe per kind and region is in
  flight.
- **Short-lived cache.** An answer (including "absent") is reused for ``ttl`` seconds, a
  fraction of the poll floor, so N restores polling in one tick cost one Describe, not N.
- **Invalidation.** A mutating call on an identifier (copy, restore, create, delete, modify,
  tag) drops its cached answer and discards it from any Describe that started before the
  mutation, so the next check always asks AWS again and never sees a stale "absent".
- **Wake-ups.** When a Describe shows that an object changed status (``copying`` to
  ``available``, present to gone), the restores that asked about it are told through the
  callback they registered in :data:`WATCHER`; the operator wakes their daemons. The one
  that led the Describe is not told only of what it got from that Describe: an answer it
  took from the cache may be older than the change. A woken restore's next status check (that
  one only) is answered by the Describe that woke it (for ``hold`` seconds, unless mutated
  since), even past the TTL: waiting for a worker must not cost another Describe.
- **Region refresh.** :meth:`Describer.refresh_if_due` (called by the operator every half
  second or so) describes everything still in progress when no one did for
  ``interval / n`` seconds, ``n`` being how many objects are in progress, never more often
  than ``floor``: the region spends the Describes that one restore polling every
  ``interval`` would, and each of the ``n`` restores sees its object finish within
  ``interval / n`` of it finishing. So restores created together, which poll in lockstep,
  do not all wait for their own next look. A restore told that the refresh follows it
  (:meth:`Describer.follow`) gets a promise: the refresh keeps looking that often even if the
  others finished meanwhile and ``interval / n`` grew, so no restore sleeps on a promise
  nobody keeps.

The fetch function does the AWS side (filters, chunks, pagination); this module only
decides who calls it and when.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Set (per asyncio task or thread) by whoever drives a restore; called from a worker thread
# when an object that this restore asked about changes status. Must be thread-safe.
WATCHER: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "aurora_restore_watcher", default=None
)

# Fetch the given identifiers; answer {identifier.lower(): item} for those that exist.
Fetch = Callable[[list[str]], Mapping[str, Any]]

log = logging.getLogger(__name__)

_UNKNOWN = object()
_ABSENT = "<absent>"
# Statuses that nobody waits to change (for the region refresh); the rest are in progress.
SETTLED = frozenset(
    {
        _ABSENT,
        "available",
        "stopped",
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "storage-full",
    }
)


@dataclass
class _Entry:
    item: Any
    # When it was fetched, by the cache's clock (for the TTL) ...
    at: float
    # ... and when that Describe started, by time.monotonic() (for fresh reads).
    started: float


@dataclass
class _Watch:
    identifier: str
    asked: float
    watchers: set[Callable[[], None]] = field(default_factory=set)
    status: object = _UNKNOWN
    # Watchers woken by the change in the cached entry, which may answer them past the TTL.
    woken: set[Callable[[], None]] = field(default_factory=set)


@dataclass
class _Batch:
    keys: set[str] = field(default_factory=set)
    seq: int = 0
    started: float = 0.0
    done: bool = False
    found: Mapping[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


@dataclass
class DescriberStats:
    describes: int = 0
    hits: int = 0
    misses: int = 0
    wakeups: int = 0


class Describer:
    """Status checks of one kind (snapshots, clusters or instances) in one region."""

    def __init__(
        self,
        fetch: Fetch,
        status_of: Callable[[Any], str],
        ttl: Callable[[], float],
        window: float = 0.02,
        watch_for: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        hold: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._hold = hold
        self._status_of = status_of
        self._ttl = ttl
        self._window = window
        self._watch_for = watch_for
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._cache: dict[str, _Entry] = {}
        self._watched: dict[str, _Watch] = {}
        # The sequence number of the last Describe started when each key was last mutated.
        self._invalidated: dict[str, int] = {}
        self._seq = 0
        self._pending: _Batch | None = None
        self._inflight: _Batch | None = None
        # When the last Describe started, by the cache's clock.
        self._last_describe: float | None = None
        # What follow() promised: describe at least every so many seconds, until then.
        self._promise: tuple[float, float] | None = None
        self.stats = DescriberStats()

    def get(self, identifier: str, fresh_since: float | None = None) -> Any | None:
        return self.get_many([identifier], fresh_since).get(identifier.lower())

    def get_many(
        self, identifiers: Iterable[str], fresh_since: float | None = None
    ) -> dict[str, Any]:
        """{identifier.lower(): item or None}, from the cache or one shared Describe.

        With ``fresh_since`` (a ``time.monotonic()`` value), only a Describe that started
        at or after that moment may answer, whatever the TTL: for the check that comes
        right before a mutating call. Concurrent callers still share it.
        """
        keys = {i.lower(): i for i in identifiers}
        if not keys:
            return {}
        watcher = WATCHER.get()
        answers: dict[str, Any] = {}
        with self._cond:
            now = self._clock()
            for key, identifier in keys.items():
                watch = self._watched.get(key)
                if watch is None:
                    watch = self._watched[key] = _Watch(identifier, now)
                watch.asked = now
                if watcher is not None:
                    watch.watchers.add(watcher)
            ttl = self._ttl()
            for key in keys:
                entry = self._cache.get(key)
                if entry is None:
                    continue
                if fresh_since is not None:
                    usable = entry.started >= fresh_since
                else:
                    # Within the TTL, or the change that woke this watcher (see _notify).
                    age = now - entry.at
                    woken = watcher is not None and watcher in self._watched[key].woken
                    usable = 0 <= age < (max(ttl, self._hold) if woken else ttl)
                    if woken:
                        # Once: held longer, it would hide the next change from a restore
                        # that looks by itself (a lone restore saw "copying" for 30 s).
                        self._watched[key].woken.discard(watcher)
                if usable:
                    answers[key] = entry.item
            missing = set(keys) - set(answers)
            if not missing:
                self.stats.hits += 1
                return answers
            self.stats.misses += 1
            # An identifier that the Describe in flight covers, and that nothing mutated
            # since it started, is answered by it; the rest joins the next Describe.
            inflight = self._inflight
            if inflight is not None and (fresh_since is None or inflight.started >= fresh_since):
                covered = {k for k in missing if self._usable(inflight, k)}
                if covered:
                    self._wait(inflight)
                    answers.update(self._answers(inflight, covered))
                    missing -= covered
            seen: set[str] = set()
            if missing:
                batch, leader = self._join(missing)
                if leader:
                    changed = self._lead(batch)
                    seen = missing
                else:
                    self._wait(batch)
                    changed = []
                answers.update(self._answers(batch, missing))
            else:
                changed = []
        self._notify(changed, watcher, seen)
        return answers

    def invalidate(self, identifier: str) -> None:
        """Called after a mutating call on ``identifier``: forget what is known of it."""
        key = identifier.lower()
        with self._cond:
            self._cache.pop(key, None)
            watch = self._watched.get(key)
            if watch is not None:  # every key a Describe covers is watched
                self._invalidated[key] = self._seq
                watch.woken.clear()

    def watched(self) -> int:
        with self._cond:
            return len(self._watched)

    def in_progress(self) -> int:
        """How many recently asked-about objects are in a status that will change."""
        with self._cond:
            return self._in_progress(self._clock())

    def _in_progress(self, now: float) -> int:
        return sum(
            1
            for w in self._watched.values()
            if w.status is not _UNKNOWN
            and w.status not in SETTLED
            and now - w.asked < self._watch_for
        )

    def refresh_period(self, interval: float, floor: float) -> float:
        """How often :meth:`refresh_if_due` describes, with what is in progress now."""
        with self._cond:
            return max(floor, interval / max(1, self._in_progress(self._clock())))

    def follow(self, interval: float, floor: float) -> float:
        """Promise the caller that, until it would look itself (``interval`` from now), the
        refresh describes what it watches at least every returned seconds (what
        :meth:`refresh_period` says now), and keep it: however the number in progress
        changes meanwhile, :meth:`refresh_if_due` describes that often."""
        with self._cond:
            now = self._clock()
            period = max(floor, interval / max(1, self._in_progress(now)))
            until = now + interval
            if self._promise is not None and now < self._promise[1]:
                period = min(period, self._promise[0])
                until = max(until, self._promise[1])
            self._promise = (period, until)
            return period

    def refresh_if_due(self, interval: float, floor: float) -> bool:
        """Describe everything watched if objects are in progress and nobody described
        them for ``max(floor, interval / in_progress)`` seconds, or a promise made by
        :meth:`follow` asks for more. True when it did."""
        with self._cond:
            now = self._clock()
            if self._pending is not None or self._inflight is not None:
                return False
            if self._last_describe is not None and now - self._last_describe < min(
                floor, self._promise[0] if self._promise else floor
            ):
                return False  # the common case, decided without counting
            count = self._in_progress(now)
            if not count:
                return False
            due = max(floor, interval / count)
            if self._promise is not None:
                if now < self._promise[1]:
                    due = min(due, self._promise[0])
                else:
                    self._promise = None
            if self._last_describe is not None and now - self._last_describe < due:
                return False
            batch, _ = self._join(set())
            changed = self._lead(batch)
        self._notify(changed, None)
        return True

    # -- internals; all run with self._cond held -------------------------------------------

    def _usable(self, batch: _Batch, key: str) -> bool:
        return key in batch.keys and batch.seq > self._invalidated.get(key, -1)

    def _join(self, keys: set[str]) -> tuple[_Batch, bool]:
        if self._pending is None:
            self._pending = _Batch()
            self._pending.keys |= keys
            return self._pending, True
        self._pending.keys |= keys
        return self._pending, False

    def _wait(self, batch: _Batch) -> None:
        while not batch.done:
            self._cond.wait(timeout=5.0)

    @staticmethod
    def _answers(batch: _Batch, keys: set[str]) -> dict[str, Any]:
        if batch.error is not None:
            raise batch.error
        return {k: batch.found.get(k) for k in keys}

    def _lead(self, batch: _Batch) -> list[_Watch]:
        while self._inflight is not None:
            self._wait(self._inflight)
        if self._window > 0:
            self._cond.release()
            try:
                self._sleep(self._window)
            finally:
                self._cond.acquire()
        self._pending = None
        self._inflight = batch
        self._seq += 1
        batch.seq = self._seq
        batch.started = time.monotonic()
        now = self._clock()
        self._last_describe = now
        # Everything asked about recently rides along: those restores will ask next.
        for key, watch in list(self._watched.items()):
            if now - watch.asked < self._watch_for or key in batch.keys:
                batch.keys.add(key)
            else:
                del self._watched[key]
                self._cache.pop(key, None)
                self._invalidated.pop(key, None)
        identifiers = sorted(self._watched[k].identifier for k in batch.keys)
        changed: list[_Watch] = []
        self._cond.release()
        try:
            found = {k.lower(): v for k, v in self._fetch(identifiers).items()}
        except BaseException as exc:  # every waiter gets the same error
            found = {}
            batch.error = exc
        finally:
            self._cond.acquire()
        try:
            self.stats.describes += 1
            batch.found = found
            if batch.error is None:
                now = self._clock()
                for key in batch.keys:
                    if batch.seq <= self._invalidated.get(key, -1):
                        continue  # mutated while this Describe ran: its answer may be stale
                    item = found.get(key)
                    self._cache[key] = _Entry(item, now, batch.started)
                    watch = self._watched.get(key)
                    if watch is None:
                        continue
                    status = self._status_of(item) if item is not None else _ABSENT
                    if watch.status is not _UNKNOWN and watch.status != status:
                        changed.append(watch)
                        watch.woken = set(watch.watchers)
                    elif watch.status != status:
                        watch.woken.clear()
                    watch.status = status
        finally:
            batch.done = True
            self._inflight = None
            self._cond.notify_all()
        return changed

    def _notify(
        self,
        changed: list[_Watch],
        own: Callable[[], None] | None,
        seen: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Wake the watchers of what changed; ``own`` (the caller that led the Describe)
        only for what it did not get from it (``seen``: keys it was answered by it)."""
        if changed:
            log.debug(
                "status changed: %s", ", ".join(f"{w.identifier}={w.status}" for w in changed)
            )
        for watch in changed:
            for watcher in list(watch.watchers):
                if watcher is own and watch.identifier.lower() in seen:
                    continue
                self.stats.wakeups += 1
                try:
                    watcher()
                except Exception:  # a watcher of a finished restore may be gone
                    watch.watchers.discard(watcher)
