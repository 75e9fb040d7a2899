"""The event book: a pure state machine for one sporting event (no Ray, no Redis, no I/O).

Commands are decided against the current state and produce past-tense events; ``apply`` folds
an event into the state. The same fold serves live use, snapshot restore and journal replay,
so ``fold(journal) == live state`` by construction (a property test checks it).

Liability is the book's net loss if a selection wins: the payouts owed on that selection minus
every stake taken in the market. A bet on selection *s* raises only *s*'s liability (it lowers
the others'), so checking *s* alone keeps every selection within the market's limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain import errors
from domain.bets import BetDecision, PlaceBet
from domain.events import (
    BetAbandoned,
    BetAccepted,
    BetCashedOut,
    BetHeld,
    BetRejected,
    BetTerms,
    BookEvent,
    CashoutHeld,
    CashoutRejected,
    EventCreated,
    EventStatus,
    EventStatusChanged,
    FeedLost,
    FeedRecovered,
    FeedSequence,
    LiabilityReleased,
    MarketDelayChanged,
    MarketResulted,
    MarketSettled,
    MarketSpec,
    MarketStatus,
    MarketStatusChanged,
    OddsChanged,
    OddsPolicy,
    ScoreChanged,
    SelectionSpec,
    SettlementRolledBack,
    VoidWindowOpened,
    VoidWindowRolledBack,
)
from domain.ladder import format_price, is_on_ladder
from domain.money import ZERO, money
from domain.settlement import MarketResult

EVENT_TRANSITIONS: dict[EventStatus, frozenset[EventStatus]] = {
    EventStatus.SCHEDULED: frozenset(
        {EventStatus.IN_PLAY, EventStatus.SUSPENDED, EventStatus.CLOSED}
    ),
    EventStatus.IN_PLAY: frozenset({EventStatus.SUSPENDED, EventStatus.CLOSED}),
    EventStatus.SUSPENDED: frozenset(
        {EventStatus.IN_PLAY, EventStatus.SCHEDULED, EventStatus.CLOSED}
    ),
    EventStatus.CLOSED: frozenset(),
}
MARKET_TRANSITIONS: dict[MarketStatus, frozenset[MarketStatus]] = {
    MarketStatus.OPEN: frozenset({MarketStatus.SUSPENDED, MarketStatus.CLOSED}),
    MarketStatus.SUSPENDED: frozenset({MarketStatus.OPEN, MarketStatus.CLOSED}),
    MarketStatus.CLOSED: frozenset({MarketStatus.SETTLED, MarketStatus.VOIDED}),
    MarketStatus.SETTLED: frozenset({MarketStatus.CLOSED}),
    MarketStatus.VOIDED: frozenset(),
}


@dataclass(slots=True)
class SelectionState:
    selection_id: str
    name: str
    price: Decimal
    payout_total: Decimal = ZERO  # Σ stake × price of accepted bets on this selection


@dataclass(slots=True)
class MarketState:
    market_id: str
    name: str
    status: MarketStatus
    version: int
    in_play_delay_s: float
    max_liability: Decimal
    max_stake: Decimal
    max_payout: Decimal
    selections: dict[str, SelectionState]
    stakes_total: Decimal = ZERO
    suspensions: int = 0
    # settlement: the result in force (None: none, or rolled back), the highest version ever
    # given (versions only go up: a rolled-back one is dead), the version fully paid
    result: MarketResulted | None = None
    result_version: int = 0
    settled_version: int = 0
    bets: int = 0  # accepted bets (settlement's work is about them)
    cause: str = ""  # why it was last suspended (a bet stop's cause), "" when open

    def liability(self, selection_id: str) -> Decimal:
        """The book's net loss if ``selection_id`` wins; nothing once the market is settled."""
        if self.status is MarketStatus.SETTLED:
            return ZERO
        return self.selections[selection_id].payout_total - self.stakes_total


