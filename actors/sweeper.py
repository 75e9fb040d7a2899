"""The saga sweeper: finishes bet sagas that a crash (or an in-play delay) left half done.

Every ``sweep_interval_s`` it lists wallet reservations older than ``saga_stale_s`` (and, every
``full_scan_every`` sweeps, scans every account for reservations whose index entry was lost),
finds each bet's event through the account's bet references, and asks the event actor to
``resolve`` them: accepted → commit, rejected or abandoned → release, still pending → wait.
A reservation with no bet reference never reached an event actor and is released.

One named detached actor (``saga-sweeper``); everything it does is idempotent, so a second
sweeper, or a sweep racing a live saga, changes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from actors.event_actor import NAMESPACE, ActorConfig
from actors.registry import EventRegistry
from actors.saga import BetSaga
from domain.events import BetAbandoned, BetAccepted, BetRejected
from storage.bet_index import BetIndex
from storage.redis_client import async_client
from storage.wallet import Reservation, Wallet, WalletConfig

log = logging.getLogger(__name__)

SWEEPER_NAME = "saga-sweeper"


@dataclass(frozen=True)
class SweeperConfig:
    """What the sweeper needs: where Redis is, how the actors and wallet run, how often."""

    actor: ActorConfig
    wallet: WalletConfig = field(default_factory=WalletConfig)
    # a reservation older than this with no finished saga is resolved
    stale_s: float = 10.0
    interval_s: float = 1.0
    full_scan_every: int = 30


class SagaSweeper:
    """Finishes half-done sagas; see the module docstring."""

    def __init__(self, config: SweeperConfig) -> None:
        self.config = config
        client = async_client(config.actor.redis_url, socket_timeout=10)
        self.wallet = Wallet(client, config.wallet)
        self.bets = BetIndex(client)
        self.saga = BetSaga(self.wallet, EventRegistry(config.actor))
        self.sweeps = 0
        self.resolved = 0
        self.last_error = ""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep(scan=self.sweeps % self.config.full_scan_every == 0)
                self.last_error = ""
            except Exception as exc:  # keep sweeping through outages
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("sweep failed: %s", self.last_error)
            self.sweeps += 1
            await asyncio.sleep(self.config.interval_s)

    async def sweep(self, scan: bool = False) -> int:
        """One pass; returns how many reservations it resolved."""
        stale = await self.wallet.stale_reservations(self.config.stale_s, scan=scan)
        by_account: dict[str, list[Reservation]] = defaultdict(list)
        for reservation in stale:
            by_account[reservation.account_id].append(reservation)
        done = 0
        for account_id, items in by_account.items():
            done += await self._finish_account(account_id, items)
        self.resolved += done
        return done

    async def _finish_account(self, account_id: str, items: list[Reservation]) -> int:
        ids = [r.op_id for r in items]
        events = await self.bets.events_of(account_id, ids)
        by_event: dict[str, list[tuple[str, str]]] = defaultdict(list)
        orphans = []
        for reservation, event in zip(items, events, strict=True):
            if event is not None:
                by_event[event].append((reservation.op_id, account_id))
            elif reservation.product.startswith("sport"):
                orphans.append((account_id, reservation.op_id, "release"))
        done = 0
        if orphans:
            await self.wallet.resolve_many(orphans)
            done += len(orphans)
        for event_id, bets in by_event.items():
            decisions = await self.saga.finish(event_id, bets)
            done += sum(1 for d in decisions
                        if isinstance(d, BetAccepted | BetRejected | BetAbandoned))
        return done

    async def ping(self) -> bool:
        return not self._task.done()

    async def stats(self) -> dict[str, Any]:
        return {"sweeps": self.sweeps, "resolved": self.resolved, "last_error": self.last_error}


def start_sweeper(config: SweeperConfig) -> Any:
    """The detached sweeper actor (get or create)."""
    import ray

    cls = ray.remote(SagaSweeper)
    return cls.options(
        name=SWEEPER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        max_restarts=-1, num_cpus=0,
    ).remote(config)


async def sweeper_alive(timeout_s: float = 3.0) -> bool:
    """Whether the sweeper actor answers (the readiness check of the API)."""
    import ray

    handle = await asyncio.to_thread(ray.get_actor, SWEEPER_NAME, namespace=NAMESPACE)
    alive: bool = await asyncio.wait_for(handle.ping.remote(), timeout=timeout_s)
    return alive
