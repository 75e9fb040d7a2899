"""Small builders shared by tests: event definitions, bets, and a flat view of decisions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.bets import BetDecision, PlaceBet
from domain.book import Book, market_spec
from domain.codec import decode
from domain.events import (
    BetAbandoned,
    BetAccepted,
    BetCashedOut,
    BetHeld,
    BetRejected,
    BetTerms,
    BookEvent,
    EventCreated,
    OddsPolicy,
)
from domain.ladder import format_price
from domain.money import money


def match_winner_event(
    event_id: str,
    *,
    delay_s: float = 0.0,
    max_liability: str = "10000",
    max_stake: str = "5000",
    max_payout: str = "100000",
    prices: tuple[str, str, str] = ("2.50", "3.20", "2.80"),
) -> EventCreated:
    """One event with a three-way market (home/draw/away) and a two-way market."""
    mw = market_spec(
        "mw", "Match winner",
        [("home", "Home", Decimal(prices[0])), ("draw", "Draw", Decimal(prices[1])),
         ("away", "Away", Decimal(prices[2]))],
        in_play_delay_s=delay_s, max_liability=Decimal(max_liability),
        max_stake=Decimal(max_stake), max_payout=Decimal(max_payout),
    )
    ou = market_spec(
        "ou25", "Over/under 2.5",
        [("over", "Over", Decimal("1.90")), ("under", "Under", Decimal("1.95"))],
        in_play_delay_s=delay_s, max_liability=Decimal(max_liability),
        max_stake=Decimal(max_stake), max_payout=Decimal(max_payout),
    )
    return EventCreated(event_id, f"Match {event_id}", "soccer", "2026-11-27T15:00:00Z",
                        (mw, ou), 0.0)


def bet(
    bet_id: str,
    *,
    stake: str = "10",
    price: str = "2.50",
    selection: str = "home",
    market: str = "mw",
    policy: OddsPolicy = OddsPolicy.NONE,
    account: str = "acct-1",
    version: int | None = None,
) -> PlaceBet:
    return PlaceBet(bet_id, account, market, selection, Decimal(stake), Decimal(price), policy,
                    version)


def record(decision: BetDecision) -> dict[str, Any]:
    """A decision flattened for assertions: status, and what each status carries."""
    if isinstance(decision, BetAbandoned):
        return {"bet_id": decision.bet_id, "status": "rejected", "code": "UNAVAILABLE",
                "extra": {}}
    assert not isinstance(decision, BetCashedOut), "a bet decision, not a cash-out"
    terms = decision.terms
    assert isinstance(terms, BetTerms)
    out: dict[str, Any] = {"bet_id": terms.bet_id, "stake": money(terms.stake),
                           "placed_at": terms.placed_at}
    if isinstance(decision, BetAccepted):
        out.update(status="accepted", price=format_price(decision.price),
                   potential_payout=money(terms.stake * decision.price),
                   version=decision.version, accepted_at=decision.at)
    elif isinstance(decision, BetHeld):
        out.update(status="pending", accept_after=decision.accept_after,
                   version=decision.version)
    else:
        out.update(status="rejected", code=decision.code, detail=decision.detail,
                   extra=decision.extra)
    return out


def place(book: Book, cmd: PlaceBet, now: float) -> tuple[dict[str, Any], list[BookEvent]]:
    """``book.place`` with the decision flattened by ``record``."""
    decision, events = book.place(cmd, now)
    return record(decision), events


def outcome(result: bytes | Exception) -> dict[str, Any]:
    """One answer of ``EventActor.place_bets``/``resolve``, flattened by ``record``; a
    structural refusal becomes ``{"error": {"code": ...}}``."""
    if isinstance(result, Exception):
        return {"error": {"code": getattr(result, "code", type(result).__name__),
                          "detail": str(result)}}
    decision = decode(result)
    assert isinstance(decision, BetAccepted | BetHeld | BetRejected | BetAbandoned)
    return record(decision)
