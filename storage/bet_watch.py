"""Following one account's bets as they change, from the bet index alone (no actor asked).

Nothing pushes a bet's changes to anyone: a decision lands in the event's ``{ev}:bets`` by the
journal append (which also moves ``{ev}:head``), a settlement record in ``{ev}:stl`` before
settlement moves ``{ev}:stl:cursor``, and a new bet in the account's ``{acct}:bets`` (scored
by placement time, ms) by the reserve script. ``BetWatch`` polls those (the partner API's
``StreamBets``): each ``poll`` is ONE pipelined round trip while nothing happened — the
account's bets placed since the last look, and the two markers of every event it follows —
and reads bets only where a marker moved (a second round trip) or a new bet appeared (its
event, then its decision: two more).

The bets followed are the ones the watch started with and every one placed since, at most
``max_followed`` (the oldest are let go); a rejected or abandoned bet is final and let go
once told. A bet's change is told when its decision or its settlement record differs from
what was last told (the raw bytes are compared), so a held bet is told pending, then
accepted or rejected; an accepted one settled, resettled, rolled back or cashed out.

Placement times come from the clocks of the replicas that reserved the bets, and two
replicas' reserves can reach Redis out of order: each poll looks ``skew_ms`` further back
than the newest bet it saw and skips the bets it knows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from domain.bets import BetDecision, decided_for
from domain.codec import decode
from domain.events import BetAbandoned, BetRejected
from storage.bet_index import FoundBet
from storage.keys import EventKeys, betref_key, bets_key
from storage.settlement import decode_record

# what a poll reads of each followed event before reading any of its bets
_CURSOR_FIELDS = ("seq", "step", "done")


@dataclass(frozen=True, slots=True)
class BetChange:
    """A bet's state now, and when it was placed (POSIX ms, the account's bet list's score)."""

    placed_at_ms: int
    bet: FoundBet


@dataclass(slots=True)
class _Followed:
    placed_at_ms: int
    event_id: str | None = None
    # the raw index entries (decision, settlement record) last read, and last told
    read: tuple[bytes | None, bytes | None] = (None, None)
    told: tuple[bytes | None, bytes | None] = (None, None)
    final: bool = False  # told rejected or abandoned: nothing more will change


