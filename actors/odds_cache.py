"""Regional odds caches: one detached named actor per region (``odds:<region>``).

Players read odds here, never from the event actors: an event actor sends each durable
batch's public deltas (``domain.deltas``) to the cache of every region and beats its version
every second; the cache keeps, per event it was asked about,

- the latest snapshot (an ``EventView``, exact at its ``version``): odds and score deltas are
  applied to it in place; a status delta (which does not carry everything a view shows: a
  market's version, result, every market's cause) has it refreshed from the event actor;
- a bounded ring of the recent deltas (``ring``), contiguous by version, so a reader a little
  behind gets the deltas it missed rather than a snapshot.

Deltas are applied in version order: one at or below the cache's version is dropped, one
past a gap is held ``gap_hold_s`` and, if the gap is still open, the event is resynchronised
from its actor's ``view()``. A beat ahead of the cache (the last delta was lost) is treated
like a gap. Events are loaded lazily on the first read (an event without an actor is
``UNKNOWN_EVENT``, and none is created); one nobody reads for ``evict_after_s`` is dropped.

A cache that restarts starts empty and loads each event from its actor again: every version
it serves comes from durable state (deltas are sent once journaled, a ``view()`` is answered
once durable), so a client never sees a version go backwards.

``changes(event_id, after, timeout_s)`` is the long poll an SSE replica makes, once per event
(``serve_apps.streams``), never once per client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from actors.event_actor import NAMESPACE, ActorConfig, cache_name
from actors.registry import EventRegistry
from domain import errors
from domain.deltas import Delta, DeltaKind
from domain.views import EventView, SelectionView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OddsCacheConfig:
    """One region's cache (passed by value into its process)."""

    region: str = "local"
    # finds the event actors (by name; never creates one)
    actor: ActorConfig = field(default_factory=lambda: ActorConfig(redis_url=""))
    ring: int = 512  # recent deltas kept per event
    gap_hold_s: float = 0.2  # how long a gap may stay open before a resync
    evict_after_s: float = 900.0  # an event nobody asked about this long is dropped
    sweep_s: float = 30.0
    refresh_wait_s: float = 2.0  # a read waits this long for a snapshot being refreshed
    max_concurrency: int = 20_000  # long polls: one per event per SSE replica


@dataclass(frozen=True, slots=True)
class Changes:
    """A long poll's answer: where the reader is now (``version``), and how it got there.

    With a ``snapshot`` the reader starts over from it, then applies the ``deltas`` (each
    above the snapshot's version); without one, the deltas follow the reader's version
    directly (none: nothing changed before the timeout).
    """

    version: int
    deltas: tuple[Delta, ...] = ()
    snapshot: EventView | None = None


def advance(view: EventView, delta: Delta) -> EventView | None:
    """``view`` after ``delta`` (the next version), or None when a delta does not say enough
    to update a view exactly (a status change: the view must come from the event actor)."""
    if delta.version != view.version + 1:
        return None
    if delta.kind is DeltaKind.SCORE:
        return replace(view, score=delta.score, version=delta.version)
    if delta.kind is DeltaKind.ODDS:
        prices = dict(delta.prices)
        markets = tuple(
            replace(m, version=delta.market_version or m.version, selections=tuple(
                SelectionView(s.selection_id, s.name, prices.get(s.selection_id, s.price))
                for s in m.selections))
            if m.market_id == delta.market_id else m
            for m in view.markets)
        return replace(view, markets=markets, version=delta.version)
    return None