@dataclass(slots=True)
class BookState:
    """Everything the actor needs in memory; small (bets themselves live in the index)."""

    event_id: str
    created: bool = False
    name: str = ""
    sport: str = ""
    starts_at: str = ""
    status: EventStatus = EventStatus.SCHEDULED
    score: str = "0-0"
    suspensions: int = 0
    markets: dict[str, MarketState] = field(default_factory=dict)
    held: dict[str, BetHeld] = field(default_factory=dict)
    # cash-outs held for the in-play delay, by request id
    held_cashouts: dict[str, CashoutHeld] = field(default_factory=dict)
    bets_accepted: int = 0
    bets_rejected: int = 0
    # void windows in force, and every window id ever opened (ids are never reused)
    windows: dict[str, VoidWindowOpened] = field(default_factory=dict)
    windows_opened: int = 0
    # settlement reports already folded (a report is idempotent by its cause)
    released: set[str] = field(default_factory=set)
    # the public version: one more for each change a bettor can see (odds, statuses, score);
    # the odds stream's ids (``domain.deltas``): it never goes back, replay gives the same
    version: int = 0
    # the feed: the last applied message per provider, and the providers now silent
    feed_seq: dict[str, int] = field(default_factory=dict)
    feed_lost: set[str] = field(default_factory=set)

    def suspended(self) -> bool:
        """No market of the event takes bets (the operator's suspension or a lost feed)."""
        return self.status is EventStatus.SUSPENDED or bool(self.feed_lost)


# ---------------------------------------------------------------- fold


def apply(state: BookState, event: BookEvent) -> None:
    """Fold one event into the state (in place: the hot path cannot copy per bet)."""
    handler = _APPLY[type(event)]
    handler(state, event)
    if type(event) in PUBLIC:
        state.version += 1


def _apply_created(state: BookState, ev: EventCreated) -> None:
    state.created = True
    state.name, state.sport, state.starts_at = ev.name, ev.sport, ev.starts_at
    state.markets = {m.market_id: _market_from_spec(m) for m in ev.markets}


def _market_from_spec(spec: MarketSpec) -> MarketState:
    return MarketState(
        market_id=spec.market_id,
        name=spec.name,
        status=MarketStatus.OPEN,
        version=1,
        in_play_delay_s=spec.in_play_delay_s,
        max_liability=spec.max_liability,
        max_stake=spec.max_stake,
        max_payout=spec.max_payout,
        selections={
            s.selection_id: SelectionState(s.selection_id, s.name, s.price)
            for s in spec.selections
        },
    )


def _apply_status(state: BookState, ev: EventStatusChanged) -> None:
    if ev.status is EventStatus.SUSPENDED:
        state.suspensions += 1
    state.status = ev.status


def _apply_score(state: BookState, ev: ScoreChanged) -> None:
    state.score = ev.score


def _apply_market_status(state: BookState, ev: MarketStatusChanged) -> None:
    market = state.markets[ev.market_id]
    if ev.status is MarketStatus.SUSPENDED:
        market.suspensions += 1
    market.status = ev.status
    market.version = ev.version
    market.cause = ev.cause if ev.status is MarketStatus.SUSPENDED else ""


def _apply_odds(state: BookState, ev: OddsChanged) -> None:
    market = state.markets[ev.market_id]
    for selection_id, price in ev.prices:
        market.selections[selection_id].price = price
    market.version = ev.version


def _apply_accepted(state: BookState, ev: BetAccepted) -> None:
    terms = ev.terms
    market = state.markets[terms.market_id]
    market.stakes_total += terms.stake
    market.bets += 1
    market.selections[terms.selection_id].payout_total += terms.stake * ev.price
    state.held.pop(terms.bet_id, None)
    state.bets_accepted += 1


def _apply_held(state: BookState, ev: BetHeld) -> None:
    state.held[ev.terms.bet_id] = ev


def _apply_rejected(state: BookState, ev: BetRejected) -> None:
    state.held.pop(ev.terms.bet_id, None)
    state.bets_rejected += 1


def _apply_abandoned(state: BookState, ev: BetAbandoned) -> None:
    state.bets_rejected += 1


def _apply_cashout_held(state: BookState, ev: CashoutHeld) -> None:
    state.held_cashouts[ev.terms.request_id] = ev


def _apply_cashed_out(state: BookState, ev: BetCashedOut) -> None:
    """The bet leaves the book: its stake and potential payout no longer count."""
    state.held_cashouts.pop(ev.terms.request_id, None)
    terms = ev.bet.terms
    market = state.markets[terms.market_id]
    market.stakes_total -= terms.stake
    market.selections[terms.selection_id].payout_total -= terms.stake * ev.bet.price


