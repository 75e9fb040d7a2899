"""Hypothesis: the book's invariants hold under any sequence of commands.

DESIGN.md invariant 4: market versions only increase; no bet is accepted at a price its policy
refuses at the version current when it was accepted; liability never exceeds its limit.
Invariant 6: the same idempotency key always yields the same outcome, and never a second bet.
Also: folding the journal rebuilds the live state exactly.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain import errors
from domain.bets import BetDecision, PlaceBet
from domain.book import Book, fold, price_acceptable
from domain.codec import decode, encode
from domain.events import (
    BetAccepted,
    BookEvent,
    EventStatus,
    MarketStatus,
    OddsPolicy,
)
from domain.ladder import LADDER
from tests.support.factories import match_winner_event

PRICES = st.sampled_from(LADDER[50:200])  # 1.51 .. about 10
STAKES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400"), places=2)
KEYS = st.sampled_from([f"k{i}" for i in range(30)])
SELECTIONS = st.sampled_from([("mw", "home"), ("mw", "draw"), ("mw", "away"),
                              ("ou25", "over"), ("ou25", "under")])


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = Book("ev")
        self.now = 0.0
        self.journal: list[BookEvent] = list(
            self.book.create(match_winner_event("ev", delay_s=1.5, max_liability="1000"))
        )
        self.versions = {m: s.version for m, s in self.book.state.markets.items()}
        self.first_outcome: dict[str, BetDecision] = {}
        self.bodies: dict[str, PlaceBet] = {}

    def _record(self, events: list[BookEvent]) -> None:
        for event in events:
            if isinstance(event, BetAccepted):
                self._check_acceptance(event)
        self.journal.extend(events)

    def _check_acceptance(self, event: BetAccepted) -> None:
        market = self.book.state.markets[event.terms.market_id]
        # the state already includes the event: the accepted price is the price now
        assert market.selections[event.terms.selection_id].price == event.price
        assert event.version == market.version
        assert price_acceptable(event.terms.policy, event.terms.price, event.price)

    @rule(key=KEYS, where=SELECTIONS, stake=STAKES, price=PRICES,
          policy=st.sampled_from(list(OddsPolicy)), account=st.sampled_from(["a", "b"]))
    def place(self, key: str, where: tuple[str, str], stake: Decimal, price: Decimal,
              policy: OddsPolicy, account: str) -> None:
        cmd = PlaceBet(key, account, where[0], where[1], stake, price, policy)
        self.now += 0.1
        try:
            decision, events = self.book.place(cmd, self.now)
        except errors.IdempotencyKeyReused:
            assert self.bodies[key].fingerprint() != cmd.fingerprint()
            return
        self._record(events)
        if key in self.first_outcome:
            assert not events, "a replayed key produced a new event"
            # the same bet (a held one may have been decided since)
            assert decision.terms == self.first_outcome[key].terms  # type: ignore[union-attr]
        else:
            self.first_outcome[key] = decision
            self.bodies[key] = cmd

    @rule(key=KEYS, where=SELECTIONS, stake=STAKES)
    def place_at_any_price(self, key: str, where: tuple[str, str], stake: Decimal) -> None:
        """Bettors who take any price reach the liability limit quickly."""
        self.place(key + "-any", where, stake * 3, Decimal("1.01"), OddsPolicy.ANY, "c")

    @rule(key=KEYS)
    def replay_same_body(self, key: str) -> None:
        if key not in self.bodies:
            return
        decision, events = self.book.place(self.bodies[key], self.now)
        assert events == []
        assert decision.terms == self.first_outcome[key].terms  # type: ignore[union-attr]

    @rule(where=SELECTIONS, price=PRICES)
    def change_odds(self, where: tuple[str, str], price: Decimal) -> None:
        self.now += 0.1
        try:
            self._record(self.book.change_odds(where[0], {where[1]: price}, self.now))
        except errors.MarketClosed:
            pass

    @rule(status=st.sampled_from([EventStatus.IN_PLAY, EventStatus.IN_PLAY, EventStatus.SUSPENDED]))
    def event_status(self, status: EventStatus) -> None:
        self.now += 0.1
        try:
            self._record(self.book.set_status(status, self.now))
        except errors.InvalidTransition:
            pass

    @rule(market=st.sampled_from(["mw", "ou25"]),
          status=st.sampled_from([MarketStatus.OPEN, MarketStatus.SUSPENDED]))
    def market_status(self, market: str, status: MarketStatus) -> None:
        self.now += 0.1
        try:
            self._record(self.book.set_market_status(market, status, self.now))
        except errors.InvalidTransition:
            pass

    @rule(score=st.sampled_from(["0-0", "1-0", "1-1", "2-1"]))
    def score(self, score: str) -> None:
        self.now += 0.1
        self._record(self.book.set_score(score, self.now))

    @rule(wait=st.floats(min_value=0.0, max_value=3.0))
    def time_passes(self, wait: float) -> None:
        self.now += wait
        self._record(self.book.release_due(self.now))

    @precondition(lambda self: len(self.journal) > 40)
    @rule()
    def close(self) -> None:
        self.now += 0.1
        self._record(self.book.set_status(EventStatus.CLOSED, self.now))

    @invariant()
    def versions_only_increase(self) -> None:
        for market_id, market in self.book.state.markets.items():
            assert market.version >= self.versions[market_id]
            self.versions[market_id] = market.version

    @invariant()
    def liability_within_limit(self) -> None:
        for market in self.book.state.markets.values():
            for selection_id in market.selections:
                assert market.liability(selection_id) <= market.max_liability

    @invariant()
    def at_most_one_bet_per_key(self) -> None:
        decided = Counter(
            e.terms.bet_id for e in self.journal if isinstance(e, BetAccepted)
        )
        assert all(n == 1 for n in decided.values())

    @invariant()
    def fold_equals_live_state(self) -> None:
        rebuilt = fold("ev", [decode(encode(e)) for e in self.journal])
        assert rebuilt == self.book.state


TestBookMachine = BookMachine.TestCase
TestBookMachine.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
