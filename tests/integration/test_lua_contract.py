"""Where a rule exists in both languages, random inputs go through both and must agree.

The player-protection rules bind inside the wallet's Lua scripts (reserve, deposit,
withdraw); ``domain.protection`` has the same rules in Python. Each example writes a random
account state into a real valkey-server, runs the script, runs the Python rule on the same
facts, and asserts the same answer: the same refusal code, or both allow it (and then the
money moved exactly as asked). The Python copy is the oracle.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.clock import DAY_MS, ManualClock, ms
from domain.errors import WalletError
from domain.jurisdiction import PaymentMethod, Product
from domain.limits import DEPOSIT_LIMITS, LIMIT_WINDOWS_MS, LimitName, LimitState
from domain.protection import (
    AccountFacts,
    deposit_refusal,
    reserve_refusal,
    withdrawal_refusal,
)
from storage.keys import acct_key
from storage.wallet import Wallet

NOW = ManualClock().now
NOW_MS = ms(NOW)
_ids = itertools.count()

# round values often, so that sums land exactly on a limit (the boundary both must agree on)
ROUND = st.sampled_from([100, 500, 1000, 1500])
CENTS = st.one_of(ROUND, st.integers(min_value=1, max_value=50_000))
LIMIT = st.one_of(st.none(), ROUND, st.integers(min_value=1, max_value=60_000))
# a limit as stored: a value, maybe an increase that waits (or already came into force)
LIMIT_STATE = st.builds(
    lambda current, pending, at: LimitState(current, pending if at is not None else None, at),
    LIMIT, LIMIT, st.one_of(st.none(), st.integers(NOW_MS - DAY_MS, NOW_MS + DAY_MS)))
FACTS = st.builds(
    AccountFacts,
    status=st.sampled_from(["open", "open", "open", "closed"]),
    kyc=st.sampled_from(["verified", "verified", "verified", "pending", "rejected"]),
    jurisdiction=st.sampled_from(["GB", "AU", "DE"]),
    excluded_until_ms=st.sampled_from([0, 0, 0, NOW_MS - 1, NOW_MS + 1]),
    limits=st.dictionaries(st.sampled_from(list(LimitName)), LIMIT_STATE, max_size=5),
)
# past movements in a rolling window: (age in ms, cents); some fall outside the window
HISTORY = st.lists(st.tuples(st.integers(0, 40 * DAY_MS), CENTS), max_size=6)


@pytest.fixture()
def run() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def _write(client: aioredis.Redis, facts: AccountFacts, available: int,
                 losses: list[tuple[int, int]], deposits: list[tuple[int, int]]) -> str:
    """Store ``facts`` as the scripts read them; returns the account id."""
    account = f"c{next(_ids)}"
    await client.hset(acct_key(account, "acct"), mapping={  # type: ignore[misc]
        "status": facts.status, "kyc": facts.kyc, "jur": facts.jurisdiction,
        "excl_until": str(facts.excluded_until_ms)})
    fields: dict[str, str] = {}
    for name, state in facts.limits.items():
        if state.current is not None:
            fields[name.value] = str(state.current)
        if state.pending_at_ms is not None:
            fields[f"{name.value}:next"] = "none" if state.pending is None else str(state.pending)
            fields[f"{name.value}:next_at"] = str(state.pending_at_ms)
    if fields:
        await client.hset(acct_key(account, "limits"), mapping=fields)  # type: ignore[misc]
    await client.hset(acct_key(account, "bal"), "player:available", str(available))  # type: ignore[misc]
    for key, rows in (("loss", losses), ("deposits", deposits)):
        for i, (age, cents) in enumerate(rows):
            await client.zadd(acct_key(account, key), {f"+|old{i}|{cents}": NOW_MS - age})
    return account


def _in_window(rows: list[tuple[int, int]], window_ms: int) -> int:
    # the scripts count entries strictly inside (now - window, now]
    return sum(cents for age, cents in rows if age < window_ms)


def _code(outcome: object) -> str | None:
    return outcome.code if isinstance(outcome, WalletError) else None


async def _attempt(coro: object) -> object:
    try:
        return await coro  # type: ignore[misc]
    except WalletError as exc:
        return exc


SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(facts=FACTS, amount=CENTS, available=st.one_of(ROUND, st.integers(0, 60_000)),
       losses=HISTORY,
       product=st.sampled_from(list(Product)))
def test_reserve_script_agrees_with_the_python_rule(
        redis_url: str, run: asyncio.AbstractEventLoop, facts: AccountFacts, amount: int,
        available: int, losses: list[tuple[int, int]], product: Product) -> None:
    async def check() -> None:
        client = aioredis.from_url(redis_url)
        wallet = Wallet(client, clock=lambda: NOW)
        account = await _write(client, facts, available, losses, [])
        got = await _attempt(wallet.reserve(account, "bet-1", Decimal(amount) / 100, product))
        lost = _in_window(losses, LIMIT_WINDOWS_MS[LimitName.LOSS_DAILY])
        expected = reserve_refusal(facts, amount=amount, product=product, now_ms=NOW_MS,
                                   lost_in_window=lost, available=available)
        assert _code(got) == expected, (facts, amount, available, lost, product)
        if expected is None:
            balance = await wallet.balance(account)
            assert balance.reserved == Decimal(amount) / 100
            assert balance.available == Decimal(available - amount) / 100
        await client.aclose()

    run.run_until_complete(check())


@SETTINGS
@given(facts=FACTS, amount=CENTS, deposits=HISTORY,
       method=st.sampled_from(list(PaymentMethod)))
def test_deposit_script_agrees_with_the_python_rule(
        redis_url: str, run: asyncio.AbstractEventLoop, facts: AccountFacts, amount: int,
        deposits: list[tuple[int, int]], method: PaymentMethod) -> None:
    async def check() -> None:
        client = aioredis.from_url(redis_url)
        wallet = Wallet(client, clock=lambda: NOW)
        account = await _write(client, facts, 0, [], deposits)
        got = await _attempt(wallet.deposit(account, "dep-1", Decimal(amount) / 100, method))
        windows = {name: _in_window(deposits, LIMIT_WINDOWS_MS[name]) for name in DEPOSIT_LIMITS}
        expected = deposit_refusal(facts, amount=amount, method=method, now_ms=NOW_MS,
                                   deposited_in_windows=windows)
        assert _code(got) == expected, (facts, amount, windows, method)
        await client.aclose()

    run.run_until_complete(check())


@SETTINGS
@given(facts=FACTS, amount=CENTS, available=st.integers(0, 60_000), exists=st.booleans())
def test_withdraw_script_agrees_with_the_python_rule(
        redis_url: str, run: asyncio.AbstractEventLoop, facts: AccountFacts, amount: int,
        available: int, exists: bool) -> None:
    async def check() -> None:
        client = aioredis.from_url(redis_url)
        wallet = Wallet(client, clock=lambda: NOW)
        account = await _write(client, facts, available, [], []) if exists else "nobody"
        got = await _attempt(wallet.withdraw(account, "wd-1", Decimal(amount) / 100))
        expected = withdrawal_refusal(facts if exists else None, amount=amount,
                                      available=available)
        assert _code(got) == expected, (facts, amount, available, exists)
        await client.aclose()

    run.run_until_complete(check())