def _apply_cashout_rejected(state: BookState, ev: CashoutRejected) -> None:
    state.held_cashouts.pop(ev.terms.request_id, None)


def _apply_resulted(state: BookState, ev: MarketResulted) -> None:
    market = state.markets[ev.market_id]
    market.result, market.result_version = ev, ev.version
    market.status = MarketStatus.CLOSED  # closed until this version is paid


def _apply_settled(state: BookState, ev: MarketSettled) -> None:
    market = state.markets[ev.market_id]
    market.settled_version = ev.version
    market.status = MarketStatus.SETTLED


def _apply_rolled_back(state: BookState, ev: SettlementRolledBack) -> None:
    market = state.markets[ev.market_id]
    market.result, market.settled_version = None, 0
    market.status = MarketStatus.CLOSED


def _apply_window(state: BookState, ev: VoidWindowOpened) -> None:
    state.windows[ev.window_id] = ev
    state.windows_opened += 1


def _apply_window_rolled_back(state: BookState, ev: VoidWindowRolledBack) -> None:
    state.windows.pop(ev.window_id, None)


def _apply_released(state: BookState, ev: LiabilityReleased) -> None:
    market = state.markets[ev.market_id]
    market.stakes_total += ev.stakes
    for selection_id, payout in ev.payouts:
        market.selections[selection_id].payout_total += payout
    state.released.add(ev.cause)


def _apply_feed_sequence(state: BookState, ev: FeedSequence) -> None:
    state.feed_seq[ev.provider] = max(ev.seq, state.feed_seq.get(ev.provider, 0))


def _apply_feed_lost(state: BookState, ev: FeedLost) -> None:
    state.feed_lost.add(ev.provider)
    state.suspensions += 1  # bets held across it are refused, as across any suspension


def _apply_feed_recovered(state: BookState, ev: FeedRecovered) -> None:
    state.feed_lost.discard(ev.provider)


def _apply_delay(state: BookState, ev: MarketDelayChanged) -> None:
    state.markets[ev.market_id].in_play_delay_s = ev.in_play_delay_s


_APPLY: dict[type, Any] = {
    EventCreated: _apply_created,
    EventStatusChanged: _apply_status,
    ScoreChanged: _apply_score,
    MarketStatusChanged: _apply_market_status,
    OddsChanged: _apply_odds,
    BetAccepted: _apply_accepted,
    BetHeld: _apply_held,
    BetRejected: _apply_rejected,
    BetAbandoned: _apply_abandoned,
    MarketResulted: _apply_resulted,
    MarketSettled: _apply_settled,
    SettlementRolledBack: _apply_rolled_back,
    VoidWindowOpened: _apply_window,
    VoidWindowRolledBack: _apply_window_rolled_back,
    LiabilityReleased: _apply_released,
    CashoutHeld: _apply_cashout_held,
    BetCashedOut: _apply_cashed_out,
    CashoutRejected: _apply_cashout_rejected,
    FeedSequence: _apply_feed_sequence,
    FeedLost: _apply_feed_lost,
    FeedRecovered: _apply_feed_recovered,
    MarketDelayChanged: _apply_delay,
}
# what a bettor can see change: each moves ``BookState.version`` by one
PUBLIC: frozenset[type] = frozenset({
    EventCreated, EventStatusChanged, ScoreChanged, MarketStatusChanged, OddsChanged,
    MarketResulted, MarketSettled, SettlementRolledBack, FeedLost, FeedRecovered,
    MarketDelayChanged,
})


def fold(event_id: str, events: list[BookEvent]) -> BookState:
    state = BookState(event_id)
    for event in events:
        apply(state, event)
    return state


# ---------------------------------------------------------------- bet decisions


def validate_bet(state: BookState, cmd: PlaceBet) -> MarketState:
    """Structural checks: refusals that are not journaled (nothing about the book changed)."""
    if not state.created:
        raise errors.UnknownEvent(f"event {state.event_id} does not exist")
    market = state.markets.get(cmd.market_id)
    if market is None:
        raise errors.UnknownMarket(f"market {cmd.market_id} is not in event {state.event_id}")
    if cmd.selection_id not in market.selections:
        raise errors.UnknownSelection(
            f"selection {cmd.selection_id} is not in market {cmd.market_id}"
        )
    stake = cmd.stake
    if not stake.is_finite() or stake <= ZERO or int(stake.as_tuple().exponent) < -2:
        raise errors.InvalidAmount(f"stake {stake} must be positive with at most 2 decimals")
    if not is_on_ladder(cmd.price):
        raise errors.InvalidOdds(f"price {cmd.price} is not on the price ladder")
    return market