class _Book:
    """One event in the cache: its snapshot, its head version and the ring before it."""

    __slots__ = ("beat", "changed", "event_id", "gone", "head", "hold", "lose", "pending",
                 "refresh", "resync", "ring", "snapshot", "touched", "waiters")

    def __init__(self, view: EventView, ring: int) -> None:
        self.event_id = view.event_id
        self.snapshot = view
        self.head = view.version  # the newest version of the ring (contiguous up to it)
        self.ring: deque[Delta] = deque(maxlen=ring)
        self.pending: dict[int, Delta] = {}  # past a gap, held
        self.beat = 0  # the highest version a beat told
        self.hold: asyncio.TimerHandle | None = None
        self.changed = asyncio.Event()
        self.resync: asyncio.Task[None] | None = None
        self.refresh: asyncio.Task[None] | None = None
        self.touched = time.monotonic()
        self.waiters = 0
        self.gone = False
        self.lose = 0  # fault injection (tests): deltas to lose on the way in

    @property
    def base(self) -> int:
        """The version the ring starts after (a reader at or above it gets deltas)."""
        return self.head - len(self.ring)

    def after(self, version: int) -> tuple[Delta, ...]:
        return tuple(islice(self.ring, max(0, version - self.base), None))

    def at(self, version: int) -> Delta | None:
        index = version - self.base - 1
        return self.ring[index] if 0 <= index < len(self.ring) else None


