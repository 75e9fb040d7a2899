"""The match simulator (simulations/match_sim.py): its messages, fed into a real book."""

from __future__ import annotations

import asyncio
import functools
import io
import itertools
import json
from decimal import Decimal
from typing import Any

import pytest

from domain import errors
from domain.book import Book, market_spec
from domain.events import EventCreated, EventStatus, MarketStatus
from domain.feed import (
    Ack,
    AckStatus,
    FeedKind,
    FeedMessage,
    MatchState,
    SequenceGate,
    parse,
    to_plain,
)
from domain.feeding import decide_feed
from domain.match import MARKET_IDS, Match, Team
from simulations.match_sim import (
    MatchFeed,
    PrintSink,
    SimConfig,
    build_feed,
    main,
    run_match,
    run_matches,
)

STARTS_AT = "2026-11-27T15:00:00Z"


def event_spec(body: dict[str, Any]) -> EventCreated:
    """The definition as the operator API would turn it into the book's event."""
    limit = Decimal("100000")
    markets = tuple(
        market_spec(m["market_id"], m["name"],
                    [(s["selection_id"], s["name"], Decimal(s["price"]))
                     for s in m["selections"]],
                    in_play_delay_s=m["in_play_delay_s"], max_liability=limit,
                    max_stake=limit, max_payout=limit)
        for m in body["markets"])
    return EventCreated(body["event_id"], body["name"], body["sport"], body["starts_at"],
                        markets, 0.0)


class BookSink:
    """A provider's view of the platform without the platform: a real book per event, fed
    through the feed's own decisions, with the sequence gate in front."""

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}
        self.gate = SequenceGate()
        self.batches: list[list[FeedMessage]] = []
        self.acks: list[Ack] = []

    async def create_event(self, body: dict[str, Any]) -> None:
        book = Book(body["event_id"])
        book.create(event_spec(body))
        self.books[body["event_id"]] = book

    async def publish(self, messages: list[FeedMessage]) -> list[Ack]:
        self.batches.append(list(messages))
        acks = [self._apply(msg) for msg in messages]
        self.acks += acks
        return acks

    def _apply(self, msg: FeedMessage) -> Ack:
        assert parse(msg.provider, to_plain(msg)) == msg  # a valid message, both ways
        if not self.gate.admit(msg):
            return Ack(msg.event_id, msg.seq, AckStatus.DUPLICATE)
        book = self.books[msg.event_id]
        try:
            book.commit(decide_feed(book.state, msg, msg.sent_at))
        except errors.DomainError as exc:
            return Ack(msg.event_id, msg.seq, AckStatus.REFUSED, exc.code, exc.detail)
        return Ack(msg.event_id, msg.seq, AckStatus.APPLIED, version=book.state.version)


