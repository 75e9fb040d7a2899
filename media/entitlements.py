"""Which tier an account may watch: a pure policy plus a Redis-backed store."""

from __future__ import annotations

from typing import Any

from media.playlist import Tier
from storage.keys import acct_key

# Tiers an entitlement level includes, fastest first.
_INCLUDES: dict[Tier, tuple[Tier, ...]] = {
    Tier.WEBRTC: (Tier.WEBRTC, Tier.LL_HLS, Tier.HLS, Tier.DELAYED),
    Tier.LL_HLS: (Tier.LL_HLS, Tier.HLS, Tier.DELAYED),
    Tier.HLS: (Tier.HLS, Tier.DELAYED),
    Tier.DELAYED: (Tier.DELAYED,),
}
DEFAULT_ENTITLEMENT = Tier.DELAYED


def tier_allowed(entitlement: Tier | None, requested: Tier) -> bool:
    """Whether an account entitled to `entitlement` may use `requested` (everyone: delayed)."""
    return requested in _INCLUDES[entitlement or DEFAULT_ENTITLEMENT]


class EntitlementStore:
    """Reads and writes per-account media entitlements in Redis (redis.asyncio client)."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    async def get(self, account_id: str) -> Tier:
        """The account's entitlement (the default when none is stored or it is unknown)."""
        raw = await self._redis.get(acct_key(account_id, "media_tier"))
        if raw is None:
            return DEFAULT_ENTITLEMENT
        value = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            return Tier(value)
        except ValueError:
            return DEFAULT_ENTITLEMENT

    async def set(self, account_id: str, tier: Tier) -> None:
        """Grant an entitlement."""
        await self._redis.set(acct_key(account_id, "media_tier"), tier.value)

    async def allows(self, account_id: str, requested: Tier) -> bool:
        """Whether the account may use the requested tier now."""
        return tier_allowed(await self.get(account_id), requested)
