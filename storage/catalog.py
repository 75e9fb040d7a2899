"""The event catalog: a small projection of every event for listings (``GET /v1/events``).

The event actor is the authority; the operator API writes the summary here after the actor
has confirmed a change, so a listing can be served without touching every actor.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

CATALOG_KEY = "inplay:events"
SUMMARY_FIELDS = ("event_id", "name", "sport", "status", "starts_at")


class Catalog:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def upsert(self, view: dict[str, Any]) -> None:
        summary = {k: view[k] for k in SUMMARY_FIELDS}
        await cast(Awaitable[int], self.redis.hset(
            CATALOG_KEY, view["event_id"], orjson.dumps(summary).decode()))

    async def list(self, include_closed: bool = False) -> list[dict[str, Any]]:
        raw = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(CATALOG_KEY))
        events = [orjson.loads(v) for v in raw.values()]
        if not include_closed:
            events = [e for e in events if e["status"] != "closed"]
        return sorted(events, key=lambda e: (e["starts_at"], e["event_id"]))

    async def exists(self, event_id: str) -> bool:
        return bool(await cast(Awaitable[int], self.redis.hexists(CATALOG_KEY, event_id)))