def _refusal(state: BookState, market: MarketState, terms: BetTerms) -> errors.DomainError | None:
    """The first business rule the bet breaks at the current state, or None."""
    if state.status is EventStatus.CLOSED or market.status not in (
        MarketStatus.OPEN, MarketStatus.SUSPENDED
    ):
        return errors.MarketClosed(f"market {market.market_id} is closed")
    if state.suspended() or market.status is MarketStatus.SUSPENDED:
        return errors.MarketSuspended(f"market {market.market_id} is suspended")
    current = market.selections[terms.selection_id].price
    if not price_acceptable(terms.policy, terms.price, current):
        return errors.PriceChanged(
            f"price moved from {format_price(terms.price)} to {format_price(current)}",
            price=format_price(current),
            price_version=market.version,
        )
    return _limit_refusal(market, terms, current)


def price_acceptable(policy: OddsPolicy, requested: Decimal, current: Decimal) -> bool:
    """none: only the same price; higher: the same or better; any: whatever it is now."""
    if policy is OddsPolicy.ANY:
        return True
    if policy is OddsPolicy.HIGHER:
        return current >= requested
    return current == requested


def _limit_refusal(
    market: MarketState, terms: BetTerms, price: Decimal
) -> errors.DomainError | None:
    stake = terms.stake
    if stake > market.max_stake:
        return errors.StakeAboveMax(
            f"stake {stake} is above the market maximum {market.max_stake}",
            max_stake=money(market.max_stake),
        )
    if stake * price > market.max_payout:
        return errors.PayoutAboveMax(
            f"payout {money(stake * price)} is above the maximum {market.max_payout}",
            max_stake=money(market.max_payout / price),
        )
    headroom = market.max_liability - market.liability(terms.selection_id)
    if stake * (price - 1) > headroom:
        offer = max(headroom / (price - 1), ZERO)
        return errors.LiabilityLimit(
            f"liability limit of market {market.market_id} reached",
            max_stake=money(offer),
        )
    return None


def decide_bet(state: BookState, cmd: PlaceBet, now: float) -> BetDecision:
    """Accept, hold (in-play delay) or reject a validated bet; journal whichever it is."""
    market = validate_bet(state, cmd)
    terms = BetTerms(
        bet_id=cmd.bet_id, account_id=cmd.account_id, market_id=cmd.market_id,
        selection_id=cmd.selection_id, stake=cmd.stake, price=cmd.price,
        price_version=cmd.price_version, policy=cmd.policy, fingerprint=cmd.fingerprint(),
        placed_at=now,
    )
    refusal = _refusal(state, market, terms)
    if refusal is None and state.status is EventStatus.IN_PLAY and not cmd.in_play_allowed:
        refusal = errors.JurisdictionBlocked("in-play betting is not allowed for this account",
                                             product="sport_inplay")
    if refusal is not None:
        return BetRejected(terms, refusal.code, refusal.detail, refusal.facts, now)
    if state.status is EventStatus.IN_PLAY and market.in_play_delay_s > 0:
        return BetHeld(
            terms, now + market.in_play_delay_s, state.score,
            state.suspensions + market.suspensions, market.version, now,
        )
    price = market.selections[cmd.selection_id].price
    return BetAccepted(terms, price, market.version, now)


def recheck_held(state: BookState, held: BetHeld, now: float) -> BetDecision:
    """After the delay: reject if suspended meanwhile, the score changed, or the price moved."""
    terms = held.terms
    market = state.markets[terms.market_id]
    if state.suspensions + market.suspensions != held.suspensions:
        refusal: errors.DomainError | None = errors.MarketSuspended(
            f"market {market.market_id} was suspended during the in-play delay"
        )
    elif state.score != held.score:
        refusal = errors.ScoreChanged(f"score changed from {held.score} to {state.score}")
    else:
        refusal = _refusal(state, market, terms)
    if refusal is not None:
        return BetRejected(terms, refusal.code, refusal.detail, refusal.facts, now)
    price = market.selections[terms.selection_id].price
    return BetAccepted(terms, price, market.version, now)


