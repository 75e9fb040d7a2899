"""The operator API (role ``operator``): events, statuses, odds, exposure, KYC, reviews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from domain import errors
from domain.events import EventStatus, MarketStatus
from domain.identity import KycStatus
from media.playlist import Tier
from serve_apps import docs
from serve_apps.deps import (
    audit_service,
    event_service,
    media_service,
    operator,
    review_service,
)
from serve_apps.models import (
    AuditOut,
    EventIn,
    EventOut,
    ExposureOut,
    KycDecisionIn,
    KycOut,
    MarketOfEventOut,
    MarketStatusIn,
    MediaTierIn,
    MediaTierOut,
    OddsIn,
    ReviewDecisionIn,
    ReviewDecisionOut,
    ReviewList,
    ScoreIn,
    StatusIn,
)
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import (
    AuditService,
    EventService,
    MarketDefinition,
    MediaService,
    Principal,
    ReviewService,
    SelectionDefinition,
)
from serve_apps.views import event_body, exposure_body, json_response, market_body, review_body

router = APIRouter(prefix="/v1/ops", tags=["operator"], route_class=AuthFirstRoute)
# what changing a live event can answer besides its own refusals (the actor may be away)
_CHANGE = (*docs.ROLE, *docs.BODY, "UNKNOWN_EVENT", "UNAVAILABLE")
_EVENT_ID = docs.path_id("event_id", "demo-match")
_MARKET_ID = docs.path_id("market_id", "mw")


@router.post("/events", status_code=201, response_model=EventOut,
             responses=docs.responses(201, *docs.ROLE, *docs.BODY, "EVENT_EXISTS", "INVALID_EVENT",
                                      "INVALID_ODDS", "UNAVAILABLE", ok=EventOut))
async def create_event(body: EventIn, _: Principal = Depends(operator),
                       events: EventService = Depends(event_service)) -> Response:
    """A new event, ``scheduled`` with its markets ``open`` (pre-match bets at once).

    Ids left out are filled in; markets without limits get the platform's defaults. The same
    definition again answers the event as it is; another one under the same id is 409
    ``EVENT_EXISTS``.
    """
    markets = [MarketDefinition(
        m.market_id, m.name,
        [SelectionDefinition(s.selection_id, s.name, s.price) for s in m.selections],
        m.in_play_delay_s, m.max_liability, m.max_stake, m.max_payout) for m in body.markets]
    view = await events.create(body.event_id, body.name, body.sport, body.starts_at, markets)
    return json_response(event_body(view), 201)


@router.post("/events/{event_id}/status", response_model=EventOut,
             responses=docs.responses(200, *_CHANGE, "INVALID_TRANSITION", ok=EventOut))
async def set_status(body: StatusIn, event_id: str = _EVENT_ID,
                     _: Principal = Depends(operator),
                     events: EventService = Depends(event_service)) -> Response:
    """``in_play`` | ``suspended`` | ``scheduled`` | ``closed``; suspension is immediate."""
    return json_response(event_body(await events.set_status(event_id,
                                                            EventStatus(body.status))))


@router.post("/events/{event_id}/odds", response_model=MarketOfEventOut,
             responses=docs.responses(200, *_CHANGE, "UNKNOWN_MARKET", "UNKNOWN_SELECTION",
                                      "MARKET_CLOSED", "INVALID_ODDS", ok=MarketOfEventOut))
async def set_odds(body: OddsIn, event_id: str = _EVENT_ID,
                   _: Principal = Depends(operator),
                   events: EventService = Depends(event_service)) -> Response:
    """New prices for a market; answers the market with its new version."""
    view = await events.change_odds(event_id, body.market_id, dict(body.prices))
    market = view.market(body.market_id)
    if market is None:  # the actor accepted it, so it is there
        raise errors.UnknownMarket(f"market {body.market_id} is not in event {event_id}")
    return json_response({"event_id": event_id, **market_body(market)})


@router.post("/events/{event_id}/score", response_model=EventOut,
             responses=docs.responses(200, *_CHANGE, "INVALID_EVENT", ok=EventOut))
async def set_score(body: ScoreIn, event_id: str = _EVENT_ID,
                    _: Principal = Depends(operator),
                    events: EventService = Depends(event_service)) -> Response:
    """The score (bets held in the in-play delay are rejected if it changes)."""
    return json_response(event_body(await events.set_score(event_id, body.score)))


@router.post("/events/{event_id}/markets/{market_id}/status", response_model=EventOut,
             responses=docs.responses(200, *_CHANGE, "UNKNOWN_MARKET", "INVALID_TRANSITION",
                                      ok=EventOut))
async def set_market_status(body: MarketStatusIn, event_id: str = _EVENT_ID,
                            market_id: str = _MARKET_ID,
                            _: Principal = Depends(operator),
                            events: EventService = Depends(event_service)) -> Response:
    """Suspend, re-open or close one market (a bet stop)."""
    view = await events.set_market_status(event_id, market_id, MarketStatus(body.status))
    return json_response(event_body(view))


@router.get("/events/{event_id}/exposure", response_model=ExposureOut,
            responses=docs.responses(200, *docs.ROLE, *docs.INVALID, "UNKNOWN_EVENT",
                                     "UNAVAILABLE", ok=ExposureOut))
async def exposure(event_id: str = _EVENT_ID, _: Principal = Depends(operator),
                   events: EventService = Depends(event_service)) -> Response:
    """Liability per market and selection (the book's net loss if it wins)."""
    return json_response(exposure_body(await events.exposure(event_id)))


_SETTLEMENT = "settlement is not part of this release"
# answered 501 until settlement ships (no body is read: the contract's bodies are not final)
_NOT_YET: dict[str, Any] = {"status_code": 501, "response_class": Response,
                            "responses": docs.responses(*docs.ROLE, *docs.INVALID,
                                                        "NOT_IMPLEMENTED")}


@router.post("/events/{event_id}/markets/{market_id}/result", **_NOT_YET)
async def result(event_id: str = _EVENT_ID,
                 market_id: str = _MARKET_ID,
                 _: Principal = Depends(operator)) -> None:
    """Settle a market: not implemented yet (501 ``NOT_IMPLEMENTED``)."""
    raise errors.NotImplementedYet(_SETTLEMENT)


@router.post("/events/{event_id}/markets/{market_id}/rollback", **_NOT_YET)
async def rollback(event_id: str = _EVENT_ID,
                   market_id: str = _MARKET_ID,
                   _: Principal = Depends(operator)) -> None:
    """Reverse the last settlement: not implemented yet (501 ``NOT_IMPLEMENTED``)."""
    raise errors.NotImplementedYet(_SETTLEMENT)


@router.post("/events/{event_id}/void-window", **_NOT_YET)
async def void_window(event_id: str = _EVENT_ID,
                      _: Principal = Depends(operator)) -> None:
    """Void bets placed in a window: not implemented yet (501 ``NOT_IMPLEMENTED``)."""
    raise errors.NotImplementedYet(_SETTLEMENT)


@router.post("/accounts/{account_id}/kyc", response_model=KycOut,
             responses=docs.responses(200, *docs.ROLE, *docs.BODY, "UNKNOWN_ACCOUNT", ok=KycOut))
async def decide_kyc(body: KycDecisionIn, account_id: str = docs.path_id("account_id"),
                     who: Principal = Depends(operator),
                     reviews: ReviewService = Depends(review_service)) -> Response:
    """Verify or reject an account's identity, with the reason kept in its KYC log."""
    account = await reviews.decide_kyc(account_id, KycStatus(body.status), body.reason,
                                       who.account_id)
    return json_response({"account_id": account_id, "kyc_status": account.kyc_status.value,
                          "reason": account.kyc_reason})


@router.post("/accounts/{account_id}/media-tier", response_model=MediaTierOut,
             responses=docs.responses(200, *docs.ROLE, *docs.BODY, "UNKNOWN_ACCOUNT",
                                      ok=MediaTierOut))
async def set_media_tier(body: MediaTierIn, account_id: str = docs.path_id("account_id"),
                         _: Principal = Depends(operator),
                         media: MediaService = Depends(media_service)) -> Response:
    """The fastest video tier an account may watch (webrtc > ll-hls > hls > hls-delayed)."""
    await media.set_tier(account_id, Tier(body.tier))
    return json_response({"account_id": account_id, "tier": body.tier})


@router.get("/reviews", response_model=ReviewList,
            responses=docs.responses(200, *docs.ROLE, ok=ReviewList))
async def list_reviews(_: Principal = Depends(operator),
                       reviews: ReviewService = Depends(review_service)) -> Response:
    """Waiting KYC checks and held deposits/withdrawals, oldest first."""
    return json_response({"items": [review_body(r) for r in await reviews.waiting()]})


@router.post("/reviews/{review_id}", response_model=ReviewDecisionOut,
             responses=docs.responses(200, *docs.ROLE, *docs.BODY, "UNKNOWN_REVIEW",
                                      "UNKNOWN_OPERATION", "ALREADY_DECIDED",
                                      ok=ReviewDecisionOut))
async def decide_review(body: ReviewDecisionIn, review_id: str = docs.path_id("review_id"),
                        who: Principal = Depends(operator),
                        reviews: ReviewService = Depends(review_service)) -> Response:
    """Approve or reject a waiting item; the decision and its reason are recorded.

    The decision is recorded in the account before the item leaves the queue: repeating it
    is safe, deciding the other way afterwards is 409 ``ALREADY_DECIDED``.
    """
    await reviews.decide(review_id, body.decision == "approve", body.reason, who.account_id)
    return json_response({"review_id": review_id, "decision": body.decision,
                          "reason": body.reason, "decided_by": who.account_id})


@router.get("/audit/verify", response_model=AuditOut,
            responses=docs.responses(200, *docs.ROLE, ok=AuditOut))
async def verify_audit(_: Principal = Depends(operator),
                       audit: AuditService = Depends(audit_service)) -> Response:
    """Walk every event journal's hash chain; report the first broken record, if any."""
    check = await audit.verify()
    body = {"ok": check.ok,
            "checked": [{"event_id": e, "entries": n} for e, n in check.checked]}
    if check.first_bad is not None:
        body["first_bad"] = check.first_bad
    return json_response(body)
