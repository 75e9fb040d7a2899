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
from collections.abc import Awaitable
from typing import Any, cast

from actors.event_actor import NAMESPACE, ActorConfig
from actors.registry import EventRegistry
from actors.saga import BetSaga
from cluster.config import Settings
from storage.redis_client import async_client
from storage.wallet import Reservation, Wallet, betref_key

log = logging.getLogger(__name__)

SWEEPER_NAME = "saga-sweeper"


class SagaSweeper:
    def __init__(self, settings: dict[str, Any], full_scan_every: int = 30) -> None:
        self.settings = Settings.model_validate(settings)
        url = self.settings.redis_url or ""
        self.wallet = Wallet(async_client(url, socket_timeout=10), self.settings)
        self.saga = BetSaga(self.wallet, EventRegistry(ActorConfig(redis_url=url)))
        self.full_scan_every = full_scan_every
        self.sweeps = 0
        self.resolved = 0
        self.last_error = ""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep(scan=self.sweeps % self.full_scan_every == 0)
                self.last_error = ""
            except Exception as exc:  # keep sweeping through outages
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("sweep failed: %s", self.last_error)
            self.sweeps += 1
            await asyncio.sleep(self.settings.sweep_interval_s)

    async def sweep(self, scan: bool = False) -> int:
        """One pass; returns how many reservations it resolved."""
        stale = await self.wallet.stale_reservations(self.settings.saga_stale_s, scan=scan)
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
        events = await cast(Awaitable[list[bytes | None]],
                            self.wallet.redis.hmget(betref_key(account_id), ids))
        by_event: dict[str, list[tuple[str, str]]] = defaultdict(list)
        orphans = []
        for reservation, event in zip(items, events, strict=True):
            if event is not None:
                by_event[event.decode()].append((reservation.op_id, account_id))
            elif reservation.product.startswith("sport"):
                orphans.append((account_id, reservation.op_id, "release"))
        done = 0
        if orphans:
            await self.wallet.resolve_many(orphans)
            done += len(orphans)
        for event_id, bets in by_event.items():
            records = await self.saga.finish(event_id, bets)
            done += sum(1 for r in records if r.get("status") in ("accepted", "rejected"))
        return done

    async def ping(self) -> bool:
        return not self._task.done()

    async def stats(self) -> dict[str, Any]:
        return {"sweeps": self.sweeps, "resolved": self.resolved, "last_error": self.last_error}


def start_sweeper(settings: Settings) -> Any:
    """The detached sweeper actor (get or create)."""
    import ray

    cls = ray.remote(SagaSweeper)
    return cls.options(
        name=SWEEPER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        max_restarts=-1, num_cpus=0,
    ).remote(settings.model_dump(mode="json"))
