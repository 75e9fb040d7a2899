"""Typed clients of the event actors, and a cached registry of them for long-lived callers.

Callers (API replicas, the sweeper, tests) see ``EventClient``: the event actor's methods as
typed coroutines, not a Ray handle with methods named by string. ``ray.get_actor`` is a
blocking GCS call: the registry runs it in a thread and caches the result; a client whose
actor died is evicted by the caller and looked up again next time.

A refusal raised inside the actor reaches the caller as Ray's ``RayTaskError`` that is also
an instance of the domain error; the HTTP edge unwraps it (``serve_apps.problems``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from actors.event_actor import (
    NAMESPACE,
    ActorConfig,
    CashoutRequest,
    actor_name,
    remote_event_actor,
)
from domain import errors
from domain.bets import PlaceBet
from domain.cashout import CashoutDecision, Quote
from domain.events import (
    EventCreated,
    EventStatus,
    LiabilityReleased,
    MarketSettled,
    MarketStatus,
)
from domain.feed import Ack, FeedMessage
from domain.settlement import MarketResult
from domain.views import EventView, ExposureView


@dataclass(frozen=True)
class EventClient:
    """What callers may ask of one event actor (``actors.event_actor.EventActor``)."""

    event_id: str
    handle: Any

    async def place_bets(self, bets: list[PlaceBet], fresh: list[str] | None = None
                         ) -> list[bytes | errors.DomainError]:
        """Each bet's encoded decision or structural refusal, in order, once journaled.
        ``fresh``: bets whose stake reservation was just made (``EventActor.place_bets``)."""
        result: list[bytes | errors.DomainError] = await self.handle.place_bets.remote(
            bets, fresh)
        return result

    async def resolve(self, items: list[tuple[str, str]]) -> list[bytes]:
        """The encoded decision of each (bet id, account id); undecided ones are abandoned."""
        result: list[bytes] = await self.handle.resolve.remote(items)
        return result

    async def create_event(self, spec: EventCreated) -> EventView:
        result: EventView = await self.handle.create_event.remote(spec)
        return result

    async def set_status(self, status: EventStatus) -> EventView:
        result: EventView = await self.handle.set_status.remote(status)
        return result

    async def set_market_status(self, market_id: str, status: MarketStatus) -> EventView:
        result: EventView = await self.handle.set_market_status.remote(market_id, status)
        return result

    async def change_odds(self, market_id: str, prices: dict[str, Decimal]) -> EventView:
        result: EventView = await self.handle.change_odds.remote(market_id, prices)
        return result

    async def set_score(self, score: str) -> EventView:
        result: EventView = await self.handle.set_score.remote(score)
        return result

    async def feed(self, messages: list[FeedMessage]) -> list[Ack]:
        result: list[Ack] = await self.handle.feed.remote(messages)
        return result

    async def set_delay(self, market_id: str, delay_s: float) -> EventView:
        result: EventView = await self.handle.set_delay.remote(market_id, delay_s)
        return result

    async def view(self) -> EventView:
        result: EventView = await self.handle.view.remote()
        return result

    async def exposure(self) -> ExposureView:
        result: ExposureView = await self.handle.exposure.remote()
        return result

    async def result_market(self, market_id: str, result: MarketResult, close: bool
                            ) -> EventView:
        """Close the market (``close``) and record its result; settlement pays it."""
        found: EventView = await self.handle.result_market.remote(market_id, result, close)
        return found

    async def rollback_market(self, market_id: str) -> EventView:
        found: EventView = await self.handle.rollback_market.remote(market_id)
        return found

    async def void_window(self, start: float, end: float, market_id: str | None,
                          reason: str) -> tuple[str, EventView]:
        """Open a void window; its id and the event after it."""
        found: tuple[str, EventView] = await self.handle.void_window.remote(
            start, end, market_id, reason)
        return found

    async def rollback_window(self, window_id: str) -> EventView:
        found: EventView = await self.handle.rollback_window.remote(window_id)
        return found

    async def settled(self, report: MarketSettled) -> None:
        """Settlement's report: a result version is paid in full."""
        await self.handle.settled.remote(report)

    async def release(self, report: LiabilityReleased) -> None:
        """Settlement's report: bets left (or came back to) the book."""
        await self.handle.release.remote(report)

    async def cashout_quote(self, req: CashoutRequest) -> Quote:
        found: Quote = await self.handle.cashout_quote.remote(req)
        return found

    async def cash_out(self, req: CashoutRequest) -> CashoutDecision:
        found: CashoutDecision = await self.handle.cash_out.remote(req)
        return found

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.handle.stats.remote()
        return result


class EventRegistry:
    """Event id → client; ``create=True`` makes the actor if it does not exist."""

    def __init__(self, config: ActorConfig) -> None:
        self.config = config
        self._clients: dict[str, EventClient] = {}

    async def get(self, event_id: str, create: bool = False) -> EventClient:
        client = self._clients.get(event_id)
        if client is not None:
            return client
        if create:
            handle = await asyncio.to_thread(remote_event_actor, event_id, self.config)
        else:
            handle = await asyncio.to_thread(_lookup, event_id)
        client = self._clients[event_id] = EventClient(event_id, handle)
        return client

    def evict(self, event_id: str) -> None:
        self._clients.pop(event_id, None)


def _lookup(event_id: str) -> Any:
    import ray

    try:
        return ray.get_actor(actor_name(event_id), namespace=NAMESPACE)
    except ValueError as exc:
        raise errors.UnknownEvent(f"event {event_id} does not exist") from exc
