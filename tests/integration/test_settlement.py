"""Settlement against a real event actor (Ray), real settlement actors and a real server.

Every expectation is computed with ``domain.settlement.settle`` (exact fractions: the
oracle) from the bets the book accepted; the wallet's ledger must show each bet paid exactly
what it is due, once per step, and every account's books must balance.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, cast

import pytest
import ray
import redis

from actors.event_actor import ActorConfig, CashoutRequest, actor_name
from actors.settlement import SettlementActor, SettlementConfig, settlement_name
from domain import errors
from domain.events import BetCashedOut, EventStatus, MarketStatus, OddsPolicy
from domain.ledger import LedgerAccount
from domain.settlement import MarketResult, settle
from simulations.markets import Population, populate
from storage.keys import EventKeys, acct_key
from storage.settlement import SettlementStore

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]
D = Decimal


def _event_id(tag: str) -> str:
    return f"stl-{tag}-{os.getpid()}-{time.monotonic_ns() % 10**9}"


class Settling:
    """A populated market and a settlement actor of its own (pool of one)."""

    def __init__(self, redis_url: str, population: Population, batch: int = 500) -> None:
        self.url, self.p = redis_url, population
        self.config = SettlementConfig(ActorConfig(redis_url=redis_url), pool_size=1,
                                       batch=batch, sweep_interval_s=0.5)
        self.actor = self.start()
        self.store = SettlementStore(population.wallet.redis)

    def start(self) -> Any:
        return ray.remote(SettlementActor).options(
            name=settlement_name(0), namespace="inplay", get_if_exists=True, max_restarts=-1,
            num_cpus=0).remote(0, self.config)

    async def done(self, timeout_s: float = 60) -> None:
        """Until settlement has caught up with the journal's work."""
        deadline = time.monotonic() + timeout_s
        while True:
            progress = await self.actor.progress.remote(self.p.event_id)
            if progress["cursor"] >= progress["work"] and progress["work"] > 0:
                return
            assert time.monotonic() < deadline, f"settlement stuck: {progress}"
            await asyncio.sleep(0.1)

    async def settle(self) -> None:
        await self.actor.kick.remote(self.p.event_id)
        await self.done()

    async def payouts(self) -> dict[str, Decimal]:
        """Net settlement money per account, from the ledgers."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for account in self.p.players:
            for entry in await self.p.wallet.ledger(account):
                for posting in entry.postings:
                    if posting.source is LedgerAccount.PAYOUTS:
                        out[account] += D(posting.amount) / 100
                    elif posting.target is LedgerAccount.PAYOUTS:
                        out[account] -= D(posting.amount) / 100
        return out

    def expected(self, result: MarketResult | None,
                 voided: set[str] = frozenset()) -> dict[str, Decimal]:  # type: ignore[assignment]
        out: dict[str, Decimal] = defaultdict(Decimal)
        for bet in self.p.accepted:
            t = bet.terms
            if t.bet_id in voided:
                out[t.account_id] += t.stake
            elif result is not None:
                out[t.account_id] += settle(t.stake, bet.price, t.selection_id, result).payout
        return out

    async def balanced(self) -> None:
        for account in self.p.players:
            books = await self.p.wallet.books(account)
            assert sum(books.values()) == 0, account

    def close(self) -> None:
        ray.kill(self.actor)
        ray.kill(ray.get_actor(actor_name(self.p.event_id), namespace="inplay"))


@pytest.fixture()
async def market(redis_url: str) -> AsyncIterator[Settling]:
    # bets in small chunks: their acceptance times differ, so windows can split them
    population = await populate(redis_url, _event_id("m"), players=12, bets=400, chunk=50)
    settling = Settling(redis_url, population)
    yield settling
    settling.close()


def _same(a: dict[str, Decimal], b: dict[str, Decimal]) -> None:
    keys = set(a) | set(b)
    assert {k: a.get(k, D(0)) for k in keys} == {k: b.get(k, D(0)) for k in keys}


async def test_a_result_pays_every_bet_once_and_settles_the_market(market: Settling) -> None:
    p = market.p
    result = MarketResult(("home",))
    view = await p.client.result_market("mw", result, close=True)
    assert view.market("mw").status is MarketStatus.CLOSED  # type: ignore[union-attr]
    # no bet is taken once the result is in
    await market.actor.kick.remote(p.event_id)
    # the moment the book shows the market settled, settlement's totals count every bet
    deadline = time.monotonic() + 60
    while (await p.client.view()).market("mw").status is not MarketStatus.SETTLED:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    totals = (await market.store.totals(p.event_id))["mw"]
    assert (totals.bets, totals.settled, totals.versions) == (len(p.accepted),) * 2 + ([1],)
    await market.done()
    _same(await market.payouts(), market.expected(result))
    await market.balanced()
    view = await p.client.view()
    assert view.market("mw").status is MarketStatus.SETTLED  # type: ignore[union-attr]
    exposure = await p.client.exposure()
    assert exposure.markets[0].worst_liability == 0
    records = await market.store.records(p.event_id, [b.terms.bet_id for b in p.accepted])
    assert {r.status.value for r in records.values() if r.status} <= {"won", "lost"}
    assert len(records) == len(p.accepted)
    # everything replayed from the first entry changes nothing
    client = redis.Redis.from_url(market.url)
    client.delete(EventKeys(p.event_id).settle_cursor)
    await market.settle()
    _same(await market.payouts(), market.expected(result))
    assert (await market.store.totals(p.event_id))["mw"].versions == [1]  # not [1, 1]
    # the same result again is no new step; the result is journaled once
    assert await p.client.result_market("mw", result, close=True) is not None


async def test_corrections_move_only_the_difference_and_rollback_nets_out(
        market: Settling) -> None:
    p = market.p
    await p.client.result_market("mw", MarketResult(("home",), result_version=1), close=True)
    await market.settle()
    corrected = MarketResult(("away",), result_version=2)
    await p.client.result_market("mw", corrected, close=True)
    await market.settle()
    _same(await market.payouts(), market.expected(corrected))
    # a bet that changed carries both steps in its history
    home = next(b for b in p.accepted if b.terms.selection_id == "home")
    record = (await market.store.records(p.event_id, [home.terms.bet_id]))[home.terms.bet_id]
    assert [h[2] for h in record.history] == ["won", "lost"]
    assert record.history[-1][4] == -record.history[0][3]
    # rollback: as if never settled; the market is closed again, its exposure back
    await p.client.rollback_market("mw")
    await market.settle()
    _same(await market.payouts(), {})
    view = await p.client.view()
    assert view.market("mw").status is MarketStatus.CLOSED  # type: ignore[union-attr]
    # an old version is stale; a new one settles again: settle -> rollback -> settle = one
    with pytest.raises(errors.StaleResult):
        await p.client.result_market("mw", MarketResult(("home",), result_version=2), True)
    again = MarketResult(("draw",), result_version=3)
    await p.client.result_market("mw", again, close=True)
    await market.settle()
    _same(await market.payouts(), market.expected(again))
    await market.balanced()


async def test_void_windows_refund_their_bets_even_when_settled_and_can_be_undone(
        market: Settling) -> None:
    p = market.p
    times = sorted({b.at for b in p.accepted})
    start, end = times[len(times) // 4], times[len(times) // 2]
    inside = {b.terms.bet_id for b in p.accepted if start <= b.at < end}
    assert 0 < len(inside) < len(p.accepted)
    before = await p.client.exposure()
    window_id, _ = await p.client.void_window(start, end, "mw", "goal before the bet stop")
    await market.settle()
    _same(await market.payouts(), market.expected(None, inside))
    after = await p.client.exposure()
    voided_stakes = sum(b.terms.stake for b in p.accepted if b.terms.bet_id in inside)
    assert after.markets[0].stakes_total == before.markets[0].stakes_total - voided_stakes
    # the market's result leaves the window's bets void
    result = MarketResult(("home",))
    await p.client.result_market("mw", result, close=True)
    await market.settle()
    _same(await market.payouts(), market.expected(result, inside))
    # undo the window: its bets are paid by the result like the others
    await p.client.rollback_window(window_id)
    await market.settle()
    _same(await market.payouts(), market.expected(result))
    await market.balanced()


async def test_bad_input_is_refused_and_changes_nothing(market: Settling) -> None:
    p = market.p
    head = redis.Redis.from_url(market.url).hget(EventKeys(p.event_id).head, "seq")
    cases: list[tuple[type[errors.DomainError], Any]] = [
        (errors.UnknownSelection, p.client.result_market("mw", MarketResult(("nope",)), True)),
        (errors.UnknownMarket, p.client.result_market("zz", MarketResult(("home",)), True)),
        (errors.MarketOpen, p.client.result_market("mw", MarketResult(("home",)), False)),
        (errors.NothingToRollBack, p.client.rollback_market("mw")),
        (errors.InvalidWindow, p.client.void_window(10.0, 5.0, None, "backwards")),
        (errors.UnknownWindow, p.client.rollback_window("w99")),
    ]
    for error, call in cases:
        with pytest.raises(error):
            await call
    with pytest.raises(errors.ValidationFailed):
        MarketResult(("home",), void_factor=D("0.3"))
    with pytest.raises(errors.ValidationFailed):
        MarketResult(("home",), dead_heat_factor=D("1.5"))
    assert redis.Redis.from_url(market.url).hget(EventKeys(p.event_id).head, "seq") == head
    # and the book still takes bets: nothing was closed
    assert (await p.client.view()).status is EventStatus.SCHEDULED


@pytest.mark.timeout(900)  # 100,000 bets and their ledgers: ~3 minutes on a loaded machine
async def test_kill_9_of_the_settlement_actor_and_of_redis_pays_every_bet_once(
        own_redis: Any) -> None:
    # a market of 100,000 bets: the actor is killed at 30% of it, the server at 70%
    population = await populate(own_redis.url, _event_id("k"), players=250, bets=100_000)
    settling = Settling(own_redis.url, population, batch=1_000)
    try:
        result = MarketResult(("home", "away"), dead_heat_factor=D("0.5"))
        await population.client.result_market("mw", result, close=True)
        await settling.actor.kick.remote(population.event_id)
        store = settling.store

        async def wait_for_progress(done: int) -> bool:
            """Until ``done`` bets of the step are done; False if it finished first."""
            while True:
                cursor = await store.cursor(population.event_id)
                if cursor.done >= done:
                    return True
                if cursor.step == 0 and cursor.seq > 0:
                    return False
                await asyncio.sleep(0.02)

        assert await asyncio.wait_for(wait_for_progress(30_000), 60), "the kill came too late"
        ray.kill(settling.actor, no_restart=False)  # kill -9: Ray restarts it, it resumes
        assert await asyncio.wait_for(wait_for_progress(70_000), 90), "the kill came too late"
        own_redis.kill()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_redis.restart)
        await settling.done(timeout_s=120)
        _same(await settling.payouts(), settling.expected(result))
        await settling.balanced()
        # each winning bet moved money exactly once, by its own op id (bet, step)
        client = redis.Redis.from_url(own_redis.url)
        moved: dict[str, int] = {}
        for account in population.players:
            ops = cast(dict[bytes, bytes], client.hgetall(acct_key(account, "settled_ops")))
            for op, cents in ops.items():
                moved[op.decode()] = int(cents)
        winners = {b.terms.bet_id: b for b in population.accepted
                   if b.terms.selection_id in result.winners}
        assert {op.split(":")[1] for op in moved} == set(winners)
        assert len(moved) == len(winners)  # one op per bet: nothing paid twice
        for op_id, paid in moved.items():
            bet = winners[op_id.split(":")[1]]
            due = settle(bet.terms.stake, bet.price, bet.terms.selection_id, result).payout
            assert D(paid) / 100 == due, op_id
    finally:
        settling.close()



async def test_a_cash_out_is_paid_once_and_a_later_void_window_takes_it_back(
        market: Settling) -> None:
    p = market.p
    bet = p.accepted[0]
    t = bet.terms
    req = CashoutRequest(t.bet_id, t.account_id, "co-1", policy=OddsPolicy.ANY)
    offer = await p.client.cashout_quote(req)
    decision = await p.client.cash_out(req)
    assert isinstance(decision, BetCashedOut) and decision.amount == offer.amount
    assert await p.client.cash_out(req) == decision  # a retry: the same outcome
    with pytest.raises(errors.CashoutUnavailable):  # another request: it is gone
        await p.client.cash_out(CashoutRequest(t.bet_id, t.account_id, "co-2",
                                               policy=OddsPolicy.ANY))
    await market.settle()
    payouts = await market.payouts()
    assert payouts[t.account_id] == decision.amount
    # the market's result leaves the cashed-out bet alone
    result = MarketResult(("away",))
    await p.client.result_market("mw", result, close=True)
    await market.settle()
    expected = market.expected(result, voided=set())
    expected[t.account_id] += decision.amount - settle(t.stake, bet.price, t.selection_id,
                                                       result).payout
    _same(await market.payouts(), expected)
    # a void window over the bet (and those accepted with it): void wins over the cash-out
    # (the stake back, the cash-out amount taken back) and over the result
    await p.client.void_window(bet.at, bet.at + 0.000001, "mw", "courtsiding")
    await market.settle()
    voided = {b.terms.bet_id for b in p.accepted if b.at == bet.at}
    _same(await market.payouts(), market.expected(result, voided))
    record = (await market.store.records(p.event_id, [t.bet_id]))[t.bet_id]
    assert [h[2] for h in record.history] == ["cashed_out", "void"]
    await market.balanced()