class VirtualClock:
    """Time that moves only when a coroutine sleeps (one match at a time)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


def new_feed(seed: int = 5) -> MatchFeed:
    return MatchFeed(Match(Team("Lions", 1.1, 0.9), Team("Tigers"), seed=seed), f"ev-{seed}",
                     STARTS_AT)


def play(feed: MatchFeed, tick_s: float = 5.0) -> list[list[FeedMessage]]:
    """Every batch of a whole match, ``tick_s`` match seconds apart."""
    batches = [feed.opening(0.0)]
    t = 0.0
    while not feed.finished:
        batches.append(feed.advance_to(t, t))
        t += tick_s
    return batches


@functools.cache
def played(seed: int) -> tuple[MatchFeed, list[list[FeedMessage]]]:
    """A whole match of ``new_feed(seed)`` (shared by the tests that only read it)."""
    feed = new_feed(seed)
    return feed, play(feed)


def check_stops(batches: list[list[FeedMessage]]) -> None:
    """No price goes out for a market in a bet stop unless it re-opens in the same batch
    (the stop ends with its new prices, then the bet start); nothing after a result."""
    stopped: set[str] = set()
    resulted: set[str] = set()
    for batch in batches:
        priced_while_stopped: set[str] = set()
        for msg in batch:
            if msg.kind is FeedKind.BET_STOP:
                assert msg.market_ids and msg.cause
                assert not set(msg.market_ids) & resulted
                stopped |= set(msg.market_ids)
            elif msg.kind is FeedKind.ODDS_CHANGE:
                assert msg.market_id not in resulted
                if msg.market_id in stopped:
                    priced_while_stopped.add(msg.market_id)
            elif msg.kind is FeedKind.BET_START:
                stopped -= set(msg.market_ids)
                priced_while_stopped -= set(msg.market_ids)
            elif msg.kind is FeedKind.RESULT:
                assert msg.market_id is not None and msg.market_id not in resulted
                resulted.add(msg.market_id)
                stopped.discard(msg.market_id)
        assert not priced_while_stopped, priced_while_stopped
    assert resulted == set(MARKET_IDS)


# ---------------------------------------------------------------- the messages


def test_messages_are_valid_numbered_and_stop_before_every_goal() -> None:
    batches = played(5)[1]
    messages = [m for batch in batches for m in batch]
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    for msg in messages:
        assert parse(msg.provider, to_plain(msg)) == msg
    check_stops(batches)
    states = [m.state for m in messages if m.kind is FeedKind.MATCH_STATE]
    assert states == [MatchState.FIRST_HALF, MatchState.HALF_TIME, MatchState.SECOND_HALF,
                      MatchState.ENDED]
    # the opening stops the goal markets that are not yet offered
    assert messages[0].kind is FeedKind.BET_STOP
    assert messages[0].market_ids == ("ng2", "ng3", "ng4", "ng5")


@pytest.mark.parametrize("seed", range(3, 7))
def test_no_market_is_open_when_a_goal_is_announced(seed: int) -> None:
    open_markets = set(MARKET_IDS)
    for msg in (m for batch in played(seed)[1] for m in batch):
        if msg.kind is FeedKind.BET_STOP:
            open_markets -= set(msg.market_ids)
        elif msg.kind is FeedKind.BET_START:
            open_markets |= set(msg.market_ids)
        elif msg.kind is FeedKind.RESULT:
            open_markets.discard(msg.market_id or "")
        elif msg.kind is FeedKind.SCORE:
            assert not open_markets, (msg.score, open_markets)


def test_odds_changes_carry_only_the_prices_that_moved() -> None:
    held = {m["market_id"]: {s["selection_id"]: Decimal(s["price"]) for s in m["selections"]}
            for m in new_feed().definition["markets"]}
    for msg in (m for batch in played(5)[1] for m in batch):
        if msg.kind is FeedKind.ODDS_CHANGE:
            assert msg.market_id is not None and msg.prices
            for selection_id, price in msg.prices:
                assert held[msg.market_id][selection_id] != price
                held[msg.market_id][selection_id] = price


def test_the_same_seed_gives_the_same_feed() -> None:
    assert play(new_feed(6)) == played(6)[1]
    assert played(6)[1] != played(5)[1]


def test_results_follow_the_final_score() -> None:
    feed, batches = played(4)
    messages = [m for batch in batches for m in batch]
    results = {m.market_id: m.winners for m in messages if m.kind is FeedKind.RESULT}
    home, away = feed.match.situation.score
    goals = feed.match.situation.goals
    assert all(m.result_version == 1 for m in messages if m.kind is FeedKind.RESULT)
    assert results["mw"] == (("home",) if home > away else ("away",) if away > home
                             else ("draw",))
    assert results["ou25"] == (("over",) if home + away > 2 else ("under",))
    assert results["ng1"] == ((goals[0].value,) if goals else ("none",))
    scores = [m.score for m in messages if m.kind is FeedKind.SCORE]
    assert len(scores) == home + away and (not scores or scores[-1] == f"{home}-{away}")


# ---------------------------------------------------------------- against a real book


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_whole_match_feeds_a_real_book_without_a_refusal(seed: int) -> None:
    sink, clock = BookSink(), VirtualClock()
    feed = build_feed(seed, 0, config=SimConfig(), starts_at=STARTS_AT)
    report = await run_match(feed, sink, sink.create_event, SimConfig(speed=60), clock)
    assert report.refused == () and not report.error
    assert all(a.status is AckStatus.APPLIED for a in sink.acks)
    state = sink.books[feed.event_id].state
    assert state.status is EventStatus.CLOSED
    assert state.score == feed.match.situation.score_text == report.score
    for market in state.markets.values():
        assert market.result is not None, market.market_id
        assert market.status is MarketStatus.CLOSED
    home, away = feed.match.situation.score
    mw = state.markets["mw"].result
    assert mw is not None and mw.winners == (("home",) if home > away else ("away",)
                                             if away > home else ("draw",))
    check_stops(sink.batches)
    # heartbeats every 10 s of wall time: a match at speed 60 lasts ~110 s of it
    alive_at = [m.sent_at for b in sink.batches for m in b if m.kind is FeedKind.ALIVE]
    assert 9 <= len(alive_at) <= 14
    assert all(9.9 <= b - a <= 10.2 for a, b in itertools.pairwise(alive_at))


async def test_a_match_stopped_midway_ends_where_it_stands_and_results_every_market() -> None:
    feed = build_feed(3, 0, config=SimConfig(), starts_at=STARTS_AT)
    stop = asyncio.Event()

    class ClosingClock(VirtualClock):
        """Half an hour of match time in, the operator closes the event."""

        async def sleep(self, seconds: float) -> None:
            if feed.match.time_s >= 1800:
                stop.set()
            await super().sleep(seconds)

    sink, clock = BookSink(), ClosingClock()
    report = await run_match(feed, sink, sink.create_event, SimConfig(speed=60), clock, stop)
    assert report.refused == () and feed.ended_early and not feed.match.finished
    state = sink.books[feed.event_id].state
    assert state.status is EventStatus.CLOSED
    assert all(m.result is not None for m in state.markets.values())
    home, away = feed.match.situation.score
    mw = state.markets["mw"].result
    assert mw is not None and mw.winners == (("home",) if home > away else ("away",)
                                             if away > home else ("draw",))
    goals = home + away
    for k in range(goals + 1, 6):  # goals nobody scored
        later = state.markets[f"ng{k}"].result
        assert later is not None and later.winners == ("none",)


async def test_many_matches_run_at_once_each_with_its_own_sequence() -> None:
    sink = BookSink()
    config = SimConfig(speed=40_000, min_wall_tick_s=0.01)
    reports = await run_matches(3, 21, sink, sink.create_event, config)
    assert [r.event_id for r in reports] == ["sim-21-1", "sim-21-2", "sim-21-3"]
    assert all(not r.refused and not r.error for r in reports)
    assert {a.status for a in sink.acks} == {AckStatus.APPLIED}
    for event_id, book in sink.books.items():
        seqs = [m.seq for b in sink.batches for m in b if m.event_id == event_id]
        assert seqs == list(range(1, len(seqs) + 1))
        assert all(m.result is not None for m in book.state.markets.values())


async def test_a_failing_creation_is_reported_and_the_other_matches_play_on() -> None:
    sink = BookSink()

    async def create(body: dict[str, Any]) -> None:
        if body["event_id"].endswith("-1"):
            raise RuntimeError("operator API down")
        await sink.create_event(body)

    reports = await run_matches(2, 3, sink, create, SimConfig(speed=40_000,
                                                               min_wall_tick_s=0.01))
    assert "operator API down" in reports[0].error
    assert not reports[1].error and not reports[1].refused


# ---------------------------------------------------------------- the dry run


async def test_the_print_sink_writes_json_lines_a_provider_could_post() -> None:
    out = io.StringIO()
    sink = PrintSink(out)
    feed, batches = played(3)
    await sink.create_event(feed.definition)
    for batch in batches:
        acks = await sink.publish(batch)
        assert [a.seq for a in acks] == [m.seq for m in batch]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["create_event"]["event_id"] == "ev-3"
    messages = [parse(line.pop("provider"), line) for line in lines[1:]]
    assert messages == [m for batch in batches for m in batch]


def test_the_cli_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--matches", "2", "--speed", "200000", "--seed", "4", "--dry-run"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    created = [line["create_event"]["event_id"] for line in lines if "create_event" in line]
    assert created == ["sim-4-1", "sim-4-2"]
    kinds = {line["kind"] for line in lines if "kind" in line}
    assert {"match_state", "odds_change", "bet_stop", "bet_start", "alive",
            "result"} <= kinds


def test_the_cli_wants_both_tokens_with_a_target() -> None:
    with pytest.raises(SystemExit):
        main(["--target", "127.0.0.1:1", "--token", "feed-token"])
    with pytest.raises(SystemExit):
        main(["--target", "127.0.0.1:1", "--token", "t", "--operator-token", "o", "--dry-run"])


def test_the_cli_reports_a_platform_it_cannot_reach(caplog: pytest.LogCaptureFixture) -> None:
    args = ["--target", "127.0.0.1:1", "--token", "t", "--operator-token", "o",
            "--api", "http://127.0.0.1:1", "--speed", "200000"]
    assert main(args) == 1  # the events cannot be created: reported, not raised
    assert "match sim-1-1 failed" in caplog.text and "ConnectError" in caplog.text
