"""Settlement maths (``domain.settlement``): worked examples, then properties checked against an
exact oracle computed with ``fractions.Fraction``. Pure: no Ray, no Redis."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidAmount, ValidationFailed
from domain.events import BetStatus
from domain.ladder import LADDER
from domain.settlement import (
    MarketResult,
    MarketSummary,
    SettlementOutcome,
    WalletAction,
    adjustment,
    cashout_value,
    fair_cashout_value,
    in_void_window,
    resettle,
    rollback,
    round_down_to_cent,
    settle,
    summarize_market,
    voided,
)

D = Decimal
CENT = Fraction(1, 100)
STAKES = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
PRICES = st.sampled_from(LADDER)
MARGINS = st.decimals(min_value=D("0"), max_value=D("0.99"), places=4)
DEAD_HEATS = st.one_of(
    st.sampled_from([D(1) / D(n) for n in range(1, 8)]),
    st.decimals(min_value=D("0.0001"), max_value=D("1"), places=4),
)
VOIDS = st.sampled_from([D("0"), D("0.5"), D("1")])
VERSIONS = st.integers(min_value=1, max_value=1000)


def oracle(stake: Decimal, price: Decimal, won: bool, void: Decimal,
           dead_heat: Decimal | None = None) -> Fraction:
    """The exact payout, written independently of the implementation."""
    s, p = Fraction(stake), Fraction(price)
    if void == 1:
        return s
    if void == D("0.5"):
        return s / 2 + (s / 2 * p if won else 0)
    if not won:
        return Fraction(0)
    return s * (Fraction(dead_heat) if dead_heat is not None else 1) * p


def two_places(value: Decimal) -> bool:
    return value.as_tuple().exponent == -2


# --- worked examples ----------------------------------------------------------------------

WIN_HOME = MarketResult(("home",))


def test_win_pays_stake_times_price() -> None:
    outcome = settle(D("10.00"), D("2.50"), "home", WIN_HOME)
    assert outcome == SettlementOutcome(BetStatus.WON, D("25.00"), 1)
    assert str(outcome.payout) == "25.00"
    assert outcome.dead_heat is False


def test_lose_pays_nothing() -> None:
    outcome = settle(D("10.00"), D("2.50"), "away", WIN_HOME)
    assert (outcome.status, outcome.payout) == (BetStatus.LOST, D("0.00"))
    assert str(outcome.payout) == "0.00"


@pytest.mark.parametrize("winners", [(), ("home",), ("away",), ("home", "away")])
def test_full_void_refunds_the_stake_whatever_the_winners(winners: tuple[str, ...]) -> None:
    result = MarketResult(winners, void_factor=D("1"), result_version=3)
    outcome = settle(D("10.00"), D("2.50"), "home", result)
    assert outcome == SettlementOutcome(BetStatus.VOID, D("10.00"), 3)


def test_half_won_is_half_refund_plus_half_win() -> None:
    result = MarketResult(("home",), void_factor=D("0.5"))
    outcome = settle(D("10"), D("1.95"), "home", result)
    assert (outcome.status, outcome.payout) == (BetStatus.HALF_WON, D("14.75"))  # 5.00 + 9.75


def test_half_lost_is_half_refund() -> None:
    result = MarketResult(("home",), void_factor=D("0.5"))
    assert settle(D("10"), D("1.95"), "away", result) == SettlementOutcome(
        BetStatus.HALF_LOST, D("5.00"), 1)
    assert settle(D("0.03"), D("1.95"), "away", result).payout == D("0.01")  # 0.015 down
    assert settle(D("0.01"), D("1.95"), "away", result).payout == D("0.00")  # 0.005 down


def test_half_won_rounds_once_at_the_end() -> None:
    # 0.03/2 = 0.015 and 0.015 × 1.01 = 0.01515: rounding each part would give 0.01 + 0.01,
    # the exact 0.03015 rounds down once to 0.03
    result = MarketResult(("home",), void_factor=D("0.5"))
    assert settle(D("0.03"), D("1.01"), "home", result).payout == D("0.03")


def test_dead_heat_two_way() -> None:
    result = MarketResult(("a", "b"), dead_heat_factor=D("0.5"))
    outcome = settle(D("10"), D("3.40"), "a", result)
    assert outcome == SettlementOutcome(BetStatus.WON, D("17.00"), 1, dead_heat=True)


def test_dead_heat_three_way_rounds_down() -> None:
    result = MarketResult(("a", "b", "c"), dead_heat_factor=D(1) / D(3))
    outcome = settle(D("10.00"), D("5.00"), "b", result)
    assert (outcome.status, outcome.payout, outcome.dead_heat) == (BetStatus.WON, D("16.66"),
                                                                   True)


def test_dead_heat_can_pay_less_than_the_stake_and_still_be_won() -> None:
    result = MarketResult(("a", "b", "c"), dead_heat_factor=D(1) / D(3))
    outcome = settle(D("10.00"), D("2.00"), "a", result)
    assert (outcome.status, outcome.payout, outcome.dead_heat) == (BetStatus.WON, D("6.66"),
                                                                   True)


def test_dead_heat_loser_and_factor_one() -> None:
    result = MarketResult(("a", "b"), dead_heat_factor=D("0.5"))
    assert settle(D("10"), D("3.40"), "c", result).status is BetStatus.LOST
    full = MarketResult(("a",), dead_heat_factor=D("1"))
    assert settle(D("10"), D("3.40"), "a", full) == SettlementOutcome(BetStatus.WON, D("34.00"),
                                                                      1)


def test_small_amounts_round_down() -> None:
    assert settle(D("0.01"), D("1.01"), "home", WIN_HOME).payout == D("0.01")  # 0.0101
    assert settle(D("3.33"), D("1.07"), "home", WIN_HOME).payout == D("3.56")  # 3.5631
    assert settle(D("0.99"), D("1.99"), "home", WIN_HOME).payout == D("1.97")  # 1.9701


def test_result_version_is_carried() -> None:
    result = MarketResult(["home"], result_version=7)  # type: ignore[arg-type]  # any iterable
    assert result.winners == ("home",)
    assert settle(D("1"), D("2"), "home", result).result_version == 7


def test_round_down_to_cent() -> None:
    assert round_down_to_cent(Fraction(50, 3)) == D("16.66")
    assert round_down_to_cent(D("0.009")) == D("0.00")
    assert str(round_down_to_cent(D("7"))) == "7.00"
    with pytest.raises(ValidationFailed):
        round_down_to_cent(D("-0.01"))


# --- payout properties --------------------------------------------------------------------


@given(STAKES, PRICES, st.booleans(), VOIDS)
def test_payout_is_the_exact_amount_rounded_down(stake: Decimal, price: Decimal, won: bool,
                                                 void: Decimal) -> None:
    result = MarketResult(("x",), void_factor=void)
    outcome = settle(stake, price, "x" if won else "y", result)
    exact = oracle(stake, price, won, void)
    payout = Fraction(outcome.payout)
    assert 0 <= payout <= exact
    assert exact - payout < CENT
    assert two_places(outcome.payout)


@given(STAKES, PRICES, st.booleans())
def test_full_void_returns_the_stake_to_the_cent(stake: Decimal, price: Decimal,
                                                 won: bool) -> None:
    result = MarketResult(("x",), void_factor=D("1"))
    outcome = settle(stake, price, "x" if won else "y", result)
    assert (outcome.status, outcome.payout) == (BetStatus.VOID, stake)


@given(STAKES, PRICES)
def test_half_lost_returns_half_the_stake_rounded_down(stake: Decimal, price: Decimal) -> None:
    result = MarketResult(("x",), void_factor=D("0.5"))
    outcome = settle(stake, price, "y", result)
    assert outcome.status is BetStatus.HALF_LOST
    assert outcome.payout == (stake / 2).quantize(D("0.01"), rounding="ROUND_DOWN")
    assert outcome.payout * 2 in (stake, stake - D("0.01"))


@given(STAKES, PRICES)
def test_winners_get_at_least_their_stake_back(stake: Decimal, price: Decimal) -> None:
    won = settle(stake, price, "x", MarketResult(("x",)))
    half = settle(stake, price, "x", MarketResult(("x",), void_factor=D("0.5")))
    lost = settle(stake, price, "y", MarketResult(("x",)))
    assert (won.status, half.status, lost.status) == (BetStatus.WON, BetStatus.HALF_WON,
                                                      BetStatus.LOST)
    assert won.payout >= half.payout >= stake > lost.payout == 0


@given(STAKES, PRICES, DEAD_HEATS)
def test_dead_heat_pays_the_factor_of_the_stake_at_full_price(stake: Decimal, price: Decimal,
                                                              factor: Decimal) -> None:
    result = MarketResult(("x", "z"), dead_heat_factor=factor)
    outcome = settle(stake, price, "x", result)
    exact = oracle(stake, price, True, D("0"), factor)
    payout = Fraction(outcome.payout)
    assert outcome.status is BetStatus.WON
    assert outcome.dead_heat is (factor < 1)
    assert 0 <= payout <= exact and exact - payout < CENT
    assert outcome.payout <= settle(stake, price, "x", MarketResult(("x",))).payout


# --- resettlement -------------------------------------------------------------------------

RESULTS = st.builds(
    lambda won, void, version: (won, void, version), st.booleans(), VOIDS, VERSIONS)


def outcome_for(stake: Decimal, price: Decimal, won: bool, void: Decimal,
                version: int) -> SettlementOutcome:
    return settle(stake, price, "x" if won else "y",
                  MarketResult(("x",), void_factor=void, result_version=version))


def test_adjustment_examples() -> None:
    assert adjustment(None, D("25.00")) == D("25.00")
    assert adjustment(D("25.00"), D("0.00")) == D("-25.00")
    assert adjustment(D("5.00"), D("14.75")) == D("9.75")
    assert str(adjustment(D("10"), D("10"))) == "0.00"
    with pytest.raises(InvalidAmount):
        adjustment(D("-1"), D("1"))
    with pytest.raises(InvalidAmount):
        adjustment(None, D("0.001"))


def test_resettle_won_to_lost_debits_the_payout() -> None:
    v1 = settle(D("10"), D("2.50"), "home", WIN_HOME)
    v2 = settle(D("10"), D("2.50"), "home", MarketResult(("away",), result_version=2))
    first, second = resettle(None, v1), resettle(v1, v2)
    assert (first.action, first.amount, first.settled) == (WalletAction.CREDIT, D("25.00"), v1)
    assert (second.action, second.amount, second.net) == (WalletAction.DEBIT, D("25.00"),
                                                          D("-25.00"))
    assert second.settled == v2


def test_rollback_takes_back_the_payout() -> None:
    v1 = settle(D("10"), D("2.50"), "home", WIN_HOME)
    movement = rollback(v1)
    assert (movement.action, movement.net, movement.settled) == (WalletAction.DEBIT,
                                                                 D("-25.00"), None)
    nothing = rollback(None)
    assert (nothing.action, nothing.net, nothing.settled) == (WalletAction.NONE, D("0.00"),
                                                              None)


def test_stale_and_duplicate_results_move_nothing() -> None:
    v2 = settle(D("10"), D("2.50"), "home", MarketResult(("home",), result_version=2))
    v1 = settle(D("10"), D("2.50"), "home", MarketResult(("away",), result_version=1))
    for late in (v1, v2):
        movement = resettle(v2, late)
        assert (movement.action, movement.net, movement.settled) == (WalletAction.NONE,
                                                                     D("0.00"), v2)


def test_conflicting_outcomes_for_one_version_are_refused() -> None:
    won = settle(D("10"), D("2.50"), "home", MarketResult(("home",), result_version=2))
    lost = settle(D("10"), D("2.50"), "home", MarketResult(("away",), result_version=2))
    with pytest.raises(ValidationFailed) as info:
        resettle(won, lost)
    assert info.value.code == "VALIDATION_ERROR"


@given(STAKES, PRICES, RESULTS, RESULTS)
def test_settle_then_resettle_nets_to_the_new_payout(stake: Decimal, price: Decimal,
                                                     r1: tuple[bool, Decimal, int],
                                                     r2: tuple[bool, Decimal, int]) -> None:
    v1 = outcome_for(stake, price, r1[0], r1[1], 1)
    v2 = outcome_for(stake, price, r2[0], r2[1], 2)
    first = resettle(None, v1)
    second = resettle(first.settled, v2)
    assert first.net + second.net == v2.payout
    assert second.net == adjustment(v1.payout, v2.payout)
    assert v1.payout + adjustment(v1.payout, v2.payout) == v2.payout


@given(STAKES, PRICES, RESULTS)
def test_settle_then_rollback_nets_to_zero(stake: Decimal, price: Decimal,
                                           r: tuple[bool, Decimal, int]) -> None:
    settled = resettle(None, outcome_for(stake, price, *r))
    undone = rollback(settled.settled)
    assert settled.net + undone.net == 0
    assert undone.settled is None


@given(STAKES, PRICES, st.lists(RESULTS, min_size=1, max_size=8), st.randoms())
def test_out_of_order_and_repeated_results_net_to_the_latest(
        stake: Decimal, price: Decimal, results: list[tuple[bool, Decimal, int]],
        rnd: object) -> None:
    # one outcome per version (a version is one result); delivered shuffled, some twice
    by_version = {version: outcome_for(stake, price, won, void, version)
                  for won, void, version in results}
    deliveries = list(by_version.values()) + list(by_version.values())[:2]
    rnd.shuffle(deliveries)  # type: ignore[attr-defined]
    state: SettlementOutcome | None = None
    total = D("0")
    for outcome in deliveries:
        movement = resettle(state, outcome)
        total += movement.net
        state = movement.settled
    latest = by_version[max(by_version)]
    assert state == latest
    assert total == latest.payout
    total += rollback(state).net
    assert total == 0


# --- void windows -------------------------------------------------------------------------


def test_void_window_is_inclusive_start_exclusive_end() -> None:
    assert in_void_window(100.0, 100.0, 110.0)
    assert in_void_window(109.999, 100.0, 110.0)
    assert not in_void_window(110.0, 100.0, 110.0)
    assert not in_void_window(99.999, 100.0, 110.0)
    assert not in_void_window(100.0, 100.0, 100.0)  # an empty window contains nothing


@pytest.mark.parametrize("args", [
    (100.0, 110.0, 100.0),  # starts after it ends
    (float("nan"), 100.0, 110.0),
    (100.0, float("-inf"), 110.0),
    (100.0, 100.0, float("inf")),
    (True, 0.0, 10.0),
])
def test_void_window_refuses_bad_times(args: tuple[float, float, float]) -> None:
    with pytest.raises(ValidationFailed):
        in_void_window(*args)


@given(st.floats(0, 1e10), st.floats(0, 1e10), st.floats(0, 1e10), st.floats(0, 1e10))
def test_adjacent_void_windows_never_both_claim_a_bet(t: float, a: float, b: float,
                                                      c: float) -> None:
    start, middle, end = sorted((a, b, c))
    first, second = in_void_window(t, start, middle), in_void_window(t, middle, end)
    assert not (first and second)
    assert (first or second) == in_void_window(t, start, end)


@given(STAKES, VERSIONS)
def test_voided_bet_gets_its_stake_back(stake: Decimal, version: int) -> None:
    assert voided(stake, version) == SettlementOutcome(BetStatus.VOID, stake, version)
    assert two_places(voided(stake, version).payout)


# --- cash-out -----------------------------------------------------------------------------


def test_cashout_examples() -> None:
    # 10 × 3.00 ÷ 2.00 × 0.95 = 14.25
    assert cashout_value(D("10"), D("3.00"), D("2.00"), D("0.05")) == D("14.25")
    # 10 × 2.50 ÷ 3.00 = 8.333… → 8.33
    assert cashout_value(D("10"), D("2.50"), D("3.00"), D("0")) == D("8.33")
    # unchanged price, no margin: the stake back
    assert cashout_value(D("10"), D("2.50"), D("2.50"), D("0")) == D("10.00")
    # 10 × 2.00 × 0.6 × 0.9 = 10.80
    assert fair_cashout_value(D("10"), D("2.00"), D("0.6"), D("0.1")) == D("10.80")
    assert fair_cashout_value(D("10"), D("2.00"), D("0"), D("0.1")) == D("0.00")
    assert fair_cashout_value(D("10"), D("2.00"), D("1"), D("0")) == D("20.00")


@given(STAKES, PRICES, PRICES, MARGINS)
def test_cashout_is_bounded_and_rounded_down(stake: Decimal, bet_price: Decimal,
                                             current: Decimal, margin: Decimal) -> None:
    value = cashout_value(stake, bet_price, current, margin)
    exact = Fraction(stake) * Fraction(bet_price) / Fraction(current) * (1 - Fraction(margin))
    assert 0 <= value <= stake * bet_price
    assert Fraction(value) <= exact and exact - Fraction(value) < CENT
    assert two_places(value)


@given(STAKES, PRICES, PRICES, PRICES)
def test_cashout_falls_as_the_price_drifts(stake: Decimal, bet_price: Decimal, a: Decimal,
                                           b: Decimal) -> None:
    low, high = sorted((a, b))
    assert cashout_value(stake, bet_price, high, D("0.05")) <= cashout_value(
        stake, bet_price, low, D("0.05"))


# prices whose implied probability 1/price is an exact Decimal (1.25, 2, 2.5, 4, 5, 8, ...)
EXACT_INVERSE = [p for p in LADDER if Fraction(1 / p) == 1 / Fraction(p)]


@given(STAKES, PRICES, st.sampled_from(EXACT_INVERSE), MARGINS)
def test_fair_cashout_equals_retail_at_the_implied_probability(
        stake: Decimal, bet_price: Decimal, current: Decimal, margin: Decimal) -> None:
    probability = 1 / current
    assert fair_cashout_value(stake, bet_price, probability, margin) == cashout_value(
        stake, bet_price, current, margin)


@given(STAKES, PRICES, st.decimals(min_value=D("0"), max_value=D("1"), places=6), MARGINS)
def test_fair_cashout_is_bounded_and_rounded_down(stake: Decimal, bet_price: Decimal,
                                                  p: Decimal, margin: Decimal) -> None:
    value = fair_cashout_value(stake, bet_price, p, margin)
    exact = Fraction(stake) * Fraction(bet_price) * Fraction(p) * (1 - Fraction(margin))
    assert 0 <= Fraction(value) <= exact and exact - Fraction(value) < CENT


# --- market summary -----------------------------------------------------------------------


def test_market_summary_example() -> None:
    bets = [(D("10"), D("25.00")), (D("20"), D("0")), (D("5.50"), D("5.50"))]
    assert summarize_market(bets) == MarketSummary(3, D("35.50"), D("30.50"), D("5.00"))
    assert summarize_market([]) == MarketSummary(0, D("0.00"), D("0.00"), D("0.00"))
    loss = summarize_market([(D("10"), D("100"))])
    assert loss.gross_gaming_revenue == D("-90.00")


@given(st.lists(st.tuples(STAKES, PRICES, st.booleans(), VOIDS), max_size=30))
def test_market_summary_gross_gaming_revenue(bets: list[tuple[Decimal, Decimal, bool,
                                                              Decimal]]) -> None:
    pairs = [(stake, settle(stake, price, "x" if won else "y",
                            MarketResult(("x",), void_factor=void)).payout)
             for stake, price, won, void in bets]
    summary = summarize_market(pairs)
    assert summary.bets == len(pairs)
    assert summary.total_stakes == sum((s for s, _ in pairs), D("0"))
    assert summary.total_returns == sum((p for _, p in pairs), D("0"))
    assert summary.gross_gaming_revenue == summary.total_stakes - summary.total_returns
    if all(void == 1 for *_, void in bets):
        assert summary.gross_gaming_revenue == 0


# --- invalid input ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"winners": ("x",), "void_factor": D("0.25")},
    {"winners": ("x",), "void_factor": D("-1")},
    {"winners": ("x",), "void_factor": 0.5},  # a float, not a Decimal
    {"winners": ("x",), "void_factor": D("NaN")},
    {"winners": (), "void_factor": D("0")},  # nobody won and not void
    {"winners": (), "void_factor": D("0.5")},
    {"winners": ("x", "x")},
    {"winners": ("x", "")},
    {"winners": "x"},  # a string is not a collection of ids
    {"winners": ("x", 3)},
    {"winners": ("x", "y"), "dead_heat_factor": D("0")},
    {"winners": ("x", "y"), "dead_heat_factor": D("1.01")},
    {"winners": ("x", "y"), "dead_heat_factor": D("-0.5")},
    {"winners": ("x", "y"), "dead_heat_factor": 0.5},
    {"winners": ("x", "y"), "void_factor": D("0.5"), "dead_heat_factor": D("0.5")},
    {"winners": ("x", "y"), "void_factor": D("1"), "dead_heat_factor": D("0.5")},
    {"winners": ("x",), "result_version": 0},
    {"winners": ("x",), "result_version": True},
    {"winners": ("x",), "result_version": "2"},
])
def test_invalid_results_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed) as info:
        MarketResult(**kwargs)  # type: ignore[arg-type]
    assert info.value.detail and info.value.facts["field"]


@pytest.mark.parametrize("stake", [D("0"), D("-1"), D("0.001"), D("NaN"), 10.0])
def test_invalid_stakes_are_refused(stake: Decimal) -> None:
    with pytest.raises(InvalidAmount):
        settle(stake, D("2"), "x", WIN_HOME)


@pytest.mark.parametrize(("price", "selection"), [
    (D("1"), "x"), (D("0.5"), "x"), (D("Infinity"), "x"), (2.5, "x"), (D("2"), ""),
])
def test_invalid_bets_are_refused(price: Decimal, selection: str) -> None:
    with pytest.raises(ValidationFailed):
        settle(D("10"), price, selection, WIN_HOME)


@pytest.mark.parametrize("kwargs", [
    {"status": BetStatus.ACCEPTED, "payout": D("1"), "result_version": 1},
    {"status": BetStatus.WON, "payout": D("1"), "result_version": 0},
    {"status": BetStatus.LOST, "payout": D("0"), "result_version": 1, "dead_heat": True},
])
def test_invalid_outcomes_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        SettlementOutcome(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("payout", [D("-0.01"), D("1.001"), 1.0])
def test_invalid_payouts_are_refused(payout: Decimal) -> None:
    with pytest.raises(InvalidAmount):
        SettlementOutcome(BetStatus.WON, payout, 1)


@pytest.mark.parametrize(("call", "error"), [
    (lambda: cashout_value(D("10"), D("2"), D("2"), D("1")), ValidationFailed),
    (lambda: cashout_value(D("10"), D("2"), D("2"), D("-0.01")), ValidationFailed),
    (lambda: cashout_value(D("10"), D("2"), D("1"), D("0")), ValidationFailed),
    (lambda: cashout_value(D("10"), D("1"), D("2"), D("0")), ValidationFailed),
    (lambda: cashout_value(D("10"), D("2"), D("2"), 0.05),  # type: ignore[arg-type]
     ValidationFailed),
    (lambda: cashout_value(D("0"), D("2"), D("2"), D("0")), InvalidAmount),
    (lambda: fair_cashout_value(D("10"), D("2"), D("1.01"), D("0")), ValidationFailed),
    (lambda: fair_cashout_value(D("10"), D("2"), D("-0.1"), D("0")), ValidationFailed),
    (lambda: fair_cashout_value(D("10"), D("2"), D("0.5"), D("1")), ValidationFailed),
    (lambda: voided(D("10"), 0), ValidationFailed),
    (lambda: voided(D("0"), 1), InvalidAmount),
    (lambda: summarize_market([(D("10"), D("-1"))]), InvalidAmount),
])
def test_invalid_quotes_and_voids_are_refused(call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()  # type: ignore[operator]
