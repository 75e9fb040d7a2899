"""Cash-out as pure rules: quotes, acceptance, refusals, the in-play delay, the book's liability."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import cashout, errors
from domain.book import Book
from domain.cashout import CashoutPolicy
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
from tests.support.factories import bet, match_winner_event

POLICY = CashoutPolicy(margin=Decimal("0.05"), quote_ttl_s=10)
D = Decimal


def book_with_bet(delay_s: float = 0.0) -> tuple[Book, BetAccepted]:
    book = Book("ev1")
    book.create(match_winner_event("ev1", delay_s=delay_s))
    decision, _ = book.place(bet("b1", stake="10", price="2.50"), now=1.0)
    assert isinstance(decision, BetAccepted)
    return book, decision


def terms(quote_id: str | None = None, amount: str | None = None,
          policy: OddsPolicy = OddsPolicy.NONE, request: str = "r1") -> CashoutTerms:
    return CashoutTerms(request, "b1", "acct-1", quote_id,
                        None if amount is None else D(amount), policy,
                        cashout.fingerprint("b1", quote_id, None if amount is None else D(amount),
                                            policy), 5.0)


def test_the_quote_is_the_retail_rule_less_the_margin_rounded_down() -> None:
    book, accepted = book_with_bet()
    book.change_odds("mw", {"home": D("2.00")}, now=2.0)
    offer = cashout.quote(book.state, accepted, POLICY, now=3.0)
    # 10 x 2.50 / 2.00 x 0.95 = 11.875 -> 11.87 (never more than the exact amount)
    assert offer.amount == D("11.87") and offer.price == D("2.00") and offer.price_version == 2
    assert offer.expires_at == 13.0 and offer.quote_id.startswith("q2.1187.13000.")


def test_taking_a_quote_cashes_the_bet_out_and_releases_its_liability() -> None:
    book, accepted = book_with_bet()
    before = book.state.markets["mw"]
    liability = before.liability("home")
    offer = cashout.quote(book.state, accepted, POLICY, now=3.0)
    decision = cashout.decide(book.state, terms(offer.quote_id), accepted, POLICY, now=4.0)
    assert isinstance(decision, BetCashedOut) and decision.amount == offer.amount
    book.commit([decision])
    market = book.state.markets["mw"]
    assert liability > 0 and market.stakes_total == 0 and market.liability("home") == 0
    assert book.index["b1"] is decision


def test_a_price_move_since_the_quote_is_refused_with_a_fresh_quote() -> None:
    book, accepted = book_with_bet()
    offer = cashout.quote(book.state, accepted, POLICY, now=3.0)
    book.change_odds("mw", {"home": D("2.20")}, now=3.5)
    refused = cashout.decide(book.state, terms(offer.quote_id), accepted, POLICY, now=4.0)
    assert isinstance(refused, CashoutRejected) and refused.code == "PRICE_CHANGED"
    assert refused.extra["price_version"] == 2 and refused.extra["quote_id"] != offer.quote_id
    expired = cashout.decide(book.state, terms(offer.quote_id), accepted, POLICY, now=20.0)
    assert isinstance(expired, CashoutRejected) and expired.code == "PRICE_CHANGED"


def test_amount_policies_follow_the_bets_odds_change_policies() -> None:
    book, accepted = book_with_bet()
    value = cashout.quote(book.state, accepted, POLICY, now=3.0).amount  # 9.50 at 2.50
    assert value == D("9.50")
    cases = [("9.50", OddsPolicy.NONE, True), ("9.49", OddsPolicy.NONE, False),
             ("9.40", OddsPolicy.HIGHER, True), ("9.60", OddsPolicy.HIGHER, False),
             ("1.00", OddsPolicy.ANY, True)]
    for amount, policy, taken in cases:
        decision = cashout.decide(book.state, terms(amount=amount, policy=policy), accepted,
                                  POLICY, now=4.0)
        assert isinstance(decision, BetCashedOut) is taken, (amount, policy)
        if isinstance(decision, BetCashedOut):
            assert decision.amount == value  # always the value now, never the asked amount


def test_suspended_closed_and_forged_are_refused() -> None:
    book, accepted = book_with_bet()
    book.set_market_status("mw", MarketStatus.SUSPENDED, now=2.0)
    with pytest.raises(errors.MarketSuspended):
        cashout.quote(book.state, accepted, POLICY, now=3.0)
    refused = cashout.decide(book.state, terms(amount="1", policy=OddsPolicy.ANY), accepted,
                             POLICY, now=3.0)
    assert isinstance(refused, CashoutRejected) and refused.code == "MARKET_SUSPENDED"
    book.set_market_status("mw", MarketStatus.CLOSED, now=4.0)
    with pytest.raises(errors.CashoutUnavailable):
        cashout.quote(book.state, accepted, POLICY, now=5.0)
    with pytest.raises(errors.CashoutUnavailable):
        cashout.decide(book.state, terms("q1.950.99000.000000000000"), accepted, POLICY, 5.0)


def test_a_void_window_over_the_bet_refuses_its_cash_out() -> None:
    book, accepted = book_with_bet()
    book.void_window(0.5, 1.5, "mw", "goal before the bet stop", now=2.0)
    with pytest.raises(errors.CashoutUnavailable):
        cashout.quote(book.state, accepted, POLICY, now=3.0)


def test_in_play_the_delay_holds_it_and_the_recheck_decides() -> None:
    book, accepted = book_with_bet(delay_s=3.0)
    book.set_status(EventStatus.IN_PLAY, now=2.0)
    held = cashout.decide(book.state, terms(amount="9.50"), accepted, POLICY, now=3.0)
    assert isinstance(held, CashoutHeld) and held.accept_after == 6.0
    book.commit([held])
    assert cashout.due_cashouts(book.state, now=5.0) == []
    assert cashout.due_cashouts(book.state, now=6.0) == [held]
    done = cashout.recheck(book.state, held, POLICY, now=6.0)
    assert isinstance(done, BetCashedOut) and done.amount == D("9.50")
    # the same, but the score changed meanwhile
    book.set_score("1-0", now=4.0)
    refused = cashout.recheck(book.state, held, POLICY, now=6.0)
    assert isinstance(refused, CashoutRejected) and refused.code == "SCORE_CHANGED"


def test_the_same_bet_placed_again_after_its_cash_out_is_the_same_bet() -> None:
    book, accepted = book_with_bet()
    decision = cashout.decide(book.state, terms(amount="9.50"), accepted, POLICY, now=4.0)
    book.commit([decision])
    again, events = book.place(bet("b1", stake="10", price="2.50"), now=5.0)
    assert again is decision and events == []
    with pytest.raises(errors.IdempotencyKeyReused):
        book.place(bet("b1", stake="11", price="2.50"), now=5.0)