class OddsCache:
    """The odds of one region, for its SSE replicas and event reads."""

    def __init__(self, config: OddsCacheConfig) -> None:
        self.config = config
        self._registry = EventRegistry(config.actor)
        self._books: dict[str, _Book] = {}
        self._loading: dict[str, asyncio.Future[_Book]] = {}
        self._counts = {"loads": 0, "gaps": 0, "resyncs": 0, "refreshes": 0, "dropped": 0,
                        "regressions": 0, "evictions": 0, "failures": 0, "lost": 0}
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    # ------------------------------------------------------------ the event actors' side

    async def publish(self, event_id: str, deltas: list[Delta]) -> None:
        """An event's durable deltas (fire and forget); an event not loaded is ignored (it is
        loaded from its actor when first read)."""
        book = self._books.get(event_id)
        if book is None:
            return
        moved = diverged = False
        for delta in sorted(deltas, key=lambda d: d.version):
            if book.lose:
                book.lose -= 1
                self._counts["lost"] += 1
                continue
            if delta.version <= book.head:
                self._counts["dropped"] += 1
                known = book.at(delta.version)
                # not the change this version was: the event's history is another one (its
                # data was lost and it started again)
                diverged = diverged or (known is not None and known != delta)
            elif delta.version == book.head + 1:
                self._append(book, delta)
                moved = True
            elif delta.version not in book.pending:
                if not book.pending:
                    self._counts["gaps"] += 1
                book.pending[delta.version] = delta
        moved = self._drain(book) or moved
        if moved:
            self._moved(book)
        if diverged and book.resync is None:
            book.resync = asyncio.get_running_loop().create_task(self._resync(book))
        self._check_behind(book)

    async def beat(self, event_id: str, version: int) -> None:
        """An event's version now: ahead of the cache means a lost delta (repaired after the
        gap hold); behind it means the event's history went back (resynchronised)."""
        book = self._books.get(event_id)
        if book is None:
            return
        if version > book.head:
            book.beat = max(book.beat, version)
            self._check_behind(book)
        elif version < book.head and book.resync is None:
            # also a beat overtaken by a later publish: the resync then changes nothing
            book.resync = asyncio.get_running_loop().create_task(self._resync(book))

    def _append(self, book: _Book, delta: Delta) -> None:
        book.ring.append(delta)
        book.head = delta.version

    def _drain(self, book: _Book) -> bool:
        """Apply held deltas that follow on now; True if any did."""
        moved = False
        while book.pending:
            for version in [v for v in book.pending if v <= book.head]:
                del book.pending[version]
            found = book.pending.pop(book.head + 1, None)
            if found is None:
                break
            self._append(book, found)
            moved = True
        return moved

    def _moved(self, book: _Book) -> None:
        """The head moved: wake the long polls, bring the snapshot along."""
        book.changed.set()
        book.changed = asyncio.Event()
        self._advance_snapshot(book)

    def _advance_snapshot(self, book: _Book) -> None:
        snapshot = book.snapshot
        while snapshot.version < book.head:
            delta = book.at(snapshot.version + 1)
            following = None if delta is None else advance(snapshot, delta)
            if following is None:  # a status change, or fallen out of the ring
                self._start_refresh(book)
                break
            snapshot = following
        book.snapshot = snapshot

    def _check_behind(self, book: _Book) -> None:
        """Behind the event (a gap, or a beat ahead): resync unless it closes within the
        hold."""
        behind = bool(book.pending) or book.beat > book.head
        if not behind:
            if book.hold is not None:
                book.hold.cancel()
                book.hold = None
            return
        if book.hold is None and book.resync is None:
            book.hold = asyncio.get_running_loop().call_later(
                self.config.gap_hold_s, self._hold_over, book)

    def _hold_over(self, book: _Book) -> None:
        book.hold = None
        if (book.pending or book.beat > book.head) and book.resync is None and not book.gone:
            book.resync = asyncio.get_running_loop().create_task(self._resync(book))

    async def _resync(self, book: _Book) -> None:
        """Start over from the event actor's view (the deltas in between never came)."""
        head = book.head
        try:
            view = await self._fetch(book.event_id)
        except errors.UnknownEvent:
            self._forget(book)
            return
        except Exception as exc:  # the next beat tries again
            self._counts["failures"] += 1
            log.warning("odds %s: resync of %s failed: %s", self.config.region, book.event_id,
                        exc)
            return
        finally:
            book.resync = None
        if view.version < head:  # the event's history went back (its data was lost)
            self._counts["regressions"] += 1
            log.error("odds %s: event %s went back from version %d to %d",
                      self.config.region, book.event_id, head, view.version)
            book.ring.clear()
            book.head = view.version
            book.snapshot = view
            book.beat = 0
        elif view.version > book.head:  # still missing: the ring starts over at the view
            self._counts["resyncs"] += 1
            book.ring.clear()
            book.head = view.version
        if view.version > book.snapshot.version:
            book.snapshot = view
        self._drain(book)
        self._moved(book)
        self._check_behind(book)

    def _start_refresh(self, book: _Book) -> asyncio.Task[None]:
        if book.refresh is None:
            book.refresh = asyncio.get_running_loop().create_task(self._refresh(book))
        return book.refresh

    async def _refresh(self, book: _Book) -> None:
        """A new snapshot from the event actor (after a status change)."""
        try:
            view = await self._fetch(book.event_id)
        except errors.UnknownEvent:
            self._forget(book)
            return
        except Exception as exc:  # the next read that finds it stale asks again
            self._counts["failures"] += 1
            log.warning("odds %s: snapshot of %s failed: %s", self.config.region,
                        book.event_id, exc)
            return
        finally:
            book.refresh = None
        self._counts["refreshes"] += 1
        if view.version > book.snapshot.version:
            book.snapshot = view
        self._advance_snapshot(book)

    async def _fetch(self, event_id: str) -> EventView:
        """The event actor's view (answered once durable); UNKNOWN_EVENT without an actor."""
        import ray

        for attempt in range(2):
            client = await self._registry.get(event_id)
            try:
                return await client.view()
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                self._registry.evict(event_id)  # replaced, or gone for good: look it up again
                if attempt:
                    raise errors.Unavailable(f"event {event_id}: its actor does not answer "
                                             f"({type(exc).__name__})") from exc
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    def _forget(self, book: _Book) -> None:
        book.gone = True
        if self._books.get(book.event_id) is book:
            del self._books[book.event_id]
        if book.hold is not None:
            book.hold.cancel()
        book.changed.set()

    # ------------------------------------------------------------ the readers' side

    async def _book(self, event_id: str) -> _Book:
        book = self._books.get(event_id)
        if book is not None:
            book.touched = time.monotonic()
            return book
        loading = self._loading.get(event_id)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[_Book] = asyncio.get_running_loop().create_future()
        self._loading[event_id] = future
        try:
            view = await self._fetch(event_id)
            book = self._books[event_id] = _Book(view, self.config.ring)
            self._counts["loads"] += 1
            future.set_result(book)
            return book
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the readers waiting on it get it too
            raise
        finally:
            del self._loading[event_id]

    async def _fresh_snapshot(self, book: _Book) -> EventView:
        """The snapshot, refreshed first if it is behind the head (bounded wait; a snapshot
        that is older but exact beats no answer)."""
        if book.snapshot.version < book.head:
            task = self._start_refresh(book)
            try:
                await asyncio.wait_for(asyncio.shield(task), self.config.refresh_wait_s)
            except TimeoutError:
                pass
        return book.snapshot

    async def view(self, event_id: str) -> EventView:
        """The event as bettors see it (``GET /v1/events/{event_id}``)."""
        return await self._fresh_snapshot(await self._book(event_id))

    async def changes(self, event_id: str, after: int, timeout_s: float) -> Changes:
        """The deltas after version ``after`` once there are any (at ``timeout_s``: none), or
        a snapshot (and the deltas after it) when ``after`` is older than the ring, or a
        version this cache never had."""
        book = await self._book(event_id)
        deadline = time.monotonic() + timeout_s
        book.waiters += 1
        try:
            while True:
                if book.gone:
                    raise errors.UnknownEvent(f"event {event_id} does not exist")
                if after > max(book.head, book.snapshot.version) or after < book.base:
                    return await self._snapshot_changes(book)
                if book.head > after:
                    return Changes(book.head, book.after(after))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Changes(after)
                try:
                    await asyncio.wait_for(book.changed.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            book.waiters -= 1
            book.touched = time.monotonic()

    async def _snapshot_changes(self, book: _Book) -> Changes:
        snapshot = book.snapshot
        if snapshot.version < book.base:  # its next deltas left the ring: a newer one
            self._start_refresh(book)
            snapshot = await self._fresh_snapshot(book)
            if snapshot.version < book.base:
                raise errors.Unavailable(f"no snapshot of {book.event_id} yet")
        return Changes(max(book.head, snapshot.version), book.after(snapshot.version),
                       snapshot)

    # ------------------------------------------------------------ housekeeping

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_s)
            idle = time.monotonic() - self.config.evict_after_s
            for book in list(self._books.values()):
                if book.waiters == 0 and book.touched < idle:
                    self._forget(book)
                    self._counts["evictions"] += 1

    async def lose_next(self, event_id: str, count: int) -> None:
        """Fault injection for tests: the next ``count`` deltas of the event are lost on the
        way in (as if the network dropped them)."""
        (await self._book(event_id)).lose += count

    async def stats(self) -> dict[str, Any]:
        """For operators and tests: the events, their versions, resyncs and gaps."""
        return {
            "region": self.config.region, "pid": os.getpid(), "events": len(self._books),
            "versions": {e: b.head for e, b in self._books.items()},
            "snapshots": {e: b.snapshot.version for e, b in self._books.items()},
            "pending": sum(len(b.pending) for b in self._books.values()),
            "waiters": sum(b.waiters for b in self._books.values()),
            **self._counts,
        }

    async def ping(self) -> bool:
        return True


