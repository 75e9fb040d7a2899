"""The event actor: one named, detached Ray actor per live event (``event:<event_id>``).

It wraps the pure ``Book`` with durability and a mailbox:

- every command (bets, odds, status, reads) goes into ONE queue drained by ONE consumer task,
  because async actor calls are not ordered; the consumer takes everything waiting (up to
  ``commit_batch_max``), decides it in order, journals the resulting events in ONE Redis
  round trip (group commit) and only then answers the callers;
- ``__init__`` takes a new fencing epoch and recovers from the latest snapshot plus the journal
  after it, so a restart (``max_restarts=-1``) loses nothing that was acknowledged;
- feed messages (``feed``) go through the same mailbox; the last applied ``seq`` of each
  provider is journaled with their changes, so a duplicate is dropped even after a restart;
  a watchdog suspends every market when a provider that feeds the event goes silent for
  ``feed_timeout_s`` (journaled ``FeedLost``), and the next ``alive`` re-opens them;
- once a batch is durable, its public changes go as deltas (``domain.deltas``) to the odds
  cache of each region (``odds:<region>``), with a version beat every second so a cache
  notices a lost tail;
- if an append fails, its callers get ``UNAVAILABLE`` (the outcome is then unknown, and a retry
  with the same bet id tells it) and the state is rebuilt from Redis before anything else runs;
  if it was fenced, a newer incarnation owns the event and this one refuses all work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis

from domain import cashout, errors
from domain.bets import PlaceBet, decided_for
from domain.book import Book, index_key, next_due
from domain.cashout import CashoutPolicy
from domain.codec import decode, encode, state_from_dict, state_to_dict
from domain.deltas import Delta, DeltaKind, delta_of
from domain.events import (
    BetAccepted,
    BetCashedOut,
    BetHeld,
    BetRejected,
    BookEvent,
    CashoutHeld,
    CashoutRejected,
    CashoutTerms,
    EventCreated,
    EventStatus,
    LiabilityReleased,
    MarketResulted,
    MarketSettled,
    MarketStatus,
    OddsPolicy,
    SettlementRolledBack,
    VoidWindowOpened,
    VoidWindowRolledBack,
)
from domain.feed import Ack, AckStatus, FeedKind, FeedMessage
from domain.feeding import decide_feed, sequence
from domain.settlement import MarketResult
from domain.views import EventView, ExposureView, event_view, exposure_view
from storage.catalog import Catalog
from storage.journal import (
    AsyncJournal,
    DuplicateBet,
    Entry,
    Fenced,
    JournalError,
    recover,
    take_epoch,
)
from storage.redis_client import async_client

log = logging.getLogger(__name__)

NAMESPACE = "inplay"


def actor_name(event_id: str) -> str:
    return f"event:{event_id}"


@dataclass(frozen=True)
class ActorConfig:
    """The part of the settings an event actor needs (passed by value into its process)."""

    redis_url: str
    snapshot_every: int = 5000
    commit_batch_max: int = 1024
    wait_replicas: int = 0
    wait_timeout_ms: int = 100
    cashout: CashoutPolicy = field(default_factory=CashoutPolicy)
    # a feed silent this long has the event's markets suspended (DOMAIN.md: 20 s after a
    # 10 s heartbeat)
    feed_timeout_s: float = 20.0
    # the regions whose odds caches (``odds:<region>``) get this event's deltas
    regions: tuple[str, ...] = ("local",)
    beat_s: float = 1.0


def cache_name(region: str) -> str:
    """The odds cache actor of a region."""
    return f"odds:{region}"


@dataclass(frozen=True)
class CashoutRequest:
    """A bettor's cash-out of one of their bets (``quote_id``, or ``amount`` + ``policy``)."""

    bet_id: str
    account_id: str
    request_id: str
    quote_id: str | None = None
    amount: Decimal | None = None
    policy: OddsPolicy = OddsPolicy.NONE


@dataclass
class LoadedBook:
    book: Book
    seq: int
    hash: str
    snapshot_seq: int
    replayed: int


