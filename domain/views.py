"""Read models of an event book: what bettors and operators see, as frozen typed values.

The event actor answers with these; the HTTP edge turns them into JSON (``serve_apps.views``).
Money and prices stay ``Decimal`` here; only the edge formats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.book import BookState, MarketState
from domain.events import EventStatus, MarketStatus


@dataclass(frozen=True, slots=True)
class SelectionView:
    selection_id: str
    name: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class MarketView:
    market_id: str
    name: str
    status: MarketStatus
    version: int
    in_play_delay_s: float
    selections: tuple[SelectionView, ...]
    result_version: int | None = None  # the result in force (None: none)
    cause: str = ""  # why it is suspended ("goal", "feed_lost", ...), "" otherwise


@dataclass(frozen=True, slots=True)
class EventView:
    """The event as ``GET /v1/events/{event_id}`` shows it."""

    event_id: str
    name: str
    sport: str
    status: EventStatus
    starts_at: str
    score: str
    markets: tuple[MarketView, ...]
    version: int = 0  # the public version (``BookState.version``): the odds stream's id

    def market(self, market_id: str) -> MarketView | None:
        """One market of the event, or None."""
        return next((m for m in self.markets if m.market_id == market_id), None)


@dataclass(frozen=True, slots=True)
class SelectionExposure:
    selection_id: str
    price: Decimal
    payout_total: Decimal
    liability: Decimal


@dataclass(frozen=True, slots=True)
class MarketExposure:
    market_id: str
    status: MarketStatus
    bets: int
    result_version: int | None
    max_liability: Decimal
    stakes_total: Decimal
    worst_liability: Decimal
    selections: tuple[SelectionExposure, ...]


@dataclass(frozen=True, slots=True)
class ExposureView:
    """Liability per market and selection (the book's net loss if it wins), for operators."""

    event_id: str
    bets_accepted: int
    bets_pending: int
    markets: tuple[MarketExposure, ...]


def event_view(state: BookState) -> EventView:
    """The event with its markets; an open market of a suspended event shows as suspended."""
    return EventView(
        event_id=state.event_id, name=state.name, sport=state.sport,
        status=effective_status(state), starts_at=state.starts_at, score=state.score,
        markets=tuple(_market_view(state, m) for m in state.markets.values()),
        version=state.version,
    )


def effective_status(state: BookState) -> EventStatus:
    """The event's status as bettors see it: suspended while its feed is lost."""
    if state.feed_lost and state.status in (EventStatus.IN_PLAY, EventStatus.SCHEDULED):
        return EventStatus.SUSPENDED
    return state.status


def market_status(state: BookState, market: MarketState) -> tuple[MarketStatus, str]:
    """A market's status and cause as bettors see them: an open market of a suspended event
    (or of a lost feed) shows as suspended."""
    if market.status is MarketStatus.OPEN and state.suspended():
        return MarketStatus.SUSPENDED, "feed_lost" if state.feed_lost else "event"
    return market.status, market.cause


def _market_view(state: BookState, market: MarketState) -> MarketView:
    status, cause = market_status(state, market)
    return MarketView(
        market_id=market.market_id, name=market.name, status=status, version=market.version,
        in_play_delay_s=market.in_play_delay_s,
        selections=tuple(SelectionView(s.selection_id, s.name, s.price)
                         for s in market.selections.values()),
        result_version=None if market.result is None else market.result.version,
        cause=cause,
    )


def exposure_view(state: BookState) -> ExposureView:
    """Liability per market and selection."""
    return ExposureView(
        event_id=state.event_id, bets_accepted=state.bets_accepted,
        bets_pending=len(state.held), markets=tuple(_exposure(m) for m in state.markets.values()),
    )


def _exposure(m: MarketState) -> MarketExposure:
    return MarketExposure(
        market_id=m.market_id, status=m.status, bets=m.bets,
        result_version=None if m.result is None else m.result.version,
        max_liability=m.max_liability, stakes_total=m.stakes_total,
        worst_liability=max(m.liability(s) for s in m.selections),
        selections=tuple(
            SelectionExposure(s.selection_id, s.price, s.payout_total, m.liability(s.selection_id))
            for s in m.selections.values()
        ),
    )


@dataclass(frozen=True, slots=True)
class EventSummary:
    """One line of ``GET /v1/events``."""

    event_id: str
    name: str
    sport: str
    status: EventStatus
    starts_at: str

    @classmethod
    def of(cls, view: EventView) -> EventSummary:
        return cls(view.event_id, view.name, view.sport, view.status, view.starts_at)
