"""The operator API (role ``operator``): events, statuses, odds, exposure, KYC, reviews."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from actors.book import market_spec
from actors.book_events import EventCreated
from serve_apps.deps import Principal, Services, operator, services
from serve_apps.models import (
    EventIn,
    KycDecisionIn,
    MarketStatusIn,
    MediaTierIn,
    OddsIn,
    ReviewDecisionIn,
    ScoreIn,
    StatusIn,
)
from serve_apps.problems import Problem
from storage.journal import ChainBroken, verify_chain
from storage.redis_client import sync_client
from storage.reviews import ReviewQueue, review_id

router = APIRouter(prefix="/v1/ops", tags=["operator"])


def event_spec(body: EventIn, svc: Services) -> EventCreated:
    """The event definition with ids filled in and the platform's default limits."""
    s = svc.settings
    event_id = body.event_id or f"ev-{secrets.token_hex(6)}"
    markets = []
    for m_index, market in enumerate(body.markets, start=1):
        selections = [
            (sel.selection_id or f"s{i}", sel.name, sel.price)
            for i, sel in enumerate(market.selections, start=1)
        ]
        markets.append(market_spec(
            market.market_id or f"m{m_index}", market.name, selections,
            in_play_delay_s=s.default_in_play_delay_s if market.in_play_delay_s is None
            else market.in_play_delay_s,
            max_liability=market.max_liability or s.default_max_liability,
            max_stake=market.max_stake or s.default_max_stake,
            max_payout=market.max_payout or s.default_max_payout))
    return EventCreated(event_id, body.name, body.sport, body.starts_at, tuple(markets), 0.0)


@router.post("/events", status_code=201)
async def create_event(body: EventIn, _: Principal = Depends(operator),
                       svc: Services = Depends(services)) -> JSONResponse:
    """A new event, ``scheduled`` with its markets ``open`` (pre-match bets at once)."""
    spec = event_spec(body, svc)
    handle = await svc.registry.get(spec.event_id, create=True)
    view: dict[str, Any] = await handle.create_event.remote(spec)
    await svc.catalog.upsert(view)
    return JSONResponse(view, status_code=201)


async def _changed(svc: Services, event_id: str, method: str, *args: Any) -> dict[str, Any]:
    handle = await svc.registry.get(event_id)
    view: dict[str, Any] = await getattr(handle, method).remote(*args)
    await svc.catalog.upsert(view)
    return view


@router.post("/events/{event_id}/status")
async def set_status(event_id: str, body: StatusIn, _: Principal = Depends(operator),
                     svc: Services = Depends(services)) -> dict[str, Any]:
    """``in_play`` | ``suspended`` | ``scheduled`` | ``closed``; suspension is immediate."""
    return await _changed(svc, event_id, "set_status", body.status)


@router.post("/events/{event_id}/odds")
async def set_odds(event_id: str, body: OddsIn, _: Principal = Depends(operator),
                   svc: Services = Depends(services)) -> dict[str, Any]:
    """New prices for a market; answers the market with its new version."""
    view = await _changed(svc, event_id, "change_odds", body.market_id, dict(body.prices))
    market = next(m for m in view["markets"] if m["market_id"] == body.market_id)
    return {"event_id": event_id, **market}


@router.post("/events/{event_id}/score")
async def set_score(event_id: str, body: ScoreIn, _: Principal = Depends(operator),
                    svc: Services = Depends(services)) -> dict[str, Any]:
    """The score (bets held in the in-play delay are rejected if it changes)."""
    return await _changed(svc, event_id, "set_score", body.score)


@router.post("/events/{event_id}/markets/{market_id}/status")
async def set_market_status(event_id: str, market_id: str, body: MarketStatusIn,
                            _: Principal = Depends(operator),
                            svc: Services = Depends(services)) -> dict[str, Any]:
    """Suspend, re-open or close one market (a bet stop)."""
    return await _changed(svc, event_id, "set_market_status", market_id, body.status)


@router.get("/events/{event_id}/exposure")
async def exposure(event_id: str, _: Principal = Depends(operator),
                   svc: Services = Depends(services)) -> dict[str, Any]:
    """Liability per market and selection (the book's net loss if it wins)."""
    handle = await svc.registry.get(event_id)
    result: dict[str, Any] = await handle.exposure.remote()
    return result


_SETTLEMENT = "settlement is not part of this release (see the settlement issue)"


