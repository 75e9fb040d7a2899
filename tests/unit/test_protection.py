"""The pure protection rules: no Redis, no Ray."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.clock import ManualClock, ms
from domain.errors import InvalidAmount
from domain.jurisdiction import (
    JURISDICTION_RULES,
    PaymentMethod,
    Product,
    age_on,
    encode_blocked,
    is_iso_country,
    method_allowed,
    product_allowed,
)
from domain.ledger import LedgerAccount, LedgerEntry, Posting, build_statement, parse_postings
from domain.limits import (
    PERMANENT_UNTIL_MS,
    ExclusionPeriod,
    LimitName,
    LimitState,
    add_months,
    exclusion_end,
    exclusion_end_ms,
    plan_limit_change,
)
from domain.money import from_cents, to_cents

A = LedgerAccount
DAY = 86_400_000


def test_money_is_integer_cents_and_never_float() -> None:
    assert to_cents("12.50") == 1250 and to_cents(Decimal("0.01")) == 1 and to_cents(3) == 300
    for bad in ("0", "-0.01", "1.005", "inf", "nan", "x", 10**12):
        with pytest.raises(InvalidAmount):
            to_cents(bad)
    with pytest.raises(InvalidAmount):
        to_cents(1.5)  # type: ignore[arg-type]
    assert from_cents(1250) == Decimal("12.50") and str(from_cents(7)) == "0.07"


@given(st.integers(1, 10**13))
def test_cents_round_trip(cents: int) -> None:
    assert to_cents(from_cents(cents)) == cents


def test_australia_blocks_inplay_casino_and_credit() -> None:
    assert not product_allowed("AU", Product.SPORT_INPLAY)
    assert not product_allowed("au", Product.CASINO)
    assert product_allowed("AU", Product.SPORT_PREMATCH)
    assert product_allowed("GB", Product.CASINO)
    assert not method_allowed("AU", PaymentMethod.CREDIT_CARD)
    assert not method_allowed("AU", PaymentMethod.CRYPTO)
    assert method_allowed("AU", PaymentMethod.DEBIT_CARD)
    assert method_allowed("NZ", PaymentMethod.CREDIT_CARD)


def test_rule_table_encoding_for_the_scripts() -> None:
    assert encode_blocked(JURISDICTION_RULES, "products") == "|AU:casino|AU:sport_inplay|"
    assert encode_blocked(JURISDICTION_RULES, "methods") == "|AU:credit_card|AU:crypto|"
    assert encode_blocked({}, "products") == "|"


def test_iso_codes_and_age() -> None:
    assert is_iso_country("AU") and is_iso_country("GB") and not is_iso_country("UK")
    assert age_on(date(2008, 1, 2), date(2026, 1, 1)) == 17
    assert age_on(date(2008, 1, 1), date(2026, 1, 1)) == 18
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17


def test_exclusion_periods_end_by_the_calendar() -> None:
    start = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert exclusion_end(ExclusionPeriod.THREE_MONTHS, start) == datetime(2026, 4, 30, 12,
                                                                           tzinfo=UTC)
    assert exclusion_end(ExclusionPeriod.FIVE_YEARS, start) == datetime(2031, 1, 31, 12,
                                                                         tzinfo=UTC)
    assert exclusion_end(ExclusionPeriod.PERMANENT, start) is None
    assert exclusion_end_ms(ExclusionPeriod.PERMANENT, 0) == PERMANENT_UNTIL_MS
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1).day == 29


def test_limit_decrease_binds_now_increase_waits() -> None:
    state = LimitState(current=10_000)
    down = plan_limit_change(LimitName.STAKE_MAX, state, 5_000, 1_000, 7 * 86_400)
    assert down.immediate and down.state == LimitState(current=5_000)
    up = plan_limit_change(LimitName.STAKE_MAX, state, 20_000, 1_000, 7 * 86_400)
    assert not up.immediate and up.effective_at_ms == 1_000 + 7 * DAY
    assert up.state.effective(up.effective_at_ms - 1) == 10_000
    assert up.state.effective(up.effective_at_ms) == 20_000
    removal = plan_limit_change(LimitName.STAKE_MAX, state, None, 0, 60)
    assert not removal.immediate and removal.state.effective(60_000) is None
    first = plan_limit_change(LimitName.STAKE_MAX, LimitState(), 100, 0, 60)
    assert first.immediate  # setting a limit where there was none tightens


def test_a_decrease_cancels_a_pending_increase_and_matured_increases_count() -> None:
    pending = LimitState(current=100, pending=500, pending_at_ms=10_000)
    down = plan_limit_change(LimitName.LOSS_DAILY, pending, 50, 5_000, 60)
    assert down.state == LimitState(current=50)
    # after maturity the pending value is what binds, so 300 is a decrease from 500
    later = plan_limit_change(LimitName.LOSS_DAILY, pending, 300, 10_000, 60)
    assert later.immediate and later.state.current == 300


@given(current=st.one_of(st.none(), st.integers(1, 10**6)),
       requested=st.one_of(st.none(), st.integers(1, 10**6)))
def test_a_limit_never_loosens_before_the_cooling_off(current: int | None,
                                                      requested: int | None) -> None:
    now, cooling = 1_000_000, 3600
    plan = plan_limit_change(LimitName.STAKE_MAX, LimitState(current=current), requested, now,
                             cooling)
    loose = 10**9
    before = plan.state.effective(now + cooling * 1000 - 1)
    assert (loose if before is None else before) <= (loose if current is None else current)
    after = plan.state.effective(now + cooling * 1000)
    assert after == requested


def _entry(seq: int, ts: int, *postings: tuple[A, A, int]) -> LedgerEntry:
    return LedgerEntry(seq, f"op{seq}", "x", ts, tuple(Posting(*p) for p in postings))


def test_statement_from_postings() -> None:
    jan = ms(datetime(2026, 1, 10, tzinfo=UTC).timestamp())
    dec = ms(datetime(2025, 12, 31, tzinfo=UTC).timestamp())
    entries = [
        _entry(1, dec, (A.DEPOSITS_CLEARING, A.AVAILABLE, 5_000)),
        _entry(2, jan, (A.DEPOSITS_CLEARING, A.AVAILABLE, 10_000)),
        _entry(3, jan, (A.AVAILABLE, A.RESERVED, 2_000)),
        _entry(4, jan, (A.RESERVED, A.STAKES_HELD, 2_000)),
        _entry(5, jan, (A.PAYOUTS, A.AVAILABLE, 3_000)),
        _entry(6, jan, (A.AVAILABLE, A.PAYOUTS, 1_000), (A.DEBT, A.PAYOUTS, 500)),
        _entry(7, jan, (A.AVAILABLE, A.WITHDRAWAL_HOLD, 4_000)),
        _entry(8, jan, (A.WITHDRAWAL_HOLD, A.WITHDRAWALS_CLEARING, 4_000)),
        _entry(9, jan, (A.DEPOSITS_CLEARING, A.DEPOSIT_HOLD, 700)),
        _entry(10, jan, (A.DEPOSIT_HOLD, A.DEPOSITS_CLEARING, 700)),
    ]
    st_ = build_statement(entries, "2026-01")
    assert st_.opening_balance == Decimal("50.00")
    assert (st_.deposits, st_.withdrawals, st_.stakes, st_.returns) == (
        Decimal("100.00"), Decimal("40.00"), Decimal("20.00"), Decimal("15.00"))
    assert st_.net_result == Decimal("-5.00")
    assert st_.closing_balance == Decimal("105.00") and st_.entries == 9
    assert build_statement(entries, "2026-02").opening_balance == Decimal("105.00")


def test_postings_wire_format() -> None:
    assert parse_postings("house:payouts>player:available>250;") == (
        Posting(A.PAYOUTS, A.AVAILABLE, 250),)
    assert parse_postings("") == ()


def test_manual_clock() -> None:
    clock = ManualClock(100.0)
    clock.advance(2.5)
    assert clock() == 102.5