def load_book(client: redis.Redis, event_id: str, use_snapshot: bool = True) -> LoadedBook:
    """The latest snapshot plus the journal after it, folded into a book (recovery)."""
    found = recover(client, event_id, use_snapshot=use_snapshot)
    book = Book(event_id)
    if found.snapshot is not None:
        book.state = state_from_dict(found.snapshot["state"])
    snapshot_seq = int(found.snapshot["seq"]) if found.snapshot else 0
    book.replay(decode(payload) for _, payload in found.entries)
    return LoadedBook(book, found.seq, found.hash, snapshot_seq, len(found.entries))


@dataclass
class _Command:
    kind: str
    args: Any
    future: asyncio.Future[Any]
    # bets whose stake reservation was new: decided without loading an earlier decision
    fresh: frozenset[str] = frozenset()


class EventActor:
    """The single authority for one event's prices, statuses, bets and exposure."""

    def __init__(
        self, event_id: str, config: ActorConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.event_id = event_id
        self.config = config
        self.clock = clock
        self._sync = redis.Redis.from_url(config.redis_url, socket_timeout=30)
        self.epoch = take_epoch(self._sync, event_id)
        started = time.perf_counter()
        self.replayed = self._load()
        self.recovery_s = time.perf_counter() - started
        self._client = async_client(config.redis_url, socket_timeout=30)
        self._journal = AsyncJournal(
            self._client, event_id, self.epoch,
            wait_replicas=config.wait_replicas, wait_timeout_ms=config.wait_timeout_ms,
        )
        self._catalog = Catalog(self._client)
        self._queue: asyncio.Queue[_Command] = asyncio.Queue()
        self._fenced = False
        self._payloads: dict[str, bytes] = {}
        # fresh bets of the batch being decided whose earlier decision was not loaded: their
        # journal entries must be new (the append refuses the batch otherwise)
        self._unchecked: set[str] = set()
        self.redos = 0  # batches decided again because a fresh bet was decided already
        self.lookups = 0  # round trips loading earlier decisions (none for fresh-only batches)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        # the deltas of the batch being decided; published once it is durable
        self._deltas: list[Delta] = []
        self.book.on_commit = self._collect
        # when each provider was last heard (memory: a restart gives every provider a full
        # timeout again, which errs towards taking bets no longer than a timeout)
        started_at = self.clock()
        self._heard: dict[str, float] = {p: started_at for p in self.book.state.feed_seq}
        self._caches: dict[str, Any] = {}
        self._published = self.book.state.version  # the last version sent to the caches
        self._consumer = asyncio.get_running_loop().create_task(self._consume())
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        self._schedule_release()
        log.info(
            "event %s epoch %d recovered seq %d (%d replayed) in %.3fs",
            event_id, self.epoch, self.seq, self.replayed, self.recovery_s,
        )

    # ------------------------------------------------------------ recovery

    def _load(self) -> int:
        """Rebuild the book from Redis (sync: runs in __init__ and in a thread on reload)."""
        loaded = load_book(self._sync, self.event_id)
        self.book, self.seq, self.hash = loaded.book, loaded.seq, loaded.hash
        self.book.on_commit = self._collect
        self.snapshot_seq = loaded.snapshot_seq
        return loaded.replayed

    async def _reload(self) -> None:
        delay = 0.05
        while True:
            try:
                await asyncio.to_thread(self._load)
                # durable now, sent or not (an append whose answer was lost): the next beat
                # tells the caches, which catch up from a snapshot
                self._published = self.book.state.version
                return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                log.warning("event %s reload failed (%s); retrying", self.event_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    # ------------------------------------------------------------ the mailbox

    async def _submit(self, kind: str, args: Any, fresh: frozenset[str] = frozenset()) -> Any:
        if self._fenced:
            raise errors.Unavailable(f"event {self.event_id}: this actor was replaced")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Command(kind, args, future, fresh))
        return await future

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.config.commit_batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._process(batch)
            except Exception as exc:  # never let the consumer die, nor memory run ahead
                log.exception("event %s: batch failed", self.event_id)
                for cmd in batch:
                    if not cmd.future.done():
                        cmd.future.set_exception(errors.Unavailable(str(exc)))
                try:
                    await self._reload()
                except Exception:  # e.g. a broken hash chain: stop taking bets, loudly
                    log.critical("event %s cannot be rebuilt; refusing all work", self.event_id)
                    self._fenced = True

    async def _process(self, batch: list[_Command], full: bool = False) -> None:
        """Decide the batch, journal what it produced (one append), then answer.

        Fresh bets (``place_bets``' ``fresh``) are decided without loading an earlier
        decision, which saves a round trip per batch; their entries go to the journal marked
        new, and should one be decided already after all (a retry whose reservation was
        released and taken again, a second replica, a restarted actor), the append refuses
        the whole batch before writing anything and it is decided again (``full``) on a book
        rebuilt from Redis, with every earlier decision loaded: the retry gets its original
        decision."""
        await self._prefetch_decisions(batch, full)
        now = self.clock()
        results: list[tuple[_Command, Any, bool]] = []
        events: list[BookEvent] = []
        for cmd in batch:
            try:
                value, produced = self._decide(cmd, now)
                events.extend(produced)
                results.append((cmd, value, True))
            except errors.DomainError as exc:
                results.append((cmd, exc, False))
        if events:
            appended = await self._append(events, batch)
            if appended is None:  # a fresh bet was decided already: nothing was written
                self._deltas.clear()
                self.redos += 1
                await self._reload()
                self._timer_due = None
                await self._process(batch, full=True)
                return
            if not appended:
                self._deltas.clear()
                return
        if self._deltas:
            self._publish(self._deltas)
            if any(d.kind is DeltaKind.STATUS and d.market_id is None for d in self._deltas):
                await self._list()
            self._deltas = []
        for cmd, value, ok in results:
            if cmd.future.done():
                continue
            if ok:
                cmd.future.set_result(value)
            else:
                cmd.future.set_exception(value)
        self._schedule_release()

    async def _prefetch_decisions(self, batch: list[_Command], full: bool = False) -> None:
        """Load the batch's already-decided bets (one HMGET) for idempotent replay; fresh
        bets are skipped (``full``: none is) and their entries checked by the append instead;
        a batch of fresh bets only makes no round trip here."""
        self.book.index.clear()
        self._unchecked = set() if full else {
            b.bet_id for c in batch if c.kind == "bets" for b in c.args if b.bet_id in c.fresh}
        bet_ids = [b.bet_id for c in batch if c.kind == "bets" for b in c.args
                   if b.bet_id not in self._unchecked]
        bet_ids += [bet_id for c in batch if c.kind == "resolve" for bet_id, _ in c.args]
        for c in batch:
            if c.kind in ("cashout", "quote"):
                bet_ids += [c.args.bet_id, f"co:{c.args.request_id}"]
        if bet_ids:
            self.lookups += 1
            found = await self._journal.bet_payloads(bet_ids)
            self.book.index.update({k: decode(v) for k, v in found.items()})  # type: ignore[misc]

    def _decide(self, cmd: _Command, now: float) -> tuple[Any, list[BookEvent]]:
        book = self.book
        if cmd.kind == "bets":
            return self._decide_bets(cmd.args, now)
        if cmd.kind == "resolve":
            return self._resolve(cmd.args, now)
        if cmd.kind == "release":
            released = book.release_due(now)
            for held in cashout.due_cashouts(book.state, now):
                released += book.commit([cashout.recheck(book.state, held, self.config.cashout,
                                                         now)])
            return None, released
        if cmd.kind == "quote":
            return cashout.quote(book.state, self._cashable(cmd.args), self.config.cashout,
                                 now), []
        if cmd.kind == "cashout":
            return self._cash_out(cmd.args, now)
        if cmd.kind == "feed":
            return self._feed(cmd.args, now)
        if cmd.kind == "feed_lost":
            provider, silent_s = cmd.args
            return None, book.feed_lost(provider, silent_s, now)
        if cmd.kind == "view":
            return event_view(book.state), []
        if cmd.kind == "exposure":
            return exposure_view(book.state), []
        handler = _OPERATOR[cmd.kind]
        produced = handler(book, cmd.args, now)
        # the view as of this command; it is only sent once the batch is durable
        if cmd.kind == "void_window":
            return (_window_id(book, cmd.args), event_view(book.state)), produced
        if cmd.kind in ("settled", "liability"):
            return None, produced
        return event_view(book.state), produced

    def _decide_bets(self, bets: list[PlaceBet], now: float) -> tuple[Any, list[BookEvent]]:
        """Each bet's journal payload (or its structural refusal) and the events to append."""
        out: list[bytes | errors.DomainError] = []
        produced: list[BookEvent] = []
        for cmd in bets:
            try:
                decision, events = self.book.place(cmd, now)
            except errors.DomainError as exc:
                out.append(exc)
                continue
            payload = encode(decision)
            if events:
                produced.append(decision)
                self._payloads[cmd.bet_id] = payload
            out.append(payload)
        return out, produced

    def _cashable(self, req: CashoutRequest) -> BetAccepted:
        """The caller's accepted bet (UNKNOWN_BET for another's: never say it exists)."""
        found = self.book.decision(req.bet_id)
        if found is None or decided_for(found)[1] != req.account_id:
            raise errors.UnknownBet(f"no bet {req.bet_id}")
        if isinstance(found, BetCashedOut):
            raise errors.CashoutUnavailable(f"bet {req.bet_id} is cashed out already")
        if not isinstance(found, BetAccepted):
            raise errors.CashoutUnavailable(f"bet {req.bet_id} was not accepted")
        return found

    def _cash_out(self, req: CashoutRequest, now: float) -> tuple[Any, list[BookEvent]]:
        """The request's decision (its original one on a retry) and the events to journal."""
        fp = cashout.fingerprint(req.bet_id, req.quote_id, req.amount, req.policy)
        found = self.book.decision(req.bet_id)
        earlier = (found if isinstance(found, BetCashedOut)
                   and found.terms.request_id == req.request_id
                   else self.book.index.get(f"co:{req.request_id}"))
        if isinstance(earlier, BetCashedOut | CashoutHeld | CashoutRejected):
            if earlier.terms.fingerprint != fp or earlier.terms.account_id != req.account_id:
                raise errors.IdempotencyKeyReused(
                    f"cash-out {req.request_id} was asked with another body")
            return earlier, []
        bet = self._cashable(req)
        terms = CashoutTerms(req.request_id, req.bet_id, req.account_id, req.quote_id,
                             req.amount, req.policy, fp, now)
        decision = cashout.decide(self.book.state, terms, bet, self.config.cashout, now)
        return decision, self.book.commit([decision])

    def _resolve(self, items: list[tuple[str, str]], now: float) -> tuple[Any, list[BookEvent]]:
        out: list[bytes] = []
        produced: list[BookEvent] = []
        for bet_id, account_id in items:
            decision, events = self.book.resolve(bet_id, account_id, now)
            produced.extend(events)
            out.append(encode(decision))
        return out, produced

    def _feed(self, messages: list[FeedMessage], now: float) -> tuple[Any, list[BookEvent]]:
        """Each message's ack, and the events to journal (with each provider's new ``seq``)."""
        acks: list[Ack] = []
        produced: list[BookEvent] = []
        state = self.book.state
        applied: dict[str, int] = {}
        for msg in messages:
            last = max(applied.get(msg.provider, 0), state.feed_seq.get(msg.provider, 0))
            # a provider-wide ``alive`` (no event id) counts in a sequence of its own, which
            # the feed adapter gates: it is never a duplicate of this event's messages
            if msg.seq <= last and msg.event_id:
                acks.append(Ack(msg.event_id, msg.seq, AckStatus.DUPLICATE))
                continue
            self._heard[msg.provider] = now  # any message says the provider is alive
            if msg.kind is FeedKind.ALIVE:
                produced += self.book.feed_alive(msg.provider, now)
                acks.append(Ack(msg.event_id, msg.seq, AckStatus.APPLIED, version=state.version))
                continue  # heartbeats are not journaled, nor is their seq
            applied[msg.provider] = msg.seq
            try:
                produced += self.book.commit(decide_feed(state, msg, now))
            except errors.DomainError as exc:
                acks.append(Ack(msg.event_id, msg.seq, AckStatus.REFUSED, exc.code, exc.detail,
                                state.version))
                continue
            acks.append(Ack(msg.event_id, msg.seq, AckStatus.APPLIED, version=state.version))
        for provider, seq in applied.items():
            produced += self.book.commit([sequence(provider, seq, now)])
        return acks, produced

    # ------------------------------------------------------------ deltas and the feed watchdog

    def _collect(self, state: Any, event: BookEvent) -> None:
        found = delta_of(state, event)
        if found is not None:
            self._deltas.append(found)

    async def _list(self) -> None:
        """The catalog's summary (``GET /v1/events``) after the event's status changed: a
        feed's match state moves it too, not only the operator API."""
        try:
            await self._catalog.upsert(event_view(self.book.state))
        except (redis.RedisError, OSError) as exc:  # the next change (or operator) repairs it
            log.warning("event %s: catalog not updated (%s)", self.event_id, exc)

    def _publish(self, deltas: list[Delta]) -> None:
        """Send durable deltas to every region's cache (fire and forget: a cache that misses
        one sees the gap by version and resynchronises)."""
        self._published = deltas[-1].version
        for cache in self._caches.values():  # looked up by the beat task (a blocking call)
            cache.publish.remote(self.event_id, deltas)

    async def _find_caches(self) -> None:
        import ray

        for region in self.config.regions:
            if region in self._caches:
                continue
            try:
                self._caches[region] = await asyncio.to_thread(
                    ray.get_actor, cache_name(region), namespace=NAMESPACE)
            except ValueError:
                continue  # not started (yet): it loads the event itself when asked

    async def _watch(self) -> None:
        """Every ``beat_s``: find caches and tell them the version; and, a twentieth of the
        feed timeout apart (at most every ``beat_s``), suspend on a silent feed."""
        tick = min(self.config.beat_s, max(0.05, self.config.feed_timeout_s / 20))
        next_beat = 0.0
        while not self._fenced:
            await asyncio.sleep(tick)
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.config.beat_s
                    await self._find_caches()
                    for cache in self._caches.values():  # what they were sent, not a batch
                        cache.beat.remote(self.event_id, self._published)  # being journaled
                await self._check_feed()
            except Exception:  # a lost beat is repaired by the next one
                log.exception("event %s: watchdog", self.event_id)
                self._caches.clear()

    async def _check_feed(self) -> None:
        state = self.book.state
        if state.status is EventStatus.CLOSED:
            return
        now = self.clock()
        for provider, heard in list(self._heard.items()):
            silent = now - heard
            if silent > self.config.feed_timeout_s and provider not in state.feed_lost:
                await self._submit("feed_lost", (provider, round(silent, 3)))

    async def _append(self, events: list[BookEvent], batch: list[_Command]) -> bool | None:
        """True once journaled; False when the append failed (the batch is answered
        UNAVAILABLE, the book rebuilt); None when a fresh bet was decided already."""
        entries = [self._entry(ev) for ev in events]
        self._payloads.clear()
        new_seq = self.seq + len(entries)
        snapshot = None
        if new_seq - self.snapshot_seq >= self.config.snapshot_every:
            snapshot = state_to_dict(self.book.state)
        try:
            self.seq, self.hash = await self._journal.append(
                self.seq, self.hash, entries, snapshot
            )
        except DuplicateBet as exc:
            log.info("event %s: %s; deciding the batch again", self.event_id, exc)
            return None
        except (JournalError, redis.RedisError, OSError) as exc:
            await self._fail(batch, exc)
            return False
        if snapshot is not None:
            self.snapshot_seq = self.seq
        return True

    async def _fail(self, batch: list[_Command], exc: Exception) -> None:
        fenced = isinstance(exc, Fenced)
        reason = "replaced by a newer incarnation" if fenced else f"journal write failed: {exc}"
        for cmd in batch:
            if not cmd.future.done():
                cmd.future.set_exception(
                    errors.Unavailable(f"event {self.event_id}: {reason}; outcome unknown")
                )
        if fenced:
            self._fenced = True
            log.error("event %s epoch %d fenced: refusing all work", self.event_id, self.epoch)
            return
        log.warning("event %s: %s; rebuilding state from Redis", self.event_id, exc)
        await self._reload()
        self._timer_due = None  # the rebuilt book may hold bets the old timer did not know
        self._schedule_release()

    def _entry(self, event: BookEvent) -> Entry:
        """Journal entry of an event; a bet's entry is indexed, and encoded only once."""
        if isinstance(event, (BetAccepted, BetHeld, BetRejected)):
            bet_id = event.terms.bet_id
            payload = self._payloads.get(bet_id) or encode(event)
            return Entry(payload, bet_id, new=bet_id in self._unchecked)
        return Entry(encode(event), index_key(event), settles=isinstance(event, _SETTLES))

    def _schedule_release(self) -> None:
        due = next_due(self.book.state)
        if due is None or (self._timer_due is not None and self._timer_due <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        delay = max(0.0, due - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire_release)

    def _fire_release(self) -> None:
        self._timer, self._timer_due = None, None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # nobody awaits a release: a failure is handled (reload, re-arm) by the consumer
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.put_nowait(_Command("release", None, future))

    # ------------------------------------------------------------ public methods

    async def place_bets(self, bets: list[PlaceBet], fresh: list[str] | None = None
                         ) -> list[bytes | errors.DomainError]:
        """Decide a batch of bets in order, durably; one result per bet, in order.

        ``fresh``: the ids of bets whose stake reservation was just made (the wallet's reserve
        did not replay it), so almost surely never decided: the actor skips looking for their
        earlier decisions, and the journal append checks it instead (``_process``).

        A result is the journal payload of the bet's decision (``domain.codec.decode`` gives
        the decision: encoded once, it is also what the journal and the bet index hold) or the
        bet's structural refusal (unknown market, off-ladder price, a reused key).
        Raises ``Unavailable`` if the batch could not be journaled (outcome unknown).
        """
        result: list[bytes | errors.DomainError] = await self._submit(
            "bets", bets, frozenset(fresh or ()))
        return result

    async def resolve(self, items: list[tuple[str, str]]) -> list[bytes]:
        """The decision of each (bet id, account id); undecided bets are abandoned for good.

        Used to finish a saga whose outcome is unknown: after this answers, a late
        ``place_bets`` for the same bet id can only return the same decision.
        """
        result: list[bytes] = await self._submit("resolve", items)
        return result

    async def create_event(self, spec: EventCreated) -> EventView:
        """Create the event (the same definition again changes nothing)."""
        result: EventView = await self._submit("create", spec)
        return result

    async def set_status(self, status: EventStatus) -> EventView:
        result: EventView = await self._submit("status", EventStatus(status))
        return result

    async def set_market_status(self, market_id: str, status: MarketStatus) -> EventView:
        result: EventView = await self._submit("market_status", (market_id, MarketStatus(status)))
        return result

    async def change_odds(self, market_id: str, prices: dict[str, Decimal]) -> EventView:
        result: EventView = await self._submit("odds", (market_id, prices))
        return result

    async def set_score(self, score: str) -> EventView:
        result: EventView = await self._submit("score", score)
        return result

    async def result_market(self, market_id: str, result: MarketResult, close: bool
                            ) -> EventView:
        """Close the market (if ``close``) and record its result (see ``decide_result``)."""
        found: EventView = await self._submit("result", (market_id, result, close))
        return found

    async def rollback_market(self, market_id: str) -> EventView:
        found: EventView = await self._submit("rollback", market_id)
        return found

    async def void_window(self, start: float, end: float, market_id: str | None,
                          reason: str) -> tuple[str, EventView]:
        found: tuple[str, EventView] = await self._submit(
            "void_window", (start, end, market_id, reason))
        return found

    async def rollback_window(self, window_id: str) -> EventView:
        found: EventView = await self._submit("rollback_window", window_id)
        return found

    async def settled(self, report: MarketSettled) -> None:
        await self._submit("settled", report)

    async def release(self, report: LiabilityReleased) -> None:
        await self._submit("liability", report)

    async def cashout_quote(self, req: CashoutRequest) -> cashout.Quote:
        """What the book offers for the caller's bet now."""
        found: cashout.Quote = await self._submit("quote", req)
        return found

    async def cash_out(self, req: CashoutRequest) -> cashout.CashoutDecision:
        """Cash out the caller's bet (held for the in-play delay, or refused with a fresh
        quote); idempotent by request id."""
        found: cashout.CashoutDecision = await self._submit("cashout", req)
        return found

    async def feed(self, messages: list[FeedMessage]) -> list[Ack]:
        """Apply a provider's messages in order, durably; one ack per message, in order.

        A message at or below the provider's last applied ``seq`` is ``DUPLICATE``; one the
        book refuses is ``REFUSED`` with its code (nothing changed); ``alive`` is the
        heartbeat (it re-opens the markets if the provider was lost).
        """
        result: list[Ack] = await self._submit("feed", messages)
        return result

    async def set_delay(self, market_id: str, delay_s: float) -> EventView:
        """A market's in-play delay (the edge checks it against the video latency)."""
        result: EventView = await self._submit("delay", (market_id, delay_s))
        return result

    async def view(self) -> EventView:
        result: EventView = await self._submit("view", None)
        return result

    async def exposure(self) -> ExposureView:
        result: ExposureView = await self._submit("exposure", None)
        return result

    async def stats(self) -> dict[str, Any]:
        """Operational facts for dashboards and tests (not ordered with the mailbox)."""
        return {
            "event_id": self.event_id,
            "epoch": self.epoch,
            "seq": self.seq,
            "snapshot_seq": self.snapshot_seq,
            "recovery_s": self.recovery_s,
            "replayed": self.replayed,
            "redos": self.redos,
            "lookups": self.lookups,
            "queued": self._queue.qsize(),
            "held": len(self.book.state.held),
            "fenced": self._fenced,
            "version": self.book.state.version,
            "feed_lost": sorted(self.book.state.feed_lost),
            "feed_heard_s_ago": {p: round(self.clock() - t, 3) for p, t in self._heard.items()},
            "pid": os.getpid(),
        }

    async def ping(self) -> bool:
        return not self._fenced


_OPERATOR: dict[str, Callable[[Book, Any, float], list[BookEvent]]] = {
    "create": lambda book, spec, now: book.create(spec),
    "status": lambda book, status, now: book.set_status(status, now),
    "market_status": lambda book, a, now: book.set_market_status(a[0], a[1], now),
    "odds": lambda book, a, now: book.change_odds(a[0], a[1], now),
    "score": lambda book, score, now: book.set_score(score, now),
    "result": lambda book, a, now: book.result(a[0], a[1], a[2], now),
    "rollback": lambda book, market_id, now: book.rollback(market_id, now),
    "void_window": lambda book, a, now: book.void_window(a[0], a[1], a[2], a[3], now),
    "rollback_window": lambda book, window_id, now: book.rollback_window(window_id, now),
    "settled": lambda book, report, now: book.settled(report),
    "liability": lambda book, report, now: book.release(report),
    "delay": lambda book, a, now: book.set_delay(a[0], a[1], now),
}
# the journal entries settlement acts on (the append marks them: see storage/settlement.py)
_SETTLES = (MarketResulted, SettlementRolledBack, VoidWindowOpened, VoidWindowRolledBack,
            BetCashedOut)


def _window_id(book: Book, args: tuple[float, float, str | None, str]) -> str:
    """The id of the window in force for (start, end, market) (just opened, or before)."""
    start, end, market_id, _ = args
    return next(w.window_id for w in book.state.windows.values()
                if (w.start, w.end, w.market_id) == (start, end, market_id))


def remote_event_actor(event_id: str, config: ActorConfig) -> Any:
    """Get or create the named detached actor of an event (creation races are safe)."""
    import ray

    cls = ray.remote(EventActor)
    return cls.options(
        name=actor_name(event_id),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=0,
        max_concurrency=10_000,
        num_cpus=0,
    ).remote(event_id, config)