def due_bets(state: BookState, now: float) -> list[BetHeld]:
    return sorted(
        (h for h in state.held.values() if h.accept_after <= now),
        key=lambda h: (h.accept_after, h.terms.bet_id),
    )


def next_due(state: BookState) -> float | None:
    """When the next held bet or cash-out is to be re-checked."""
    times = [h.accept_after for h in state.held.values()]
    times += [c.accept_after for c in state.held_cashouts.values()]
    return min(times, default=None)


# ---------------------------------------------------------------- operator commands


def decide_create(
    state: BookState, spec: EventCreated
) -> EventCreated | None:
    """None when the same event already exists (idempotent); EventExists if it differs."""
    if state.created:
        if _same_definition(state, spec):
            return None
        raise errors.EventExists(f"event {state.event_id} exists with another definition")
    if spec.event_id != state.event_id:
        raise errors.InvalidEvent(f"definition is for {spec.event_id}, not {state.event_id}")
    _check_markets(spec.markets)
    return spec


def _same_definition(state: BookState, spec: EventCreated) -> bool:
    return (state.name, state.sport, state.starts_at, sorted(state.markets)) == (
        spec.name, spec.sport, spec.starts_at, sorted(m.market_id for m in spec.markets)
    )


def _check_markets(markets: tuple[MarketSpec, ...]) -> None:
    if not markets:
        raise errors.InvalidEvent("an event needs at least one market")
    ids = [m.market_id for m in markets]
    if len(set(ids)) != len(ids):
        raise errors.InvalidEvent("market ids must be unique")
    for market in markets:
        sel_ids = [s.selection_id for s in market.selections]
        if len(sel_ids) < 2 or len(set(sel_ids)) != len(sel_ids):
            raise errors.InvalidEvent(f"market {market.market_id} needs 2+ unique selections")
        for sel in market.selections:
            if not is_on_ladder(sel.price):
                raise errors.InvalidOdds(f"price {sel.price} of {sel.selection_id} is off-ladder")


def _created(state: BookState) -> None:
    if not state.created:
        raise errors.UnknownEvent(f"event {state.event_id} does not exist")


def decide_status(state: BookState, status: EventStatus, now: float) -> list[BookEvent]:
    """Event status change; closing the event closes its open markets too."""
    _created(state)
    if status is state.status:
        return []
    if status not in EVENT_TRANSITIONS[state.status]:
        raise errors.InvalidTransition(f"event cannot go from {state.status} to {status}")
    events: list[BookEvent] = [EventStatusChanged(status, now)]
    if status is EventStatus.CLOSED:
        for market in state.markets.values():
            if market.status in (MarketStatus.OPEN, MarketStatus.SUSPENDED):
                events.append(
                    MarketStatusChanged(
                        market.market_id, MarketStatus.CLOSED, market.version + 1, now
                    )
                )
    return events


def decide_market_status(
    state: BookState, market_id: str, status: MarketStatus, now: float
) -> list[BookEvent]:
    market = _market(state, market_id)
    if status is market.status:
        return []
    if status not in MARKET_TRANSITIONS[market.status]:
        raise errors.InvalidTransition(f"market cannot go from {market.status} to {status}")
    return [MarketStatusChanged(market_id, status, market.version + 1, now)]


def _market(state: BookState, market_id: str) -> MarketState:
    _created(state)
    market = state.markets.get(market_id)
    if market is None:
        raise errors.UnknownMarket(f"market {market_id} is not in event {state.event_id}")
    return market


def decide_odds(
    state: BookState, market_id: str, prices: dict[str, Decimal], now: float
) -> list[BookEvent]:
    market = _market(state, market_id)
    if market.status not in (MarketStatus.OPEN, MarketStatus.SUSPENDED):
        raise errors.MarketClosed(f"market {market_id} is {market.status}")
    if not prices:
        raise errors.InvalidOdds("no prices given")
    for selection_id, price in prices.items():
        if selection_id not in market.selections:
            raise errors.UnknownSelection(f"selection {selection_id} is not in {market_id}")
        if not is_on_ladder(price):
            raise errors.InvalidOdds(f"price {price} is not on the price ladder")
    ordered = tuple(sorted(prices.items()))
    return [OddsChanged(market_id, ordered, market.version + 1, now)]


