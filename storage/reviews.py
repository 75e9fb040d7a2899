"""The operator review queue: KYC checks and held deposits/withdrawals awaiting a decision.

The decisions themselves (with reasons) are kept by the accounts and wallet scripts; this is
only the queue that lets an operator find what is waiting across accounts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

REVIEWS_KEY = "inplay:reviews"


def review_id(kind: str, account_id: str, op_id: str = "") -> str:
    return f"{kind}:{account_id}" + (f":{op_id}" if op_id else "")


class ReviewQueue:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def add(self, kind: str, account_id: str, op_id: str = "", **details: Any) -> str:
        rid = review_id(kind, account_id, op_id)
        item = {"review_id": rid, "kind": kind, "account_id": account_id, "op_id": op_id or None,
                "created_at": time.time(), **{k: str(v) for k, v in details.items()}}
        await cast(Awaitable[int], self.redis.hset(REVIEWS_KEY, rid, orjson.dumps(item).decode()))
        return rid

    async def list(self) -> list[dict[str, Any]]:
        raw = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(REVIEWS_KEY))
        return sorted((orjson.loads(v) for v in raw.values()), key=lambda r: r["created_at"])

    async def get(self, rid: str) -> dict[str, Any] | None:
        raw = await cast(Awaitable[bytes | None], self.redis.hget(REVIEWS_KEY, rid))
        return None if raw is None else dict(orjson.loads(raw))

    async def remove(self, rid: str) -> None:
        await cast(Awaitable[int], self.redis.hdel(REVIEWS_KEY, rid))
