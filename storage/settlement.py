"""Settlement's own records in the event's slot: what each bet was paid, and how far it got.

- ``{ev:<id>}:stl`` hash: bet id → the bet's settlement record (JSON): what it should have
  received in all (status, cents, dead heat) and its history, one entry per journal step
  that changed it: ``[seq, label, status, payout_cents, moved_cents, at_ms, version]``;
- ``{ev:<id>}:stl:cursor`` hash: the last journal seq fully settled, and inside the step in
  progress how many of its bets are done (a restart resumes there);
- ``{ev:<id>}:stl:summary`` hash: market id → the operator's totals (JSON);
- ``{ev:<id>}:stl:work`` the seq of the last journal entry that calls for settlement (the
  journal append writes it), so a sweep knows at once whether an event has work.

A step's records are written in the same round trip as (and before) its wallet movements:
the record is the intent, the movement (idempotent by bet and step) its execution; a
restart re-sends what a record says, never computes it twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from domain.events import BetStatus
from domain.settlement import BetSettlement
from storage.keys import EventKeys


def encode_record(record: BetSettlement) -> bytes:
    return orjson.dumps({"s": record.status, "p": record.payout_cents, "d": record.dead_heat,
                         "h": record.history})


def decode_record(raw: bytes) -> BetSettlement:
    data = orjson.loads(raw)
    status = None if data["s"] is None else _STATUSES[data["s"]]
    return BetSettlement(status, data["p"], data["d"], data["h"])


_STATUSES = {s.value: s for s in BetStatus}


@dataclass(frozen=True, slots=True)
class Cursor:
    """Settled up to journal entry ``seq``; of the step at ``step``, ``done`` bets are done."""

    seq: int = 0
    step: int = 0
    done: int = 0


@dataclass
class MarketTotals:
    """The operator's view of one market's settlement."""

    market_id: str
    status: str = "open"
    result_version: int | None = None
    settled_version: int | None = None
    bets: int = 0
    settled: int = 0
    stakes_cents: int = 0
    returns_cents: int = 0
    versions: list[int] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.bets - self.settled

    @property
    def gross_gaming_revenue_cents(self) -> int:
        return self.stakes_cents - self.returns_cents


class SettlementStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def cursor(self, event_id: str) -> Cursor:
        raw = await cast(Awaitable[dict[bytes, bytes]],
                         self.redis.hgetall(EventKeys(event_id).settle_cursor))
        if not raw:
            return Cursor()
        return Cursor(int(raw[b"seq"]), int(raw[b"step"]), int(raw[b"done"]))

    def cursor_command(self, event_id: str, cursor: Cursor) -> tuple[object, ...]:
        return ("HSET", EventKeys(event_id).settle_cursor, "seq", cursor.seq,
                "step", cursor.step, "done", cursor.done)

    async def save_cursor(self, event_id: str, cursor: Cursor) -> None:
        await self.redis.execute_command(*self.cursor_command(event_id, cursor))

    async def head(self, event_id: str) -> int:
        """The seq of the journal's last entry (0: none)."""
        raw = await self.redis.hget(EventKeys(event_id).head, "seq")  # type: ignore[misc]
        return 0 if raw is None else int(raw)

    async def work(self, event_id: str) -> int:
        """The seq of the last journal entry that calls for settlement (0: none yet)."""
        raw = await self.redis.get(EventKeys(event_id).settle_work)
        return 0 if raw is None else int(raw)

    async def records(self, event_id: str, bet_ids: Sequence[str]
                      ) -> dict[str, BetSettlement]:
        """The settlement records of these bets (bets never settled are left out)."""
        if not bet_ids:
            return {}
        raw = await cast(Awaitable[list[bytes | None]],
                         self.redis.hmget(EventKeys(event_id).settlements, list(bet_ids)))
        return {b: decode_record(r) for b, r in zip(bet_ids, raw, strict=True)
                if r is not None}

    def record_commands(self, event_id: str, records: dict[str, BetSettlement],
                        chunk: int = 1000) -> list[tuple[object, ...]]:
        """HSETs that write ``records`` (to send ahead of the step's wallet movements)."""
        key, items = EventKeys(event_id).settlements, list(records.items())
        commands: list[tuple[object, ...]] = []
        for start in range(0, len(items), chunk):
            flat: list[object] = []
            for bet_id, record in items[start:start + chunk]:
                flat += [bet_id, encode_record(record)]
            commands.append(("HSET", key, *flat))
        return commands

    async def save_totals(self, event_id: str, totals: MarketTotals) -> None:
        body = {"status": totals.status, "result_version": totals.result_version,
                "settled_version": totals.settled_version, "bets": totals.bets,
                "settled": totals.settled, "stakes_cents": totals.stakes_cents,
                "returns_cents": totals.returns_cents, "versions": totals.versions}
        await self.redis.hset(EventKeys(event_id).settle_summary,  # type: ignore[misc]
                              totals.market_id, orjson.dumps(body).decode())

    async def totals(self, event_id: str) -> dict[str, MarketTotals]:
        raw = await cast(Awaitable[dict[bytes, bytes]],
                         self.redis.hgetall(EventKeys(event_id).settle_summary))
        out: dict[str, MarketTotals] = {}
        for market, body in raw.items():
            data: dict[str, Any] = orjson.loads(body)
            out[market.decode()] = MarketTotals(market.decode(), **data)
        return out