def decide_score(state: BookState, score: str, now: float) -> list[BookEvent]:
    _created(state)
    if not score or len(score) > 32:
        raise errors.InvalidEvent("score must be 1-32 characters")
    return [] if score == state.score else [ScoreChanged(score, now)]


# ---------------------------------------------------------------- settlement commands


def decide_result(state: BookState, market_id: str, result: MarketResult, close: bool,
                  now: float) -> list[BookEvent]:
    """A market's result: it closes the market (asked for with ``close``; its bets held in the
    in-play delay are rejected: the result is known), then records the result.

    Idempotent by version: the same version with the same content changes nothing; with other
    content it is RESULT_CONFLICT; a version at or below the newest one (or a rolled-back
    one) is STALE_RESULT_VERSION.
    """
    market = _market(state, market_id)
    unknown = sorted(set(result.winners) - set(market.selections))
    if unknown:
        raise errors.UnknownSelection(f"selections {', '.join(unknown)} are not in {market_id}",
                                      selections=unknown)
    resulted = MarketResulted(market_id, result.result_version, result.winners,
                              result.void_factor, result.dead_heat_factor, now)
    if result.result_version <= market.result_version:
        current = market.result
        if current is not None and current.version == resulted.version:
            if _same_result(current, resulted):
                return []
            raise errors.ResultConflict(
                f"result version {resulted.version} of {market_id} was given otherwise",
                result_version=resulted.version)
        raise errors.StaleResult(
            f"result version {resulted.version} is not above {market.result_version}",
            result_version=market.result_version)
    events: list[BookEvent] = []
    if market.status in (MarketStatus.OPEN, MarketStatus.SUSPENDED):
        if not close:
            raise errors.MarketOpen(f"market {market_id} is {market.status}: close it first "
                                    "or send the result with close: true")
        events.append(MarketStatusChanged(market_id, MarketStatus.CLOSED, market.version + 1,
                                          now))
        for held in state.held.values():
            if held.terms.market_id == market_id:
                events.append(BetRejected(held.terms, errors.MarketClosed.code,
                                          f"market {market_id} closed during the in-play "
                                          "delay", {}, now))
    elif market.status is MarketStatus.VOIDED:
        raise errors.MarketClosed(f"market {market_id} is void")
    events.append(resulted)
    return events


def _same_result(a: MarketResulted, b: MarketResulted) -> bool:
    return (sorted(a.winners), a.void_factor, a.dead_heat_factor) == (
        sorted(b.winners), b.void_factor, b.dead_heat_factor)


def decide_rollback(state: BookState, market_id: str, now: float) -> list[BookEvent]:
    """Take back the result in force: every bet of the market is unsettled again."""
    market = _market(state, market_id)
    if market.result is None:
        raise errors.NothingToRollBack(f"market {market_id} has no result to roll back")
    return [SettlementRolledBack(market_id, market.result.version, now)]


def decide_settled(state: BookState, report: MarketSettled) -> list[BookEvent]:
    """Settlement's report that a result version is paid; stale or repeated reports are
    ignored (the result may have been corrected or rolled back since)."""
    market = _market(state, report.market_id)
    current = market.result
    if current is None or current.version != report.version:
        return []
    if market.settled_version == report.version:
        return []
    return [report]


def decide_void_window(state: BookState, start: float, end: float, market_id: str | None,
                       reason: str, now: float) -> list[BookEvent]:
    """Void the bets accepted in [start, end) (of one market, or all); the same window
    while it is in force changes nothing."""
    _created(state)
    if market_id is not None:
        _market(state, market_id)
    if not end > start:
        raise errors.InvalidWindow(f"the window must end after it starts ({start} .. {end})")
    if end > now:
        # a window voids what was taken: one reaching into the future would void bets the
        # book is still taking (suspend the market to stop bets instead)
        raise errors.InvalidWindow("the window must end in the past (suspend the market to "
                                   "stop taking bets)", now=now)
    if not reason or len(reason) > 500:
        raise errors.InvalidWindow("a void window needs a reason (1-500 characters)")
    for window in state.windows.values():
        if (window.start, window.end, window.market_id) == (start, end, market_id):
            return []
    window_id = f"w{state.windows_opened + 1}"
    return [VoidWindowOpened(window_id, start, end, market_id, reason, now)]


