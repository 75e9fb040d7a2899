"""The operator review queue: KYC checks and held deposits/withdrawals awaiting a decision.

The decisions themselves (with reasons) are kept by the accounts and wallet scripts, in the
account's slot; this is only the queue that lets an operator find what is waiting across
accounts. An item leaves the queue after its decision is recorded, so a crash in between
leaves it listed, and deciding it again replays the recorded decision (idempotent).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import cast

import orjson
import redis.asyncio as aioredis

from storage.keys import REVIEW_QUEUE


class ReviewKind(StrEnum):
    KYC = "kyc"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    # a settlement correction took back more than the player had: the rest is their debt
    DEBT = "debt"
    # a settlement movement the wallet refused (e.g. an account since deleted)
    PAYMENT = "payment"


@dataclass(frozen=True)
class ReviewItem:
    """Something waiting for an operator's decision."""

    review_id: str
    kind: ReviewKind
    account_id: str
    op_id: str | None
    created_at: float
    amount: str | None = None


def review_id(kind: ReviewKind | str, account_id: str, op_id: str = "") -> str:
    return f"{kind}:{account_id}" + (f":{op_id}" if op_id else "")


class ReviewQueue:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def add(self, kind: ReviewKind, account_id: str, op_id: str = "",
                  amount: str | None = None) -> str:
        rid = review_id(kind, account_id, op_id)
        item = ReviewItem(rid, kind, account_id, op_id or None, time.time(), amount)
        await cast(Awaitable[int], self.redis.hset(REVIEW_QUEUE, rid,
                                                   orjson.dumps(asdict(item)).decode()))
        return rid

    async def list(self) -> list[ReviewItem]:
        raw = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(REVIEW_QUEUE))
        return sorted((_item(v) for v in raw.values()), key=lambda r: r.created_at)

    async def get(self, rid: str) -> ReviewItem | None:
        raw = await cast(Awaitable[bytes | None], self.redis.hget(REVIEW_QUEUE, rid))
        return None if raw is None else _item(raw)

    async def remove(self, rid: str) -> None:
        await cast(Awaitable[int], self.redis.hdel(REVIEW_QUEUE, rid))


def _item(raw: bytes) -> ReviewItem:
    data = orjson.loads(raw)
    return ReviewItem(data["review_id"], ReviewKind(data["kind"]), data["account_id"],
                      data.get("op_id") or None, float(data["created_at"]), data.get("amount"))
