"""Redis clients for inplay: one place that builds them, with a fast command packer.

redis-py's asyncio connection packs commands in pure Python, which dominates a group commit
of hundreds of journal entries; hiredis (already our reply parser) packs them in C.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis


class FastPackConnection(aioredis.Connection):
    """An asyncio connection that packs commands with hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]


def async_client(url: str, **kwargs: Any) -> aioredis.Redis:
    """An asyncio client for ``url`` (``redis://:password@host:port/db``)."""
    pool = aioredis.ConnectionPool.from_url(
        url, connection_class=FastPackConnection, **kwargs
    )
    return aioredis.Redis(connection_pool=pool)


def sync_client(url: str, **kwargs: Any) -> redis.Redis:
    return redis.Redis.from_url(url, **kwargs)