class BetWatch:
    """One account's bets, followed by polling; see the module docstring."""

    def __init__(self, client: aioredis.Redis, account_id: str, *, max_followed: int = 1000,
                 skew_ms: int = 2000, max_new: int = 2000) -> None:
        self.redis, self.account_id = client, account_id
        self.max_followed, self.skew_ms, self.max_new = max_followed, skew_ms, max_new
        self.followed: dict[str, _Followed] = {}
        # bet id -> placement ms of every bet seen at or after floor - skew (followed or not)
        self.known: dict[str, int] = {}
        # event id -> its markers when its followed bets were last read
        self.markers: dict[str, tuple[Any, ...]] = {}
        self.floor_ms = 0  # the newest placement time seen
        self.round_trips = 0

    async def start(self, since_ms: int = 0, recent: int = 50) -> list[BetChange]:
        """The current state of the bets placed at or after ``since_ms`` (its newest
        ``max_followed``), or else of the ``recent`` newest; oldest first. From then on
        they are followed, and so is every bet placed later."""
        key = bets_key(self.account_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            if since_ms > 0:
                pipe.zrevrangebyscore(key, "+inf", since_ms, start=0, num=self.max_followed,
                                      withscores=True)
            else:
                pipe.zrevrange(key, 0, max(1, min(recent, self.max_followed)) - 1,
                               withscores=True)
            pipe.zrevrange(key, 0, 0, withscores=True)
            chosen, newest = await pipe.execute()
        self.round_trips += 1
        self.floor_ms = max(since_ms, *(int(s) for _, s in newest), 0)
        for raw_id, score in chosen:
            self.followed[raw_id.decode()] = _Followed(int(score))
        # bets near the newest that were not chosen are known: never told as new
        for raw_id, score in await self._placed_since(self.floor_ms - self.skew_ms):
            self.known[raw_id.decode()] = int(score)
        for bet_id, followed in self.followed.items():
            self.known[bet_id] = followed.placed_at_ms
        await self._read_new(list(self.followed))
        return self._changes(list(self.followed))

    async def poll(self) -> list[BetChange]:
        """What changed since the last look (placed, decided, settled, ...), oldest first."""
        events = sorted({f.event_id for f in self.followed.values() if f.event_id})
        key = bets_key(self.account_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(key, self.floor_ms - self.skew_ms, "+inf", start=0,
                               num=self.max_new, withscores=True)
            for event_id in events:
                _markers(pipe, event_id)
            replies = await pipe.execute()
        self.round_trips += 1
        placed = cast(list[tuple[bytes, float]], replies[0])
        moved: set[str] = set()
        for i, event_id in enumerate(events):
            marker = _marker(replies[1 + 2 * i:3 + 2 * i])
            if self.markers.get(event_id) != marker:
                self.markers[event_id] = marker
                moved.add(event_id)
        new: list[str] = []
        for raw_id, score in placed:
            bet_id = raw_id.decode()
            if bet_id not in self.known:
                self.known[bet_id] = int(score)
                self.followed[bet_id] = _Followed(int(score))
                new.append(bet_id)
            self.floor_ms = max(self.floor_ms, int(score))
        touched = [b for b, f in self.followed.items() if f.event_id in moved]
        if moved:
            await self._read_bets(touched)
        if new:
            await self._read_new(new)
        changes = self._changes(touched + new)
        self._trim()
        return changes

    # ------------------------------------------------------------ reading

    async def _placed_since(self, floor_ms: int) -> list[tuple[bytes, float]]:
        raw = await self.redis.zrangebyscore(bets_key(self.account_id), floor_ms, "+inf",
                                             start=0, num=self.max_new, withscores=True)
        self.round_trips += 1
        return cast(list[tuple[bytes, float]], raw)

    async def _read_new(self, bet_ids: list[str]) -> None:
        """New bets: their events (one round trip), then their events' markers and their
        index entries (another)."""
        if not bet_ids:
            return
        raw = await cast(Awaitable[list[bytes | None]],
                         self.redis.hmget(betref_key(self.account_id), bet_ids))
        self.round_trips += 1
        fresh: set[str] = set()
        for bet_id, event in zip(bet_ids, raw, strict=True):
            if event is None:  # not reserved after all (a refused reserve leaves none)
                self.followed.pop(bet_id, None)
                continue
            self.followed[bet_id].event_id = event.decode()
            if event.decode() not in self.markers:
                fresh.add(event.decode())
        await self._read_bets([b for b in bet_ids if b in self.followed], frozenset(fresh))

    async def _read_bets(self, bet_ids: Sequence[str], markers_of: frozenset[str] = frozenset()
                         ) -> None:
        """The index entries of these bets, grouped by event, in one round trip; the markers
        of the events in ``markers_of`` are read first in the same pipeline."""
        by_event: dict[str, list[str]] = {}
        for bet_id in bet_ids:
            event_id = self.followed[bet_id].event_id
            if event_id is not None:
                by_event.setdefault(event_id, []).append(bet_id)
        if not by_event:
            return
        order = sorted(by_event)
        marked = [e for e in order if e in markers_of]
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in marked:
                _markers(pipe, event_id)
            for event_id in order:
                keys = EventKeys(event_id)
                pipe.hmget(keys.bets, by_event[event_id])
                pipe.hmget(keys.settlements, by_event[event_id])
            replies = await pipe.execute()
        self.round_trips += 1
        for i, event_id in enumerate(marked):
            self.markers[event_id] = _marker(replies[2 * i:2 * i + 2])
        rest = replies[2 * len(marked):]
        for i, event_id in enumerate(order):
            decisions, records = rest[2 * i], rest[2 * i + 1]
            for bet_id, decision, record in zip(by_event[event_id], decisions, records,
                                                strict=True):
                self.followed[bet_id].read = (decision, record)

    def _changes(self, bet_ids: Sequence[str]) -> list[BetChange]:
        """The bets among ``bet_ids`` whose entries differ from what was last told."""
        out: list[BetChange] = []
        for bet_id in dict.fromkeys(bet_ids):
            followed = self.followed.get(bet_id)
            if followed is None or followed.event_id is None:
                continue
            decision, record = followed.read
            if decision is None or followed.read == followed.told:
                continue
            found = cast(BetDecision, decode(decision))
            if decided_for(found)[1] != self.account_id:
                continue
            followed.told = followed.read
            followed.final = isinstance(found, BetRejected | BetAbandoned)
            out.append(BetChange(followed.placed_at_ms, FoundBet(
                followed.event_id, found, None if record is None else decode_record(record))))
        out.sort(key=lambda c: c.placed_at_ms)
        return out

    def _trim(self) -> None:
        """Let go of final bets, of the oldest beyond ``max_followed``, of events with no
        bet followed, and of known bets below the skew window."""
        for bet_id in [b for b, f in self.followed.items() if f.final]:
            del self.followed[bet_id]
        if len(self.followed) > self.max_followed:
            oldest = sorted(self.followed, key=lambda b: self.followed[b].placed_at_ms)
            for bet_id in oldest[:len(self.followed) - self.max_followed]:
                del self.followed[bet_id]
        events = {f.event_id for f in self.followed.values()}
        for event_id in [e for e in self.markers if e not in events]:
            del self.markers[event_id]
        floor = self.floor_ms - self.skew_ms
        for bet_id in [b for b, at in self.known.items() if at < floor]:
            del self.known[bet_id]


def _markers(pipe: Any, event_id: str) -> None:
    """Queue the reads of an event's markers: its journal head, settlement's cursor."""
    keys = EventKeys(event_id)
    pipe.hget(keys.head, "seq")
    pipe.hmget(keys.settle_cursor, list(_CURSOR_FIELDS))


def _marker(replies: Sequence[Any]) -> tuple[Any, ...]:
    head, cursor = replies
    return (head, *cursor)
