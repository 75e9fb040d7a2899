"""Feed messages through the pure book: parsing, bet stops, heartbeats, versions, deltas."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import errors
from domain.book import Book, fold
from domain.codec import decode, encode, state_from_dict, state_to_dict
from domain.deltas import DeltaKind, delta_of
from domain.events import (
    BetAccepted,
    BetHeld,
    BetRejected,
    BookEvent,
    EventStatus,
    FeedLost,
    FeedRecovered,
    FeedSequence,
    MarketDelayChanged,
    MarketStatus,
    MarketStatusChanged,
    OddsPolicy,
)
from domain.feed import FeedKind, FeedMessage, SequenceGate, parse, to_plain
from domain.feeding import decide_feed
from domain.views import event_view
from tests.support.factories import bet, match_winner_event

EV = "ev1"


def msg(seq: int, kind: str, **fields: Any) -> FeedMessage:
    return parse("sim", {"event_id": EV, "seq": seq, "kind": kind, **fields})


def fed(delay_s: float = 0.0) -> tuple[Book, list[BookEvent]]:
    book = Book(EV)
    log = book.create(match_winner_event(EV, delay_s=delay_s))
    return book, log


def feed(book: Book, m: FeedMessage, now: float = 100.0) -> list[BookEvent]:
    return book.commit(decide_feed(book.state, m, now))


# ---------------------------------------------------------------- parsing


def test_every_kind_parses_and_round_trips() -> None:
    samples: list[dict[str, Any]] = [
        {"kind": "odds_change", "market_id": "mw", "prices": {"home": "2.4", "away": 3}},
        {"kind": "bet_stop", "market_ids": ["mw"], "cause": "goal"},
        {"kind": "bet_start", "market_ids": []},
        {"kind": "alive"},
        {"kind": "score", "score": "1-0"},
        {"kind": "match_state", "state": "first_half"},
        {"kind": "result", "market_id": "mw", "winners": ["home"], "result_version": 2},
        {"kind": "result", "market_id": "ou25", "winners": ["over", "under"],
         "dead_heat_factor": "0.5"},
        {"kind": "rollback", "market_id": "mw"},
        {"kind": "void_window", "start": 10.0, "end": 20.5, "market_id": None,
         "cause": "wrong odds"},
    ]
    for seq, raw in enumerate(samples, start=1):
        parsed = parse("sim", {"event_id": EV, "seq": seq, **raw})
        assert parsed.kind is FeedKind(raw["kind"]) and parsed.seq == seq
        assert parse("sim", to_plain(parsed)) == parsed


def test_prices_are_decimals_on_the_ladder_sorted_by_selection() -> None:
    m = msg(1, "odds_change", market_id="mw", prices={"home": "2.40", "away": 3})
    assert m.prices == (("away", Decimal("3")), ("home", Decimal("2.40")))


@pytest.mark.parametrize(("raw", "field"), [
    ({"kind": "odds_change", "market_id": "mw", "prices": {"home": "2.41"}}, "prices"),
    ({"kind": "odds_change", "market_id": "mw", "prices": {}}, "prices"),
    ({"kind": "odds_change", "market_id": "mw", "prices": {"home": "NaN"}}, "prices"),
    ({"kind": "odds_change", "prices": {"home": "2.40"}}, "market_id"),
    ({"kind": "goal"}, "kind"),
    ({"kind": "score", "score": ""}, "score"),
    ({"kind": "match_state", "state": "extra_time_3"}, "state"),
    ({"kind": "result", "market_id": "mw", "winners": ["home"], "void_factor": "0.3"},
     "void_factor"),
    ({"kind": "result", "market_id": "mw", "winners": []}, "winners"),
    ({"kind": "result", "market_id": "mw", "winners": ["home"], "result_version": 0},
     "result_version"),
    ({"kind": "void_window", "start": 20, "end": 10}, "end"),
    ({"kind": "bet_stop", "market_ids": "mw"}, "market_ids"),
])
def test_malformed_messages_are_refused_naming_the_field(raw: dict[str, Any], field: str
                                                         ) -> None:
    with pytest.raises(errors.InvalidFeedMessage) as caught:
        parse("sim", {"event_id": EV, "seq": 1, **raw})
    assert caught.value.code == "INVALID_FEED_MESSAGE"
    assert caught.value.facts["field"] == field


@pytest.mark.parametrize("seq", [0, -1, True, "1", 1.5, None, 2**63])
def test_seq_must_be_a_positive_integer(seq: Any) -> None:
    with pytest.raises(errors.InvalidFeedMessage):
        parse("sim", {"event_id": EV, "seq": seq, "kind": "alive"})


def test_only_alive_may_speak_for_every_event() -> None:
    assert parse("sim", {"event_id": "", "seq": 1, "kind": "alive"}).event_id == ""
    with pytest.raises(errors.InvalidFeedMessage):
        parse("sim", {"event_id": "", "seq": 1, "kind": "score", "score": "1-0"})


@given(st.lists(st.integers(min_value=1, max_value=50), max_size=60))
def test_the_gate_admits_each_seq_once_and_only_in_increasing_order(seqs: list[int]) -> None:
    gate = SequenceGate()
    admitted = [s for s in seqs if gate.admit(msg(s, "alive"))]
    assert admitted == sorted(set(admitted))
    high = 0
    for s in seqs:
        if s > high:
            assert s in admitted
            high = s


# ---------------------------------------------------------------- what the book does


def test_a_bet_stop_suspends_with_its_cause_and_bets_are_refused() -> None:
    book, _ = fed()
    events = feed(book, msg(1, "bet_stop", market_ids=["mw"], cause="penalty"))
    assert [type(e) for e in events] == [MarketStatusChanged]
    view = event_view(book.state)
    mw = view.market("mw")
    ou = view.market("ou25")
    assert mw is not None and mw.status is MarketStatus.SUSPENDED and mw.cause == "penalty"
    assert ou is not None and ou.status is MarketStatus.OPEN and ou.cause == ""
    decision, _ = book.place(bet("b1"), 101.0)
    assert isinstance(decision, BetRejected) and decision.code == "MARKET_SUSPENDED"
    # prices may move during the stop; the market stays suspended until the bet start
    feed(book, msg(2, "odds_change", market_id="mw", prices={"home": "2.2"}))
    assert book.state.markets["mw"].status is MarketStatus.SUSPENDED
    feed(book, msg(3, "bet_start"))
    mw = event_view(book.state).market("mw")
    assert mw is not None and mw.status is MarketStatus.OPEN and mw.cause == ""
    decision, _ = book.place(bet("b2", price="2.20"), 102.0)
    assert isinstance(decision, BetAccepted)


def test_a_bet_stop_of_every_market_and_an_unknown_market() -> None:
    book, _ = fed()
    assert len(feed(book, msg(1, "bet_stop", cause="goal"))) == 2
    assert len(feed(book, msg(2, "bet_stop", cause="goal"))) == 0  # already stopped
    with pytest.raises(errors.UnknownMarket):
        decide_feed(book.state, msg(3, "bet_start", market_ids=["nope"]), 1.0)


def test_match_states_drive_the_event_status() -> None:
    book, _ = fed()
    feed(book, msg(1, "match_state", state="first_half"))
    assert book.state.status is EventStatus.IN_PLAY
    assert feed(book, msg(2, "match_state", state="half_time")) == []
    feed(book, msg(3, "match_state", state="ended"))
    assert book.state.status is EventStatus.CLOSED
    assert {m.status for m in book.state.markets.values()} == {MarketStatus.CLOSED}
    feed(book, msg(4, "result", market_id="mw", winners=["home"]))
    assert book.state.markets["mw"].result is not None


def test_feed_messages_for_an_event_that_does_not_exist() -> None:
    with pytest.raises(errors.UnknownEvent):
        decide_feed(Book(EV).state, msg(1, "score", score="1-0"), 1.0)


def test_a_lost_feed_suspends_everything_and_recovery_restores_what_was_there() -> None:
    book, _ = fed(delay_s=5)
    feed(book, msg(1, "match_state", state="first_half"))
    feed(book, msg(2, "bet_stop", market_ids=["ou25"], cause="red_card"))
    held, _ = book.place(bet("held"), 10.0)
    assert isinstance(held, BetHeld)
    assert [type(e) for e in book.feed_lost("sim", 21.0, 11.0)] == [FeedLost]
    assert book.feed_lost("sim", 22.0, 12.0) == []  # once
    view = event_view(book.state)
    assert view.status is EventStatus.SUSPENDED
    assert {(m.market_id, m.status, m.cause) for m in view.markets} == {
        ("mw", MarketStatus.SUSPENDED, "feed_lost"),
        ("ou25", MarketStatus.SUSPENDED, "red_card")}
    refused, _ = book.place(bet("b1"), 12.0)
    assert isinstance(refused, BetRejected) and refused.code == "MARKET_SUSPENDED"
    # the bet held across the loss is refused even after recovery
    assert [type(e) for e in book.feed_alive("sim", 13.0)] == [FeedRecovered]
    assert book.feed_alive("sim", 13.5) == []
    released = book.release_due(16.0)
    assert [type(e) for e in released] == [BetRejected]
    view = event_view(book.state)
    assert view.status is EventStatus.IN_PLAY
    assert {(m.market_id, m.status) for m in view.markets} == {
        ("mw", MarketStatus.OPEN), ("ou25", MarketStatus.SUSPENDED)}


def test_a_closed_event_does_not_lose_its_feed() -> None:
    book, _ = fed()
    feed(book, msg(1, "match_state", state="ended"))
    assert book.feed_lost("sim", 30.0, 1.0) == []


# ---------------------------------------------------------------- versions and deltas


def test_the_version_counts_public_changes_only_and_deltas_carry_it() -> None:
    book, _log = fed()
    seen: list[Any] = []
    book.on_commit = lambda state, event: seen.append(delta_of(state, event))
    assert book.state.version == 1  # the creation
    feed(book, msg(1, "odds_change", market_id="mw", prices={"home": "2.2"}))
    book.place(bet("b1", price="2.20"), 1.0)  # a bet is not public
    feed(book, msg(2, "score", score="1-0"))
    feed(book, msg(3, "bet_stop", cause="goal"))
    book.commit([FeedSequence("sim", 3, 2.0)])  # nor is the feed's bookkeeping
    deltas = [d for d in seen if d is not None]
    assert [d.version for d in deltas] == [2, 3, 4, 5]
    assert [d.kind for d in deltas] == [DeltaKind.ODDS, DeltaKind.SCORE, DeltaKind.STATUS,
                                        DeltaKind.STATUS]
    odds = deltas[0]
    assert odds.market_id == "mw" and odds.prices == (("home", Decimal("2.2")),)
    assert odds.market_version == book.state.markets["mw"].version - 1
    assert deltas[1].score == "1-0"
    last = deltas[3]
    assert last.cause == "goal" and dict(last.markets) == {"mw": "suspended",
                                                           "ou25": "suspended"}
    assert event_view(book.state).version == book.state.version == 5


def test_delay_changes_are_public_and_bounded() -> None:
    book, _ = fed()
    events = book.set_delay("mw", 4.0, 1.0)
    assert events == [MarketDelayChanged("mw", 4.0, 1.0)]
    assert book.set_delay("mw", 4.0, 2.0) == []
    with pytest.raises(errors.InvalidEvent):
        book.set_delay("mw", 31.0, 2.0)
    with pytest.raises(errors.UnknownMarket):
        book.set_delay("nope", 1.0, 2.0)
    assert event_view(book.state).market("mw").in_play_delay_s == 4.0  # type: ignore[union-attr]


def test_fold_snapshot_and_codec_keep_versions_and_the_feed() -> None:
    book, log = fed()
    log += feed(book, msg(1, "match_state", state="first_half"))
    log += feed(book, msg(2, "bet_stop", market_ids=["mw"], cause="goal"))
    log += book.commit([FeedSequence("sim", 2, 3.0)])
    log += book.feed_lost("sim", 25.0, 4.0)
    log += book.set_delay("ou25", 3.0, 5.0)
    decoded = [decode(encode(e)) for e in log]
    assert decoded == log
    again = fold(EV, decoded)
    assert state_to_dict(again) == state_to_dict(book.state)
    restored = state_from_dict(state_to_dict(book.state))
    assert (restored.version, restored.feed_seq, restored.feed_lost) == (
        book.state.version, {"sim": 2}, {"sim"})
    assert restored.markets["mw"].cause == "goal"


def test_old_journal_entries_and_snapshots_still_load() -> None:
    old = b'{"t":"MarketStatusChanged","e":{"market_id":"mw","status":"suspended",' \
          b'"version":2,"at":1.0}}'
    found = decode(old)
    assert isinstance(found, MarketStatusChanged) and found.cause == ""
    book, _ = fed()
    snapshot = state_to_dict(book.state)
    for key in ("version", "feed_seq", "feed_lost"):
        del snapshot[key]
    assert state_from_dict(snapshot).version == 0


def test_odds_for_a_policy_any_bet_during_a_stop_are_still_refused() -> None:
    book, _ = fed()
    feed(book, msg(1, "bet_stop", cause="dangerous_attack"))
    decision, _ = book.place(bet("b1", policy=OddsPolicy.ANY), 1.0)
    assert isinstance(decision, BetRejected) and decision.code == "MARKET_SUSPENDED"