def decide_window_rollback(state: BookState, window_id: str, now: float) -> list[BookEvent]:
    """Undo a void window (its bets count again); undoing it twice changes nothing."""
    _created(state)
    if window_id not in state.windows:
        if _window_number(window_id) in range(1, state.windows_opened + 1):
            return []  # opened, and already rolled back
        raise errors.UnknownWindow(f"no void window {window_id} in event {state.event_id}")
    return [VoidWindowRolledBack(window_id, now)]


def _window_number(window_id: str) -> int:
    return int(window_id[1:]) if window_id[:1] == "w" and window_id[1:].isdigit() else 0


def decide_release(state: BookState, report: LiabilityReleased) -> list[BookEvent]:
    """Settlement's report of bets that left (or came back to) the book; once per cause."""
    market = _market(state, report.market_id)
    if report.cause in state.released:
        return []
    unknown = [s for s, _ in report.payouts if s not in market.selections]
    if unknown:
        raise errors.UnknownSelection(f"selections {unknown} are not in {report.market_id}")
    return [report]


MAX_DELAY_S = 30.0  # as the operator API allows at creation


def bet_delay_is_safe(bet_delay_s: float, fastest_tier_p95_ms: float | None) -> bool:
    """The in-play bet delay must exceed what the fastest viewer sees (else courtsiding):
    a bettor watching ahead of the book could bet on what already happened."""
    return fastest_tier_p95_ms is None or bet_delay_s * 1000 > fastest_tier_p95_ms


def decide_delay(state: BookState, market_id: str, delay_s: float, now: float
                 ) -> list[BookEvent]:
    """A market's in-play delay (the edge checks it against the video latency first)."""
    market = _market(state, market_id)
    if not 0 <= delay_s <= MAX_DELAY_S:
        raise errors.InvalidEvent(f"in_play_delay_s must be within 0-{MAX_DELAY_S:g}")
    if delay_s == market.in_play_delay_s:
        return []
    return [MarketDelayChanged(market_id, delay_s, now)]


def market_spec(
    market_id: str,
    name: str,
    selections: list[tuple[str, str, Decimal]],
    *,
    in_play_delay_s: float,
    max_liability: Decimal,
    max_stake: Decimal,
    max_payout: Decimal,
) -> MarketSpec:
    """Convenience constructor used by the API layer, the demo and tests."""
    return MarketSpec(
        market_id, name, tuple(SelectionSpec(*s) for s in selections), in_play_delay_s,
        max_liability, max_stake, max_payout,
    )


# ---------------------------------------------------------------- the book with its index

# what the index holds: a bet's latest decision by bet id, a cash-out request's by "co:<id>"
Indexed = BetDecision | CashoutHeld | CashoutRejected


def index_key(event: BookEvent) -> str:
    """Where an event is indexed ("" for events that are not)."""
    if isinstance(event, BetAccepted | BetHeld | BetRejected):
        return event.terms.bet_id
    if isinstance(event, BetAbandoned):
        return event.bet_id
    if isinstance(event, BetCashedOut):
        return event.bet.terms.bet_id
    if isinstance(event, CashoutHeld | CashoutRejected):
        return f"co:{event.terms.request_id}"
    return ""



