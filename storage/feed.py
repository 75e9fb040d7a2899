"""What the feed adapter keeps in Redis: the events each provider has fed.

A provider's ``alive`` without an event id speaks for every event it feeds; the adapter
(``actors.feed``) remembers those events here so that its heartbeat still reaches them after
the adapter restarts. Everything else about the feed is the event actors' (their journal holds
each provider's last applied ``seq``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import cast

import redis.asyncio as aioredis

from storage.keys import feed_events_key


class FeedEvents:
    """provider → the ids of the events it has sent messages about."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def add(self, provider: str, event_ids: list[str]) -> None:
        if event_ids:
            await cast(Awaitable[int], self.redis.sadd(feed_events_key(provider), *event_ids))

    async def of(self, provider: str) -> set[str]:
        raw = await cast(Awaitable[set[bytes]], self.redis.smembers(feed_events_key(provider)))
        return {m.decode() for m in raw}

    async def forget(self, provider: str, event_ids: list[str]) -> None:
        """Events that are gone (closed, or never existed) leave the heartbeat's fan-out."""
        if event_ids:
            await cast(Awaitable[int], self.redis.srem(feed_events_key(provider), *event_ids))