@router.post("/events/{event_id}/markets/{market_id}/result", status_code=501)
async def result(event_id: str, market_id: str, _: Principal = Depends(operator)) -> None:
    """Settle a market: not implemented yet (501 ``NOT_IMPLEMENTED``)."""
    raise Problem(501, "NOT_IMPLEMENTED", _SETTLEMENT)


@router.post("/events/{event_id}/markets/{market_id}/rollback", status_code=501)
async def rollback(event_id: str, market_id: str, _: Principal = Depends(operator)) -> None:
    """Reverse the last settlement: not implemented yet (501 ``NOT_IMPLEMENTED``)."""
    raise Problem(501, "NOT_IMPLEMENTED", _SETTLEMENT)


@router.post("/events/{event_id}/void-window", status_code=501)
async def void_window(event_id: str, _: Principal = Depends(operator)) -> None:
    """Void bets placed in a window: not implemented yet (501 ``NOT_IMPLEMENTED``)."""
    raise Problem(501, "NOT_IMPLEMENTED", _SETTLEMENT)


@router.post("/accounts/{account_id}/kyc")
async def decide_kyc(account_id: str, body: KycDecisionIn, who: Principal = Depends(operator),
                     svc: Services = Depends(services)) -> dict[str, Any]:
    """Verify or reject an account's identity, with the reason kept."""
    account = await svc.accounts.decide_kyc(account_id, body.status, body.reason, who.account_id)
    await ReviewQueue(svc.redis).remove(review_id("kyc", account_id))
    return {"account_id": account_id, "kyc_status": account.kyc_status.value,
            "reason": account.kyc_reason}


@router.post("/accounts/{account_id}/media-tier")
async def set_media_tier(account_id: str, body: MediaTierIn, _: Principal = Depends(operator),
                         svc: Services = Depends(services)) -> dict[str, Any]:
    """The fastest video tier an account may watch (webrtc > ll-hls > hls > hls-delayed)."""
    from media.entitlements import EntitlementStore
    from media.playlist import Tier

    await svc.accounts.get(account_id)  # 404 for an unknown account
    await EntitlementStore(svc.redis).set(account_id, Tier(body.tier))
    return {"account_id": account_id, "tier": body.tier}


@router.get("/reviews")
async def reviews(_: Principal = Depends(operator), svc: Services = Depends(services)
                  ) -> dict[str, Any]:
    """Waiting KYC checks and held deposits/withdrawals, oldest first."""
    return {"items": await ReviewQueue(svc.redis).list()}


@router.post("/reviews/{rid}")
async def decide_review(rid: str, body: ReviewDecisionIn, who: Principal = Depends(operator),
                        svc: Services = Depends(services)) -> dict[str, Any]:
    """Approve or reject a waiting item; the decision and its reason are recorded."""
    queue = ReviewQueue(svc.redis)
    item = await queue.get(rid)
    if item is None:
        raise Problem(404, "UNKNOWN_REVIEW", f"no review {rid}")
    approve = body.decision == "approve"
    account_id, op_id = item["account_id"], item.get("op_id") or ""
    if item["kind"] == "kyc":
        status = "verified" if approve else "rejected"
        await svc.accounts.decide_kyc(account_id, status, body.reason, who.account_id)
    elif item["kind"] == "deposit":
        decide = svc.wallet.approve_deposit if approve else svc.wallet.reject_deposit
        await decide(account_id, op_id, who.account_id, body.reason)
    else:
        decide = svc.wallet.approve_withdrawal if approve else svc.wallet.reject_withdrawal
        await decide(account_id, op_id, who.account_id, body.reason)
    await queue.remove(rid)
    return {"review_id": rid, "decision": body.decision, "reason": body.reason,
            "decided_by": who.account_id}


@router.get("/audit/verify")
async def verify_audit(_: Principal = Depends(operator), svc: Services = Depends(services)
                       ) -> dict[str, Any]:
    """Walk every event journal's hash chain; report the first broken record, if any."""
    events = await svc.catalog.list(include_closed=True)
    url = svc.settings.redis_url or ""

    def walk() -> dict[str, Any]:
        client = sync_client(url)
        checked = []
        for event in events:
            try:
                checked.append({"event_id": event["event_id"],
                                "entries": verify_chain(client, event["event_id"])})
            except ChainBroken as exc:
                return {"ok": False, "first_bad": str(exc), "checked": checked}
        return {"ok": True, "checked": checked}

    return await asyncio.to_thread(walk)
