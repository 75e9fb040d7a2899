"""The event book as a pure state machine: no Ray, no Redis."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from domain import errors
from domain.book import Book, fold
from domain.codec import decode, encode, state_from_dict, state_to_dict
from domain.events import (
    BetAccepted,
    BetHeld,
    BetRejected,
    BookEvent,
    EventStatus,
    MarketStatus,
    OddsPolicy,
)
from domain.ladder import LADDER, format_price, is_on_ladder, ticks_away
from domain.money import to_decimal
from domain.views import event_view, exposure_view
from tests.support.factories import bet, match_winner_event, place


def new_book(event_id: str = "ev1", **kwargs: object) -> tuple[Book, list[BookEvent]]:
    book = Book(event_id)
    log = book.create(match_winner_event(event_id, **kwargs))  # type: ignore[arg-type]
    return book, log


# ---------------------------------------------------------------- ladder


def test_ladder_bands_and_ends() -> None:
    assert LADDER[0] == Decimal("1.01") and LADDER[-1] == Decimal("1000")
    for on in ("1.01", "1.99", "2", "2.02", "2.98", "3.05", "3.95", "4.1", "5.9", "6.2", "9.8",
               "10.5", "19.5", "21", "29", "32", "48", "55", "95", "110", "990", "1000"):
        assert is_on_ladder(Decimal(on)), on
    for off in ("1", "1.005", "2.01", "2.03", "3.01", "3.02", "4.05", "6.1", "10.2", "20.5",
                "31", "52", "101", "1001", "0"):
        assert not is_on_ladder(Decimal(off)), off


def test_ladder_is_strictly_increasing_and_ticks_move_along_it() -> None:
    assert all(a < b for a, b in itertools.pairwise(LADDER))
    assert len(LADDER) == 350
    assert ticks_away(Decimal("1.99"), 2) == Decimal("2.02")
    assert ticks_away(Decimal("1.01"), -5) == Decimal("1.01")
    assert format_price(Decimal("2")) == "2.00"
    assert to_decimal(2.36) == Decimal("2.36") and to_decimal("nan") is None
    assert to_decimal(True) is None


# ---------------------------------------------------------------- placing


def test_bet_accepted_at_current_price_with_payout_and_version() -> None:
    book, _ = new_book()
    record, events = place(book, bet("b1", stake="10", price="2.50"), now=100.0)
    assert record["status"] == "accepted"
    assert record["price"] == "2.50" and record["potential_payout"] == "25.00"
    assert record["version"] == 1
    assert len(events) == 1 and isinstance(events[0], BetAccepted)


@pytest.mark.parametrize(
    ("policy", "requested", "expected_status", "accepted_price"),
    [
        (OddsPolicy.NONE, "2.50", "accepted", "2.50"),
        (OddsPolicy.NONE, "2.40", "rejected", None),
        (OddsPolicy.NONE, "2.60", "rejected", None),
        (OddsPolicy.HIGHER, "2.40", "accepted", "2.50"),  # current is better: take it
        (OddsPolicy.HIGHER, "2.60", "rejected", None),  # current is worse
        (OddsPolicy.ANY, "2.60", "accepted", "2.50"),
        (OddsPolicy.ANY, "1.01", "accepted", "2.50"),
    ],
)
def test_odds_change_policies(
    policy: OddsPolicy, requested: str, expected_status: str, accepted_price: str | None
) -> None:
    book, _ = new_book()
    record, _ = place(book, bet("b1", price=requested, policy=policy), now=1.0)
    assert record["status"] == expected_status
    if accepted_price is None:
        assert record["code"] == "PRICE_CHANGED"
        assert record["extra"] == {"price": "2.50", "price_version": 1}
    else:
        assert record["price"] == accepted_price


def test_price_change_bumps_version_and_refuses_the_old_price() -> None:
    book, _ = new_book()
    (_ev,) = book.change_odds("mw", {"home": Decimal("2.40")}, now=1.0)
    assert book.state.markets["mw"].version == 2
    record, _ = place(book, bet("b1", price="2.50"), now=2.0)
    assert record["code"] == "PRICE_CHANGED"
    assert record["extra"]["price_version"] == 2
    record, _ = place(book, bet("b2", price="2.40", version=2), now=2.0)
    assert record["status"] == "accepted" and record["version"] == 2


def test_structural_errors_raise_and_journal_nothing() -> None:
    book, _ = new_book()
    cases: list[tuple[object, type[errors.DomainError]]] = [
        (bet("b1", market="nope"), errors.UnknownMarket),
        (bet("b2", selection="nope"), errors.UnknownSelection),
        (bet("b3", price="2.51"), errors.InvalidOdds),
        (bet("b4", stake="0"), errors.InvalidAmount),
        (bet("b5", stake="-5"), errors.InvalidAmount),
        (bet("b6", stake="1.001"), errors.InvalidAmount),
    ]
    for cmd, exc in cases:
        with pytest.raises(exc):
            place(book, cmd, now=1.0)  # type: ignore[arg-type]
    assert book.index == {}
    with pytest.raises(errors.UnknownEvent):
        Book("ghost").place(bet("b7"), now=1.0)


def test_suspended_and_closed_markets_refuse() -> None:
    book, _ = new_book()
    book.set_market_status("mw", MarketStatus.SUSPENDED, now=1.0)
    record, events = place(book, bet("b1"), now=2.0)
    assert record["code"] == "MARKET_SUSPENDED" and isinstance(events[0], BetRejected)
    book.set_market_status("mw", MarketStatus.OPEN, now=3.0)
    book.set_status(EventStatus.SUSPENDED, now=4.0)
    assert place(book, bet("b2"), now=5.0)[0]["code"] == "MARKET_SUSPENDED"
    assert event_view(book.state).markets[0].status is MarketStatus.SUSPENDED
    book.set_status(EventStatus.CLOSED, now=6.0)
    assert place(book, bet("b3"), now=7.0)[0]["code"] == "MARKET_CLOSED"
    assert all(m.status is MarketStatus.CLOSED for m in book.state.markets.values())


def test_invalid_transitions_raise() -> None:
    book, _ = new_book()
    book.set_status(EventStatus.CLOSED, now=1.0)
    with pytest.raises(errors.InvalidTransition):
        book.set_status(EventStatus.IN_PLAY, now=2.0)
    with pytest.raises(errors.MarketClosed):
        book.change_odds("mw", {"home": Decimal("3")}, now=2.0)


# ---------------------------------------------------------------- limits


def test_liability_limit_counter_offers_the_largest_stake_that_fits() -> None:
    book, _ = new_book(max_liability="100")
    # home at 2.50: each unit of stake adds 1.50 liability; 100 / 1.5 = 66.66
    record, _ = place(book, bet("b1", stake="80"), now=1.0)
    assert record["code"] == "LIABILITY_LIMIT"
    assert record["extra"]["max_stake"] == "66.66"
    record, _ = place(book, bet("b2", stake="66.66"), now=1.0)
    assert record["status"] == "accepted"
    assert place(book, bet("b3", stake="0.01"), now=1.0)[0]["code"] == "LIABILITY_LIMIT"


def test_bets_on_other_selections_make_room() -> None:
    book, _ = new_book(max_liability="100")
    place(book, bet("b1", stake="66"), now=1.0)  # home liability 99
    place(book, bet("b2", stake="50", selection="away", price="2.80"), now=1.0)
    # the 50 staked on away is kept if home wins: home's liability is 99 - 50 = 49
    market = book.state.markets["mw"]
    assert market.liability("home") == Decimal("49.00")
    assert place(book, bet("b3", stake="30"), now=1.0)[0]["status"] == "accepted"


def test_max_stake_and_max_payout() -> None:
    book, _ = new_book(max_stake="100", max_payout="200")
    record, _ = place(book, bet("b1", stake="101"), now=1.0)
    assert record["code"] == "STAKE_ABOVE_MAX" and record["extra"]["max_stake"] == "100.00"
    record, _ = place(book, bet("b2", stake="90"), now=1.0)  # pays 225 > 200
    assert record["code"] == "PAYOUT_ABOVE_MAX" and record["extra"]["max_stake"] == "80.00"


# ---------------------------------------------------------------- in-play delay


def in_play_book(delay: float = 5.0) -> Book:
    book, _ = new_book(delay_s=delay)
    book.set_status(EventStatus.IN_PLAY, now=0.0)
    return book


def test_in_play_bet_is_held_then_accepted() -> None:
    book = in_play_book()
    record, events = place(book, bet("b1"), now=10.0)
    assert record["status"] == "pending" and record["accept_after"] == 15.0
    assert isinstance(events[0], BetHeld)
    assert book.release_due(14.9) == []
    (event,) = book.release_due(15.0)
    assert isinstance(event, BetAccepted)
    assert isinstance(book.index["b1"], BetAccepted)
    assert book.state.held == {}


def test_held_bet_rejected_if_suspended_meanwhile_even_if_reopened() -> None:
    book = in_play_book()
    place(book, bet("b1"), now=10.0)
    book.set_status(EventStatus.SUSPENDED, now=11.0)
    book.set_status(EventStatus.IN_PLAY, now=12.0)
    (event,) = book.release_due(15.0)
    assert isinstance(event, BetRejected) and event.code == "MARKET_SUSPENDED"


def test_held_bet_rejected_if_score_changed() -> None:
    book = in_play_book()
    place(book, bet("b1"), now=10.0)
    book.set_score("1-0", now=12.0)
    (event,) = book.release_due(15.0)
    assert isinstance(event, BetRejected) and event.code == "SCORE_CHANGED"


def test_held_bet_rechecks_price_under_its_policy() -> None:
    book = in_play_book()
    place(book, bet("none", price="2.50"), now=10.0)
    place(book, bet("higher", price="2.50", policy=OddsPolicy.HIGHER), now=10.0)
    place(book, bet("any", price="2.50", policy=OddsPolicy.ANY), now=10.0)
    book.change_odds("mw", {"home": Decimal("2.40")}, now=11.0)  # worse for the bettor
    outcomes = {e.terms.bet_id: e for e in book.release_due(15.0)}  # type: ignore[union-attr]
    assert isinstance(outcomes["none"], BetRejected)
    assert isinstance(outcomes["higher"], BetRejected)
    accepted = outcomes["any"]
    assert isinstance(accepted, BetAccepted) and accepted.price == Decimal("2.40")


def test_held_bet_gets_a_better_price_under_higher() -> None:
    book = in_play_book()
    place(book, bet("b1", price="2.50", policy=OddsPolicy.HIGHER), now=10.0)
    book.change_odds("mw", {"home": Decimal("2.60")}, now=11.0)
    (event,) = book.release_due(15.0)
    assert isinstance(event, BetAccepted) and event.price == Decimal("2.60")


def test_no_delay_before_the_match_starts() -> None:
    book, _ = new_book(delay_s=5.0)
    assert place(book, bet("b1"), now=1.0)[0]["status"] == "accepted"


# ---------------------------------------------------------------- idempotency


def test_same_key_same_body_same_outcome_and_no_second_bet() -> None:
    book, _ = new_book()
    first, _events = place(book, bet("b1"), now=1.0)
    again, more = place(book, bet("b1"), now=2.0)
    assert again == first and more == []
    assert book.state.bets_accepted == 1
    # a rejection is an outcome too: replayed as it was, even once the price is back
    book.change_odds("mw", {"home": Decimal("2.40")}, now=3.0)
    rejected, _ = place(book, bet("b2", price="2.50"), now=4.0)
    book.change_odds("mw", {"home": Decimal("2.50")}, now=5.0)
    assert place(book, bet("b2", price="2.50"), now=6.0)[0] == rejected


def test_same_key_other_body_is_a_distinct_error() -> None:
    book, _ = new_book()
    place(book, bet("b1", stake="10"), now=1.0)
    with pytest.raises(errors.IdempotencyKeyReused):
        place(book, bet("b1", stake="11"), now=1.0)
    assert book.state.bets_accepted == 1


def test_fingerprint_ignores_trailing_zeros() -> None:
    assert bet("x", stake="10").fingerprint() == bet("x", stake="10.00").fingerprint()
    assert bet("x", stake="10").fingerprint() != bet("x", stake="10.01").fingerprint()


# ---------------------------------------------------------------- fold, codec, snapshot


def run_scenario() -> tuple[Book, list[BookEvent]]:
    book, log = new_book(delay_s=2.0, max_liability="500")
    log += place(book, bet("p1", stake="40"), now=1.0)[1]
    log += book.change_odds("mw", {"home": Decimal("2.60"), "away": Decimal("2.70")}, now=2.0)
    log += book.set_status(EventStatus.IN_PLAY, now=3.0)
    log += place(book, bet("p2", stake="20", price="2.60"), now=4.0)[1]
    log += place(book, bet("p3", stake="900", price="2.70", selection="away"), now=4.0)[1]
    log += book.set_score("1-0", now=5.0)
    log += place(book, bet("p4", stake="5", price="1.90", market="ou25", selection="over"),
                      now=6.0)[1]
    log += book.release_due(7.0)
    return book, log


def test_fold_of_the_journal_rebuilds_the_live_state() -> None:
    book, log = run_scenario()
    replayed = fold("ev1", [decode(encode(e)) for e in log])
    assert replayed == book.state
    assert exposure_view(replayed) == exposure_view(book.state)


def test_snapshot_round_trip_keeps_held_bets() -> None:
    book, _ = new_book(delay_s=5.0)
    book.set_status(EventStatus.IN_PLAY, now=0.0)
    place(book, bet("h1"), now=1.0)
    restored = state_from_dict(state_to_dict(book.state))
    assert restored == book.state and "h1" in restored.held


def test_create_is_idempotent_but_refuses_another_definition() -> None:
    book, _ = new_book()
    assert book.create(match_winner_event("ev1")) == []
    other = match_winner_event("ev1")
    changed = type(other)(other.event_id, "Other name", other.sport, other.starts_at,
                          other.markets, 0.0)
    with pytest.raises(errors.EventExists):
        book.create(changed)
