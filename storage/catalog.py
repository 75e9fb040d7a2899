"""The event catalog: a small projection of every event for listings (``GET /v1/events``).

The event actor is the authority; the operator API writes the summary here after the actor
has confirmed a change, so a listing can be served without touching every actor.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import cast

import orjson
import redis.asyncio as aioredis

from domain.events import EventStatus
from domain.views import EventSummary, EventView
from storage.keys import CATALOG


class Catalog:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def upsert(self, view: EventView) -> None:
        summary = EventSummary.of(view)
        await cast(Awaitable[int], self.redis.hset(CATALOG, view.event_id,
                                                   orjson.dumps(summary).decode()))

    async def list(self, include_closed: bool = False) -> list[EventSummary]:
        raw = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(CATALOG))
        events = []
        for value in raw.values():
            item = orjson.loads(value)
            item["status"] = EventStatus(item["status"])
            events.append(EventSummary(**item))
        if not include_closed:
            events = [e for e in events if e.status is not EventStatus.CLOSED]
        return sorted(events, key=lambda e: (e.starts_at, e.event_id))

    async def exists(self, event_id: str) -> bool:
        return bool(await cast(Awaitable[int], self.redis.hexists(CATALOG, event_id)))
