"""Where a player's bets are found without asking an event actor.

The reserve script records each bet's event (``{acct}:betref``) and placement time
(``{acct}:bets``) with its stake; the event actor's journal append indexes each bet's latest
decision (``{ev}:bets``); settlement records what it paid (``{ev}:stl``). Together they
answer "my bets" and "this bet" from Redis alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from domain.bets import BetDecision, decided_for
from domain.codec import decode
from domain.settlement import BetSettlement
from storage.keys import EventKeys, betref_key, bets_key
from storage.settlement import decode_record


@dataclass(frozen=True, slots=True)
class FoundBet:
    """A bet's latest decision, the event it was placed on, and its settlement (if any)."""

    event_id: str
    decision: BetDecision
    settlement: BetSettlement | None = None


class BetIndex:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def events_of(self, account_id: str, bet_ids: Sequence[str]) -> list[str | None]:
        """The event of each bet (None for a bet id the account never reserved)."""
        if not bet_ids:
            return []
        raw = await cast(Awaitable[list[bytes | None]],
                         self.redis.hmget(betref_key(account_id), list(bet_ids)))
        return [None if r is None else r.decode() for r in raw]

    async def find(self, account_id: str, bet_ids: Sequence[str]) -> dict[str, FoundBet]:
        """The decided bets among ``bet_ids`` of this account (others' bets are not found)."""
        by_event: dict[str, list[str]] = defaultdict(list)
        for bet_id, event_id in zip(bet_ids, await self.events_of(account_id, bet_ids),
                                    strict=True):
            if event_id is not None:
                by_event[event_id].append(bet_id)
        out: dict[str, FoundBet] = {}
        for event_id, ids in by_event.items():
            keys = EventKeys(event_id)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.bets, ids)
                pipe.hmget(keys.settlements, ids)
                raw, settled = await pipe.execute()
            for bet_id, payload, record in zip(ids, raw, settled, strict=True):
                if payload is None:
                    continue
                decision = cast(BetDecision, decode(payload))
                if decided_for(decision)[1] == account_id:
                    out[bet_id] = FoundBet(event_id, decision, None if record is None
                                           else decode_record(record))
        return out

    async def newest(self, account_id: str, start: int, count: int) -> list[str]:
        """Bet ids of the account, newest first, from position ``start``."""
        raw = await self.redis.zrevrange(bets_key(account_id), start, start + count - 1)
        return [r.decode() for r in raw]

