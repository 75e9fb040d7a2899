"""Cash-out: settling an accepted bet early at a price the book offers now.

The value is the retail rule of ``domain.settlement.cashout_value``: stake × accepted price ÷
the selection's current price, less the book's margin, rounded down to the cent. A quote is
stateless: its id carries the market version, the amount and the expiry, with a digest over
them and the bet, so the book can check a quote it gave without remembering it. Accepting
one is like placing a bet: the market must be open (a suspended one refuses), a price move
since the quote refuses with a fresh quote, and in play the in-play delay holds it before a
re-check. The bet then leaves the book (its liability with it), and settlement pays the
amount through the same ledger path as any payout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from domain import errors
from domain.book import BookState, MarketState
from domain.events import (
    BetAccepted,
    BetCashedOut,
    CashoutHeld,
    CashoutRejected,
    CashoutTerms,
    EventStatus,
    MarketStatus,
    OddsPolicy,
)
from domain.ladder import format_price
from domain.money import canonical
from domain.settlement import cashout_value, in_void_window

CashoutDecision = CashoutHeld | BetCashedOut | CashoutRejected


@dataclass(frozen=True, slots=True)
class Quote:
    """What the book would pay for the bet now, until ``expires_at`` (POSIX seconds)."""

    quote_id: str
    bet_id: str
    amount: Decimal
    price: Decimal
    price_version: int
    expires_at: float

    def facts(self) -> dict[str, str | int | float]:
        """The quote as the facts of a refusal (PRICE_CHANGED carries a fresh one)."""
        return {"quote_id": self.quote_id, "amount": f"{self.amount:.2f}",
                "price": format_price(self.price), "price_version": self.price_version,
                "expires_at_s": self.expires_at}


@dataclass(frozen=True, slots=True)
class CashoutPolicy:
    """The book's terms: its margin on the fair value, how long a quote stands."""

    margin: Decimal = Decimal("0.05")
    quote_ttl_s: float = 10.0


def _digest(bet_id: str, version: int, cents: int, expires_ms: int) -> str:
    text = f"{bet_id}|{version}|{cents}|{expires_ms}"
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _quote_id(bet_id: str, version: int, cents: int, expires_ms: int) -> str:
    return f"q{version}.{cents}.{expires_ms}.{_digest(bet_id, version, cents, expires_ms)}"


def _open_market(state: BookState, bet: BetAccepted) -> MarketState:
    market = state.markets[bet.terms.market_id]
    if state.status is EventStatus.CLOSED or market.status not in (MarketStatus.OPEN,
                                                                   MarketStatus.SUSPENDED):
        raise errors.CashoutUnavailable(f"market {market.market_id} is {market.status}")
    if state.suspended() or market.status is MarketStatus.SUSPENDED:
        raise errors.MarketSuspended(f"market {market.market_id} is suspended")
    for window in state.windows.values():
        if (window.market_id in (None, market.market_id)
                and in_void_window(bet.at, window.start, window.end)):
            raise errors.CashoutUnavailable(f"bet {bet.terms.bet_id} is void "
                                            f"(window {window.window_id})")
    return market


def quote(state: BookState, bet: BetAccepted, policy: CashoutPolicy, now: float) -> Quote:
    """The book's offer for ``bet`` now (CASHOUT_UNAVAILABLE, MARKET_SUSPENDED otherwise)."""
    market = _open_market(state, bet)
    current = market.selections[bet.terms.selection_id].price
    amount = cashout_value(bet.terms.stake, bet.price, current, policy.margin)
    if amount <= 0:
        raise errors.CashoutUnavailable(f"bet {bet.terms.bet_id} is worth nothing now")
    expires_ms = int((now + policy.quote_ttl_s) * 1000)
    cents = int(amount * 100)
    return Quote(_quote_id(bet.terms.bet_id, market.version, cents, expires_ms),
                 bet.terms.bet_id, amount, current, market.version, expires_ms / 1000)


def fingerprint(bet_id: str, quote_id: str | None, amount: Decimal | None,
                policy: OddsPolicy) -> str:
    """Identifies a cash-out request's body (the same key with another body is a reuse)."""
    body = f"{bet_id}|{quote_id}|{canonical(amount) if amount is not None else ''}|{policy}"
    return hashlib.blake2b(body.encode(), digest_size=12).hexdigest()


