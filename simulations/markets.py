"""A bettor population for tests and benchmarks: funded players and a market full of bets.

Everything goes through the real paths: accounts are registered and verified, money is
deposited by the wallet's scripts, and every bet is placed by the bet saga against the event
actor (reservation, group-committed decision, commit), so what settlement pays afterwards is
exactly what a live match would leave behind. Seeded: the same seed gives the same bets.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from decimal import Decimal

from actors.event_actor import ActorConfig
from actors.registry import EventClient, EventRegistry
from actors.saga import BetSaga, SagaConfig
from domain.bets import BetDecision, PlaceBet, bet_id_for
from domain.book import market_spec
from domain.events import BetAccepted, EventCreated, OddsPolicy
from domain.identity import Argon2Params, KycStatus, PasswordHasher
from storage.accounts import Accounts
from storage.catalog import Catalog
from storage.redis_client import async_client
from storage.wallet import Wallet, WalletConfig

PRICES = {"home": Decimal("2.50"), "draw": Decimal("3.20"), "away": Decimal("2.80")}


def three_way_event(event_id: str, max_liability: str = "1000000000",
                    markets: tuple[str, ...] = ("mw",)) -> EventCreated:
    """An event with three-way (home/draw/away) markets, generous limits."""
    limit = Decimal(max_liability)
    specs = tuple(market_spec(m, "Match winner", [(s, s.title(), p) for s, p in PRICES.items()],
                              in_play_delay_s=0, max_liability=limit, max_stake=limit,
                              max_payout=limit) for m in markets)
    return EventCreated(event_id, f"Match {event_id}", "soccer", "2026-12-01T15:00:00Z",
                        specs, 0.0)


@dataclass
class Population:
    """The players of a run (account ids) and the bets the book accepted."""

    event_id: str
    players: list[str]
    accepted: list[BetAccepted]
    client: EventClient
    wallet: Wallet

    @property
    def stakes(self) -> Decimal:
        return sum((b.terms.stake for b in self.accepted), Decimal("0.00"))


async def populate(redis_url: str, event_id: str, *, players: int, bets: int,
                   funds: str = "20000.00", seed: int = 7, chunk: int = 4000,
                   markets: tuple[str, ...] = ("mw",)) -> Population:
    """``players`` funded players place ``bets`` bets on the event's match winner markets
    (spread evenly over ``markets``).

    ``funds`` stays below the deposit review threshold (25,000.00: larger deposits wait for
    an operator); stakes are 1.00-50.00, so allow ~25.50 a bet per player on average.
    """
    client = async_client(redis_url, max_connections=64)
    wallet = Wallet(client, WalletConfig(rate_limit_per_s=1e9, rate_limit_burst=10**9))
    accounts = Accounts(client, hasher=PasswordHasher(Argon2Params(time_cost=1, memory_kib=1024)))
    registry = EventRegistry(ActorConfig(redis_url=redis_url))
    event = await registry.get(event_id, create=True)
    # listed like an event the operator API made (settlement's sweep walks the catalog)
    await Catalog(client).upsert(await event.create_event(
        three_way_event(event_id, markets=markets)))
    ids = await asyncio.gather(*(_player(accounts, wallet, f"{event_id}-p{i}", funds)
                                 for i in range(players)))
    saga = BetSaga(wallet, registry, SagaConfig(batch_max=512, max_pending=chunk * 2,
                                                max_queue_s=600))
    rng = random.Random(seed)
    accepted: list[BetAccepted] = []
    for start in range(0, bets, chunk):
        cmds = [_bet(rng, ids, event_id, n, markets[n % len(markets)])
                for n in range(start, min(bets, start + chunk))]
        # a refusal (funds, say) is part of a population too: it is simply not in the book
        decisions: list[BetDecision | BaseException] = await asyncio.gather(
            *(saga.place(c, "sport_prematch", event_id) for c in cmds), return_exceptions=True)
        accepted += [d for d in decisions if isinstance(d, BetAccepted)]
    return Population(event_id, list(ids), accepted, event, wallet)


async def _player(accounts: Accounts, wallet: Wallet, username: str, funds: str) -> str:
    account = await accounts.register(username, "correct horse", "GB", "1990-01-01")
    await accounts.decide_kyc(account.account_id, KycStatus.VERIFIED, "population", "sim")
    await wallet.deposit(account.account_id, "funds", funds)
    return account.account_id


def _bet(rng: random.Random, players: list[str], event_id: str, n: int, market: str
         ) -> PlaceBet:
    account = rng.choice(players)
    selection = rng.choice(list(PRICES))
    stake = Decimal(rng.randint(100, 5000)) / 100
    return PlaceBet(bet_id_for(account, f"{event_id}-{n}"), account, market, selection, stake,
                    PRICES[selection], OddsPolicy.NONE)