def remote_odds_cache(config: OddsCacheConfig) -> Any:
    """Get or create the region's cache (creation races are safe)."""
    import ray

    cls = ray.remote(OddsCache)
    return cls.options(
        name=cache_name(config.region),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        # a call in flight when the cache dies runs again on the new one (they are all
        # idempotent: the new one loads the event from its actor)
        max_task_retries=3,
        max_concurrency=config.max_concurrency,
        num_cpus=0,
    ).remote(config)


def start_odds_caches(configs: list[OddsCacheConfig]) -> list[Any]:
    """The caches of every region (``cluster.deploy``)."""
    return [remote_odds_cache(c) for c in configs]


class OddsCacheClient:
    """What readers may ask of a region's cache, as typed coroutines."""

    def __init__(self, config: OddsCacheConfig) -> None:
        self.config = config
        self._handle: Any = None

    async def handle(self) -> Any:
        if self._handle is None:
            self._handle = await asyncio.to_thread(remote_odds_cache, self.config)
        return self._handle

    async def view(self, event_id: str) -> EventView:
        result: EventView = await (await self.handle()).view.remote(event_id)
        return result

    async def changes(self, event_id: str, after: int, timeout_s: float) -> Changes:
        result: Changes = await (await self.handle()).changes.remote(event_id, after,
                                                                      timeout_s)
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await (await self.handle()).stats.remote()
        return result

