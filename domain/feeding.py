"""What a feed message does to an event book: the decisions, pure (no I/O).

``decide_feed`` maps one ``FeedMessage`` onto the book's own decisions (odds, statuses, score,
results), so a feed can do nothing an operator could not, and every rule of the book applies.
Sequence numbers are the caller's business (``FeedGate``): duplicates never get here.

Match states map onto the event's status: a half under way puts a scheduled event in play;
the end (or abandonment) closes it, which closes its markets (results follow, from the feed
or the operator). A bet stop suspends the named open markets (all when none are named) with
its cause; a bet start re-opens the suspended ones.
"""

from __future__ import annotations

from domain import errors
from domain.book import (
    BookState,
    decide_odds,
    decide_result,
    decide_rollback,
    decide_score,
    decide_status,
    decide_void_window,
)
from domain.events import (
    BookEvent,
    EventStatus,
    FeedSequence,
    MarketStatus,
    MarketStatusChanged,
)
from domain.feed import FeedKind, FeedMessage, MatchState
from domain.settlement import MarketResult

_PLAYING = (MatchState.FIRST_HALF, MatchState.HALF_TIME, MatchState.SECOND_HALF)


def decide_feed(state: BookState, msg: FeedMessage, now: float) -> list[BookEvent]:
    """The events ``msg`` produces (may be none), or the book's refusal."""
    kind = msg.kind
    if not state.created:
        raise errors.UnknownEvent(f"event {state.event_id} does not exist")
    if kind is FeedKind.ODDS_CHANGE:
        assert msg.market_id is not None
        return decide_odds(state, msg.market_id, dict(msg.prices), now)
    if kind is FeedKind.BET_STOP:
        return _stops(state, msg, MarketStatus.OPEN, MarketStatus.SUSPENDED, now)
    if kind is FeedKind.BET_START:
        return _stops(state, msg, MarketStatus.SUSPENDED, MarketStatus.OPEN, now)
    if kind is FeedKind.SCORE:
        return decide_score(state, msg.score, now)
    if kind is FeedKind.MATCH_STATE:
        return _match_state(state, msg, now)
    if kind is FeedKind.RESULT:
        assert msg.market_id is not None
        result = MarketResult(msg.winners, msg.void_factor, msg.dead_heat_factor,
                              msg.result_version)
        return decide_result(state, msg.market_id, result, True, now)
    if kind is FeedKind.ROLLBACK:
        assert msg.market_id is not None
        return decide_rollback(state, msg.market_id, now)
    if kind is FeedKind.VOID_WINDOW:
        return decide_void_window(state, msg.start, msg.end, msg.market_id,
                                  msg.cause or "feed", now)
    return []  # alive: the actor's watchdog handles it


def sequence(provider: str, seq: int, now: float) -> FeedSequence:
    """The journal entry that marks ``provider``'s messages up to ``seq`` as applied."""
    return FeedSequence(provider, seq, now)


def _stops(state: BookState, msg: FeedMessage, frm: MarketStatus, to: MarketStatus,
           now: float) -> list[BookEvent]:
    ids = msg.market_ids or tuple(state.markets)
    unknown = [m for m in ids if m not in state.markets]
    if unknown:
        raise errors.UnknownMarket(f"markets {unknown} are not in event {state.event_id}")
    cause = msg.cause if to is MarketStatus.SUSPENDED else ""
    return [MarketStatusChanged(m, to, state.markets[m].version + 1, now, cause)
            for m in ids if state.markets[m].status is frm]


def _match_state(state: BookState, msg: FeedMessage, now: float) -> list[BookEvent]:
    if msg.state in _PLAYING and state.status is EventStatus.SCHEDULED:
        return decide_status(state, EventStatus.IN_PLAY, now)
    if msg.state in (MatchState.ENDED, MatchState.ABANDONED):
        return decide_status(state, EventStatus.CLOSED, now)
    return []