def _refused(terms: CashoutTerms, error: errors.DomainError, now: float) -> CashoutRejected:
    return CashoutRejected(terms, error.code, error.detail, error.facts, now)


def decide(state: BookState, terms: CashoutTerms, bet: BetAccepted, policy: CashoutPolicy,
           now: float) -> CashoutDecision:
    """Accept (or hold for the in-play delay) or refuse a cash-out of an accepted bet.

    A quote must be this book's, for this bet, unexpired and at the current market version;
    an amount must be acceptable under the request's policy (none: exactly the value now,
    higher: at least it, any: whatever it is now). A refusal carries a fresh quote.
    """
    if terms.quote_id is not None:
        _check_quote(terms.quote_id, bet.terms.bet_id)
    try:
        offer = quote(state, bet, policy, now)
    except errors.DomainError as exc:
        return _refused(terms, exc, now)
    moved = _moved(terms, offer, now)
    if moved is not None:
        return _refused(terms, errors.PriceChanged(moved, **offer.facts()), now)
    market = state.markets[bet.terms.market_id]
    if state.status is EventStatus.IN_PLAY and market.in_play_delay_s > 0:
        return CashoutHeld(terms, bet, now + market.in_play_delay_s, state.score,
                           state.suspensions + market.suspensions, now)
    return BetCashedOut(terms, bet, offer.amount, offer.price, offer.price_version, now)


def _check_quote(quote_id: str, bet_id: str) -> None:
    parts = quote_id[1:].split(".")
    if quote_id[:1] != "q" or len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) \
            or _digest(bet_id, int(parts[0]), int(parts[1]), int(parts[2])) != parts[3]:
        raise errors.CashoutUnavailable(f"{quote_id} is not a quote for bet {bet_id}")


def _moved(terms: CashoutTerms, offer: Quote, now: float) -> str | None:
    """Why the offer now differs from what the request accepted (None: it does not)."""
    if terms.quote_id is not None:
        version, cents, expires_ms = (int(p) for p in terms.quote_id[1:].split(".")[:3])
        if expires_ms / 1000 < now:
            return "the quote expired"
        if version != offer.price_version or cents != int(offer.amount * 100):
            return f"the price moved since the quote (version {version})"
        return None
    asked = terms.amount if terms.amount is not None else offer.amount
    if terms.policy is OddsPolicy.ANY:
        return None
    if terms.policy is OddsPolicy.HIGHER and offer.amount >= asked:
        return None
    if offer.amount == asked:
        return None
    return f"the cash-out value is {offer.amount:.2f}, not {asked:.2f}"


def recheck(state: BookState, held: CashoutHeld, policy: CashoutPolicy, now: float
            ) -> BetCashedOut | CashoutRejected:
    """After the delay: refuse if suspended meanwhile, the score changed, or the value
    moved against the request; else cash out at the value now."""
    market = state.markets[held.bet.terms.market_id]
    if state.suspensions + market.suspensions != held.suspensions:
        return _refused(held.terms, errors.MarketSuspended(
            f"market {market.market_id} was suspended during the in-play delay"), now)
    if state.score != held.score:
        return _refused(held.terms, errors.ScoreChanged(
            f"score changed from {held.score} to {state.score}"), now)
    try:
        offer = quote(state, held.bet, policy, now)
    except errors.DomainError as exc:
        return _refused(held.terms, exc, now)
    # the quote's expiry is not held against the bettor: the delay is the book's
    terms = held.terms
    if terms.quote_id is not None:
        version, cents = (int(p) for p in terms.quote_id[1:].split(".")[:2])
        if (version, cents) != (offer.price_version, int(offer.amount * 100)):
            return _refused(terms, errors.PriceChanged(
                "the price moved during the in-play delay", **offer.facts()), now)
    elif _moved(terms, offer, now) is not None:
        return _refused(terms, errors.PriceChanged(
            "the value moved during the in-play delay", **offer.facts()), now)
    return BetCashedOut(terms, held.bet, offer.amount, offer.price, offer.price_version, now)


def due_cashouts(state: BookState, now: float) -> list[CashoutHeld]:
    return sorted((c for c in state.held_cashouts.values() if c.accept_after <= now),
                  key=lambda c: (c.accept_after, c.terms.request_id))
