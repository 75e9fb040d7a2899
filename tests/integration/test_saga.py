"""The bet saga and its sweeper against a real event actor (Ray) and a real server.

The sweeper tests stage the crashes the saga must survive: a replica that died after
reserving (the bet never reached the actor), and one that died after the actor accepted
(the stake was never committed).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import ray

from actors.event_actor import ActorConfig, actor_name
from actors.registry import EventClient, EventRegistry
from actors.saga import BetSaga, SagaConfig
from actors.sweeper import SagaSweeper, SweeperConfig
from domain.bets import PlaceBet, bet_id_for
from domain.errors import Overloaded
from domain.events import OddsPolicy
from domain.identity import Argon2Params, PasswordHasher
from domain.ledger import LedgerAccount
from storage.accounts import Accounts
from storage.redis_client import async_client
from storage.wallet import Wallet, WalletConfig
from tests.support.factories import match_winner_event, outcome, record

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]



class World:
    def __init__(self, url: str) -> None:
        self.url = url
        wallet = WalletConfig(rate_limit_per_s=1000, rate_limit_burst=1000)
        self.sweeper_config = SweeperConfig(ActorConfig(redis_url=url), wallet, stale_s=0.2)
        self.client = async_client(url)
        self.wallet = Wallet(self.client, wallet)
        self.accounts = Accounts(self.client, hasher=PasswordHasher(
            Argon2Params(time_cost=1, memory_kib=1024)))
        self.registry = EventRegistry(ActorConfig(redis_url=url))
        self.saga = BetSaga(self.wallet, self.registry, SagaConfig(resolve_deadline_s=3))
        self.event_id = f"saga-{os.getpid()}-{time.monotonic_ns() % 10**9}"

    async def player(self, funds: str = "100") -> str:
        account = await self.accounts.register(
            f"u{time.monotonic_ns() % 10**12}", "correct horse", "GB", "1990-01-01")
        await self.accounts.decide_kyc(account.account_id, "verified", "test", "op")
        await self.wallet.deposit(account.account_id, "d1", funds)
        return account.account_id

    def bet(self, account_id: str, key: str, stake: str = "10") -> PlaceBet:
        return PlaceBet(bet_id_for(account_id, key), account_id, "mw", "home", Decimal(stake),
                        Decimal("2.50"), OddsPolicy.NONE)


@pytest.fixture()
async def world(redis_url: str) -> AsyncIterator[World]:
    w = World(redis_url)
    handle = await w.registry.get(w.event_id, create=True)
    await handle.create_event(match_winner_event(w.event_id))
    yield w
    ray.kill(ray.get_actor(actor_name(w.event_id), namespace="inplay"))
    await w.client.aclose()


async def test_saga_commits_accepted_and_releases_rejected_stakes(world: World) -> None:
    acct = await world.player("100")
    accepted, rejected = map(record, await asyncio.gather(
        world.saga.place(world.bet(acct, "k1"), "sport_prematch", world.event_id),
        world.saga.place(PlaceBet(bet_id_for(acct, "k2"), acct, "mw", "home", Decimal("10"),
                                  Decimal("2.40"), OddsPolicy.NONE),
                         "sport_prematch", world.event_id)))
    assert accepted["status"] == "accepted" and rejected["code"] == "PRICE_CHANGED"
    books = await world.wallet.books(acct)
    assert books[LedgerAccount.STAKES_HELD] == Decimal("10.00")
    assert books[LedgerAccount.AVAILABLE] == Decimal("90.00")
    assert books[LedgerAccount.RESERVED] == Decimal("0.00")
    # the same key again: the same bet, staked once
    again = record(await world.saga.place(world.bet(acct, "k1"), "sport_prematch",
                                          world.event_id))
    assert again["bet_id"] == accepted["bet_id"] and again["status"] == "accepted"
    assert (await world.wallet.books(acct))[LedgerAccount.STAKES_HELD] == Decimal("10.00")


async def test_sweeper_abandons_a_bet_that_never_reached_the_actor(world: World) -> None:
    acct = await world.player("100")
    cmd = world.bet(acct, "lost")
    # a replica reserved and wrote the bet reference, then died before the actor call
    await world.wallet.reserve_many(
        [(acct, cmd.bet_id, cmd.stake, "sport_prematch")], bets_for_event=world.event_id)
    assert (await world.wallet.balance(acct)).reserved == Decimal("10.00")
    await asyncio.sleep(0.3)
    sweeper = SagaSweeper(world.sweeper_config)
    assert await sweeper.sweep() == 1
    balance = await world.wallet.balance(acct)
    assert balance.reserved == Decimal("0.00") and balance.available == Decimal("100.00")
    # the request arrives late (it was stuck in a queue): it can no longer be taken
    handle = await world.registry.get(world.event_id)
    late = outcome((await handle.place_bets([cmd]))[0])
    assert late["status"] == "rejected" and late["code"] == "UNAVAILABLE"


async def test_sweeper_commits_a_bet_the_actor_accepted(world: World) -> None:
    acct = await world.player("100")
    cmd = world.bet(acct, "accepted-then-crash")
    await world.wallet.reserve_many(
        [(acct, cmd.bet_id, cmd.stake, "sport_prematch")], bets_for_event=world.event_id)
    handle = await world.registry.get(world.event_id)
    placed = outcome((await handle.place_bets([cmd]))[0])
    assert placed["status"] == "accepted"  # ... and the replica died before committing
    await asyncio.sleep(0.3)
    assert await SagaSweeper(world.sweeper_config).sweep() == 1
    books = await world.wallet.books(acct)
    assert books[LedgerAccount.STAKES_HELD] == Decimal("10.00")
    assert books[LedgerAccount.RESERVED] == Decimal("0.00")
    assert await world.wallet.stale_reservations(0, scan=True) == []


class _SlowFirstLookup:
    """The registry, but the first lookup takes ``delay`` s (a batch stuck in flight)."""

    def __init__(self, registry: EventRegistry, delay: float) -> None:
        self.registry, self.delay, self.calls = registry, delay, 0

    async def get(self, event_id: str) -> EventClient:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(self.delay)
        return await self.registry.get(event_id)

    def evict(self, event_id: str) -> None:
        self.registry.evict(event_id)


async def test_bets_that_waited_too_long_are_shed_before_any_money_moves(world: World) -> None:
    acct = await world.player("100")
    saga = BetSaga(world.wallet, _SlowFirstLookup(world.registry, 0.3),
                   SagaConfig(max_queue_s=0.1, max_batches_in_flight=1))
    first = asyncio.ensure_future(saga.place(world.bet(acct, "a"), "sport_prematch",
                                             world.event_id))
    await asyncio.sleep(0.01)  # the first batch is in flight (stuck in its lookup)
    waiting = [asyncio.ensure_future(saga.place(world.bet(acct, k), "sport_prematch",
                                                world.event_id)) for k in ("b", "c")]
    assert record(await first)["status"] == "accepted"
    for future in waiting:
        with pytest.raises(Overloaded) as refused:
            await future
        assert refused.value.facts["retry_after_s"] == 1
    assert saga.shed == 2
    # only the first stake moved; the shed bets are unknown to the wallet and the book
    assert (await world.wallet.balance(acct)).available == Decimal("90.00")
    handle = await world.registry.get(world.event_id)
    shed_ids = [(world.bet(acct, k).bet_id, acct) for k in ("b", "c")]
    assert all(outcome(r)["status"] == "rejected" for r in await handle.resolve(shed_ids))
    # a bet arriving once the queue is short again is taken
    assert record(await saga.place(world.bet(acct, "d"), "sport_prematch",
                                   world.event_id))["status"] == "accepted"