class Book:
    """State plus a bet index (bet id → its latest decision) for idempotent placement.

    The actor hands in the slice of the durable index a batch needs; tests use a plain dict.
    Every method decides, applies, and returns the events to journal, in order.
    """

    def __init__(
        self, event_id: str, index: MutableMapping[str, Indexed] | None = None
    ) -> None:
        self.state = BookState(event_id)
        self.index: MutableMapping[str, Indexed] = {} if index is None else index
        # told of each decided event right after it is folded (the actor's deltas); not on
        # replay
        self.on_commit: Callable[[BookState, BookEvent], None] | None = None

    def commit(self, events: list[BookEvent]) -> list[BookEvent]:
        """Fold decided events into the state and the index (what the journal will hold)."""
        for event in events:
            apply(self.state, event)
            key = index_key(event)
            if key:
                self.index[key] = event  # type: ignore[assignment]
            if self.on_commit is not None:
                self.on_commit(self.state, event)
        return events

    _commit = commit

    def decision(self, bet_id: str) -> BetDecision | None:
        """A bet's latest decision, if the index slice at hand has it."""
        found = self.index.get(bet_id)
        return None if isinstance(found, CashoutHeld | CashoutRejected) else found

    def replay(self, events: Iterable[BookEvent]) -> None:
        """Fold journaled events (recovery); the index is not rebuilt, it lives in Redis."""
        for event in events:
            apply(self.state, event)

    def place(self, cmd: PlaceBet, now: float) -> tuple[BetDecision, list[BookEvent]]:
        """The bet's decision and the events to journal (none on idempotent replay).

        Structural errors (unknown market, off-ladder price, reused key) raise BettingError.
        """
        existing = self.decision(cmd.bet_id)
        if isinstance(existing, BetAbandoned):
            return existing, []
        if existing is not None:
            terms = existing.bet.terms if isinstance(existing, BetCashedOut) else existing.terms
            if terms.fingerprint != cmd.fingerprint():
                raise errors.IdempotencyKeyReused(
                    f"bet {cmd.bet_id} was placed with another body", bet_id=cmd.bet_id
                )
            return existing, []
        event = decide_bet(self.state, cmd, now)
        self._commit([event])
        return event, [event]

    def resolve(self, bet_id: str, account_id: str, now: float
                ) -> tuple[BetDecision, list[BookEvent]]:
        """The bet's decision; a bet never decided is abandoned now, so it never will be."""
        existing = self.decision(bet_id)
        if existing is not None:
            return existing, []
        abandoned = BetAbandoned(bet_id, account_id, "the placement did not complete", now)
        self._commit([abandoned])
        return abandoned, [abandoned]

    def release_due(self, now: float) -> list[BookEvent]:
        events: list[BookEvent] = []
        for held in due_bets(self.state, now):
            events.extend(self._commit([recheck_held(self.state, held, now)]))
        return events

    def create(self, spec: EventCreated) -> list[BookEvent]:
        event = decide_create(self.state, spec)
        return [] if event is None else self._commit([event])

    def set_status(self, status: EventStatus, now: float) -> list[BookEvent]:
        return self._commit(decide_status(self.state, status, now))

    def set_market_status(
        self, market_id: str, status: MarketStatus, now: float
    ) -> list[BookEvent]:
        return self._commit(decide_market_status(self.state, market_id, status, now))

    def change_odds(
        self, market_id: str, prices: dict[str, Decimal], now: float
    ) -> list[BookEvent]:
        return self._commit(decide_odds(self.state, market_id, prices, now))

    def set_score(self, score: str, now: float) -> list[BookEvent]:
        return self._commit(decide_score(self.state, score, now))

    def result(self, market_id: str, result: MarketResult, close: bool, now: float
               ) -> list[BookEvent]:
        return self._commit(decide_result(self.state, market_id, result, close, now))

    def rollback(self, market_id: str, now: float) -> list[BookEvent]:
        return self._commit(decide_rollback(self.state, market_id, now))

    def settled(self, report: MarketSettled) -> list[BookEvent]:
        return self._commit(decide_settled(self.state, report))

    def void_window(self, start: float, end: float, market_id: str | None, reason: str,
                    now: float) -> list[BookEvent]:
        return self._commit(decide_void_window(self.state, start, end, market_id, reason, now))

    def rollback_window(self, window_id: str, now: float) -> list[BookEvent]:
        return self._commit(decide_window_rollback(self.state, window_id, now))

    def release(self, report: LiabilityReleased) -> list[BookEvent]:
        return self._commit(decide_release(self.state, report))

    def set_delay(self, market_id: str, delay_s: float, now: float) -> list[BookEvent]:
        return self._commit(decide_delay(self.state, market_id, delay_s, now))

    def feed_lost(self, provider: str, silent_s: float, now: float) -> list[BookEvent]:
        """The watchdog's verdict: ``provider`` is silent (nothing if already known)."""
        if provider in self.state.feed_lost or self.state.status is EventStatus.CLOSED:
            return []
        return self._commit([FeedLost(provider, silent_s, now)])

    def feed_alive(self, provider: str, now: float) -> list[BookEvent]:
        """``provider`` is heard: recovered if it was lost."""
        if provider not in self.state.feed_lost:
            return []
        return self._commit([FeedRecovered(provider, now)])
