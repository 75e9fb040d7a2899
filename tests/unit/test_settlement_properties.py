"""Hypothesis: settlement pays each bet once per step, whatever arrives in whatever order.

Random streams of operator and feed messages — results with versions (duplicated, replayed,
out of order), rollbacks, void windows and their rollbacks, cash-outs — go through the event
book's decisions (the same ones the event actor runs); what the book journals is folded by
``EventSettlement`` exactly as the settlement actors fold it, and each step moves every
touched bet to what it is due, keyed by (bet, step) in a model wallet that, like the wallet
script, refuses to move one op id twice. At every point, and after the whole stream is
replayed a second time from the journal: each bet's money moved equals what it is due now,
money is conserved, and settle -> rollback -> settle nets to one settlement.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain import cashout, errors
from domain.book import Book
from domain.cashout import CashoutPolicy
from domain.events import (
    BetAccepted,
    BetCashedOut,
    BookEvent,
    CashoutTerms,
    MarketResulted,
    OddsPolicy,
    SettlementRolledBack,
    VoidWindowOpened,
    VoidWindowRolledBack,
)
from domain.settlement import (
    NOT_SETTLED,
    BetRef,
    BetSettlement,
    EventSettlement,
    MarketResult,
    Step,
    Window,
)
from tests.support.factories import bet, match_winner_event

SELECTIONS = ("home", "draw", "away")


@st.composite
def results(draw: st.DrawFn) -> MarketResult:
    void = draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.5"), Decimal(1)]))
    winners = draw(st.sampled_from([("home",), ("draw",), ("away",), ("home", "away")]))
    dead_heat = Decimal("0.5") if void == 0 and len(winners) == 2 else None
    if void == 1 and draw(st.booleans()):
        winners = ()
    return MarketResult(winners, void, dead_heat, draw(st.integers(1, 6)))


RESULTS = results()


def _ref(accepted: BetAccepted) -> BetRef:
    t = accepted.terms
    return BetRef(t.bet_id, t.account_id, t.market_id, t.selection_id, int(t.stake * 100),
                  int(accepted.price * 100), accepted.at)


class Follower:
    """What a settlement actor does, minus Redis: fold the journal, and for each step move
    every touched bet by what its record (``BetSettlement.step``: the actor's own rule) says,
    through a model wallet that, like the wallet script, moves an op id once."""

    def __init__(self, records: dict[str, BetSettlement] | None = None,
                 ops: dict[str, int] | None = None) -> None:
        self.fold = EventSettlement()
        self.records: dict[str, BetSettlement] = dict(records or {})
        self.ops: dict[str, int] = dict(ops or {})  # the wallet: op id -> cents moved
        self.seq = 0

    @property
    def paid(self) -> dict[str, int]:
        """Cents moved to each bet in all (from the wallet's ops)."""
        out: dict[str, int] = {}
        for op, cents in self.ops.items():
            bet_id = op.split(":")[1]
            out[bet_id] = out.get(bet_id, 0) + cents
        return out

    def follow(self, events: list[BookEvent]) -> None:
        for event in events:
            self.seq += 1
            step = self._fold(event)
            if step is not None:
                self._run(step)

    def _fold(self, event: BookEvent) -> Step | None:
        fold, seq = self.fold, self.seq
        if isinstance(event, BetAccepted):
            fold.accept(_ref(event))
        elif isinstance(event, MarketResulted):
            return fold.resulted(seq, event.market_id, MarketResult(
                event.winners, event.void_factor, event.dead_heat_factor, event.version))
        elif isinstance(event, SettlementRolledBack):
            return fold.rolled_back(seq, event.market_id, event.version)
        elif isinstance(event, VoidWindowOpened):
            return fold.window_opened(seq, Window(event.window_id, event.start, event.end,
                                                  event.market_id), event.reason)
        elif isinstance(event, VoidWindowRolledBack):
            return fold.window_rolled_back(seq, event.window_id)
        elif isinstance(event, BetCashedOut):
            return fold.cashed_out(seq, event.bet.terms.bet_id, int(event.amount * 100))
        return None

    def _run(self, step: Step) -> None:
        for ref in step.bets:
            record = self.records.get(ref.bet_id, NOT_SETTLED)
            moved, changed = record.step(step, self.fold.due(ref), now_ms=0)
            if changed is not None:
                self.records[ref.bet_id] = changed
            if moved:
                self.ops.setdefault(f"stl:{ref.bet_id}:{step.seq}", moved)


class SettlementMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = Book("ev")
        self.journal: list[BookEvent] = list(self.book.create(match_winner_event("ev")))
        self.follower = Follower()
        self.follower.follow(self.journal)
        self.now = 1.0
        self.bets: dict[str, BetAccepted] = {}
        self.placed = 0

    def _journal(self, events: list[BookEvent]) -> None:
        self.journal += events
        self.follower.follow(events)

    def _tick(self) -> float:
        self.now += 1.0
        return self.now

    @rule(selection=st.sampled_from(SELECTIONS), stake=st.integers(1, 500))
    def place(self, selection: str, stake: int) -> None:
        price = {"home": "2.50", "draw": "3.20", "away": "2.80"}[selection]
        self.placed += 1
        cmd = bet(f"b{self.placed}", stake=str(stake), price=price, selection=selection)
        decision, events = self.book.place(cmd, self._tick())
        if isinstance(decision, BetAccepted):
            self.bets[decision.terms.bet_id] = decision
        self._journal(events)

    @rule(result=RESULTS, repeat=st.integers(1, 3))
    def result(self, result: MarketResult, repeat: int) -> None:
        for _ in range(repeat):  # the feed sends it again: the same version changes nothing
            try:
                self._journal(self.book.result("mw", result, True, self._tick()))
            except (errors.StaleResult, errors.ResultConflict):
                pass

    @rule()
    def rollback(self) -> None:
        try:
            self._journal(self.book.rollback("mw", self._tick()))
        except errors.NothingToRollBack:
            pass

    @rule(first=st.integers(0, 30), length=st.integers(1, 10))
    def void_window(self, first: int, length: int) -> None:
        start = 1.0 + first
        try:
            self._journal(self.book.void_window(start, start + length, "mw", "why",
                                                self._tick()))
        except errors.InvalidWindow:
            pass

    @rule(pick=st.integers(0, 20))
    def rollback_window(self, pick: int) -> None:
        windows = sorted(self.book.state.windows)
        if windows:
            self._journal(self.book.rollback_window(windows[pick % len(windows)],
                                                    self._tick()))

    @rule(pick=st.integers(0, 50))
    def cash_out(self, pick: int) -> None:
        if not self.bets:
            return
        accepted = sorted(self.bets.values(), key=lambda b: b.terms.bet_id)[
            pick % len(self.bets)]
        if isinstance(self.book.index.get(accepted.terms.bet_id), BetCashedOut):
            return
        terms = CashoutTerms(f"r{pick}-{self.now}", accepted.terms.bet_id,
                             accepted.terms.account_id, None, None, OddsPolicy.ANY, "fp",
                             self.now)
        decision = cashout.decide(self.book.state, terms, accepted, CashoutPolicy(),
                                  self._tick())
        self._journal(self.book.commit([decision]))

    @invariant()
    def every_bet_has_moved_what_it_is_due(self) -> None:
        fold = self.follower.fold
        for bets in fold.bets.values():
            for ref in bets:
                assert self.follower.paid.get(ref.bet_id, 0) == fold.due(ref).payout_cents

    @invariant()
    def without_a_result_nothing_is_paid_but_voids_and_cash_outs(self) -> None:
        fold = self.follower.fold
        if "mw" not in fold.results:
            for ref in fold.bets.get("mw", []):
                expected = ref.stake_cents if fold.voided_by(ref) else fold.cashed.get(
                    ref.bet_id, 0)
                assert self.follower.paid.get(ref.bet_id, 0) == expected

    def teardown(self) -> None:
        # a follower that starts over from the first entry (a restart, a lost cursor) with
        # the records and moves already made: it moves nothing more, changes no record
        again = Follower(self.follower.records, self.follower.ops)
        again.follow(self.journal)
        assert again.ops == self.follower.ops and again.records == self.follower.records


TestSettlementMachine = SettlementMachine.TestCase
TestSettlementMachine.settings = settings(max_examples=40, stateful_step_count=30,
                                          deadline=None)


def test_settle_rollback_settle_nets_to_one_settlement() -> None:
    book = Book("ev")
    journal = list(book.create(match_winner_event("ev")))
    follower = Follower()
    for i, selection in enumerate(SELECTIONS * 3):
        price = {"home": "2.50", "draw": "3.20", "away": "2.80"}[selection]
        journal += book.place(bet(f"b{i}", stake="10", price=price, selection=selection),
                              float(i))[1]
    journal += book.result("mw", MarketResult(("home",), result_version=1), True, 20.0)
    journal += book.rollback("mw", 21.0)
    journal += book.result("mw", MarketResult(("home",), result_version=2), True, 22.0)
    follower.follow(journal)
    once = Follower()
    once.follow([e for e in journal if not isinstance(e, SettlementRolledBack)
                 and not (isinstance(e, MarketResulted) and e.version == 1)])
    assert follower.paid == once.paid and sum(once.paid.values()) == 3 * 2500
