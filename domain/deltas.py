"""What bettors see change, one delta per public change of an event (pure, no I/O).

Each delta carries the event's public version after the change (``BookState.version``): the
odds caches detect a gap by it, and the SSE stream uses it as the ``id:`` of each message, so a
client never sees an older version after a newer one. A snapshot is an ``EventView`` (its
``version`` is the same counter).

- ``odds``: a market's prices moved (``market_id``, ``market_version``, ``prices``);
- ``status``: the event's or a market's status changed (a bet stop, a lost feed, a result),
  with the whole status picture (``status``, ``markets``: each market's status) so a client
  needs no history to show it, and the ``cause``;
- ``score``: the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from domain.book import PUBLIC, BookState
from domain.events import (
    BookEvent,
    FeedLost,
    MarketStatusChanged,
    OddsChanged,
    ScoreChanged,
)
from domain.views import effective_status, market_status


class DeltaKind(StrEnum):
    ODDS = "odds"
    STATUS = "status"
    SCORE = "score"


@dataclass(frozen=True, slots=True)
class Delta:
    event_id: str
    version: int
    kind: DeltaKind
    at: float
    market_id: str | None = None
    market_version: int | None = None
    prices: tuple[tuple[str, Decimal], ...] = ()
    status: str = ""
    markets: tuple[tuple[str, str], ...] = ()
    score: str = ""
    cause: str = ""


def delta_of(state: BookState, event: BookEvent) -> Delta | None:
    """The delta of ``event``, which was just folded into ``state`` (None: not public)."""
    if type(event) not in PUBLIC:
        return None
    at = getattr(event, "at", 0.0)
    if isinstance(event, OddsChanged):
        return Delta(state.event_id, state.version, DeltaKind.ODDS, at,
                     market_id=event.market_id, market_version=event.version,
                     prices=event.prices)
    if isinstance(event, ScoreChanged):
        return Delta(state.event_id, state.version, DeltaKind.SCORE, at, score=event.score)
    cause = ""
    market_id = getattr(event, "market_id", None)
    if isinstance(event, MarketStatusChanged):
        cause = event.cause
    elif isinstance(event, FeedLost):
        cause = "feed_lost"
    return Delta(state.event_id, state.version, DeltaKind.STATUS, at, market_id=market_id,
                 status=effective_status(state).value,
                 markets=tuple((m.market_id, market_status(state, m)[0].value)
                               for m in state.markets.values()),
                 cause=cause)
