"""The operator API (role ``operator``): events, statuses, odds, exposure, KYC, reviews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from domain import errors
from domain.clock import parse_rfc3339
from domain.events import EventStatus, MarketStatus
from domain.identity import KycStatus
from domain.settlement import MarketResult
from domain.views import EventView
from media.playlist import Tier
from serve_apps import docs
from serve_apps.deps import (
    audit_service,
    event_service,
    feed_publisher,
    feed_service,
    media_service,
    operator,
    review_service,
)
from serve_apps.models import (
    AuditOut,
    DelayIn,
    EventIn,
    EventOut,
    ExposureOut,
    FeedIn,
    FeedOut,
    KycDecisionIn,
    KycOut,
    MarketOfEventOut,
    MarketStatusIn,
    MediaTierIn,
    MediaTierOut,
    OddsIn,
    ResultIn,
    ResultOut,
    ReviewDecisionIn,
    ReviewDecisionOut,
    ReviewList,
    ScoreIn,
    SettlementOut,
    StatusIn,
    VoidWindowIn,
    VoidWindowOut,
    WindowRolledBackOut,
)
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import (
    AuditService,
    EventService,
    FeedService,
    MarketDefinition,
    MediaService,
    Principal,
    ReviewService,
    SelectionDefinition,
)
from serve_apps.views import (
    ack_body,
    event_body,
    exposure_body,
    json_response,
    market_body,
    review_body,
    settlement_body,
)

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


@router.post("/events/{event_id}/markets/{market_id}/delay", response_model=EventOut,
             responses=docs.responses(200, *_CHANGE, "UNKNOWN_MARKET", "INVALID_EVENT",
                                      "DELAY_TOO_SHORT", "MEDIA_UNAVAILABLE", ok=EventOut))
async def set_delay(body: DelayIn, event_id: str = _EVENT_ID, market_id: str = _MARKET_ID,
                    _: Principal = Depends(operator),
                    events: EventService = Depends(event_service),
                    media: MediaService = Depends(media_service)) -> Response:
    """A market's in-play delay: how long an in-play bet is held before it is re-checked.

    It can never be set at or below the glass-to-glass latency of the fastest video tier a
    bettor can watch for this event (measured live by the region's media actor): a bettor
    who sees the goal before the book does must not be able to bet on it. Such a change is
    409 ``DELAY_TOO_SHORT`` with the measured ``video_latency_ms``; nothing changes.
    """
    stats = await media.call("stats", event_id)
    view = await events.set_delay(event_id, market_id, body.in_play_delay_s,
                                  stats.get("fastest_tier_latency_ms"))
    return json_response(event_body(view))


@router.get("/events/{event_id}/exposure", response_model=ExposureOut,
            responses=docs.responses(200, *docs.ROLE, *docs.INVALID, "UNKNOWN_EVENT",
                                     "UNAVAILABLE", ok=ExposureOut))
async def exposure(event_id: str = _EVENT_ID, _: Principal = Depends(operator),
                   events: EventService = Depends(event_service)) -> Response:
    """Liability per market and selection (the book's net loss if it wins)."""
    return json_response(exposure_body(await events.exposure(event_id)))


# what a settlement step can answer besides its own refusals
_STEP = (*_CHANGE, "UNKNOWN_MARKET")
_WINDOW_ID = docs.path_id("window_id", "w1")


@router.post("/events/{event_id}/markets/{market_id}/result", status_code=202,
             response_model=ResultOut, responses=docs.responses(
                 202, *_STEP, "UNKNOWN_SELECTION", "MARKET_OPEN", "MARKET_CLOSED",
                 "RESULT_CONFLICT", "STALE_RESULT_VERSION", ok=ResultOut))
async def result(body: ResultIn, event_id: str = _EVENT_ID, market_id: str = _MARKET_ID,
                 _: Principal = Depends(operator),
                 events: EventService = Depends(event_service)) -> Response:
    """Post a market's result; it is settled from it (202: paying has begun).

    The market is closed first (with ``close``, the default: bets held in the in-play delay
    are rejected), the result is journaled, and a settlement actor pays every accepted bet.
    The same ``result_version`` again changes nothing; a correction carries a higher one
    and moves only each bet's difference; a lower or rolled-back version is
    ``STALE_RESULT_VERSION``, the same version with other content ``RESULT_CONFLICT``.
    """
    outcome = MarketResult(tuple(body.winners), body.void_factor, body.dead_heat_factor,
                           body.result_version)
    view = await events.result(event_id, market_id, outcome, body.close)
    return json_response(_step_body(view, market_id), 202)


def _step_body(view: EventView, market_id: str) -> dict[str, Any]:
    market = view.market(market_id)
    if market is None:  # the actor accepted the step, so the market is there
        raise errors.UnknownMarket(f"market {market_id} is not in event {view.event_id}")
    return {"event_id": view.event_id, "market_id": market_id,
            "result_version": market.result_version, "market_status": market.status.value}


@router.post("/events/{event_id}/markets/{market_id}/rollback", status_code=202,
             response_model=ResultOut, responses=docs.responses(
                 202, *docs.ROLE, *docs.INVALID, "UNKNOWN_EVENT", "UNKNOWN_MARKET",
                 "UNAVAILABLE", "NOTHING_TO_ROLL_BACK", ok=ResultOut))
async def rollback(event_id: str = _EVENT_ID, market_id: str = _MARKET_ID,
                   _: Principal = Depends(operator),
                   events: EventService = Depends(event_service)) -> Response:
    """Take back the market's result in force: every bet is unsettled again, and what it
    was paid is taken back (a debt where the player spent it; operators review debts).
    A later result needs a higher version."""
    return json_response(_step_body(await events.rollback(event_id, market_id), market_id),
                         202)


@router.post("/events/{event_id}/void-window", status_code=201, response_model=VoidWindowOut,
             responses=docs.responses(201, *_CHANGE, "UNKNOWN_MARKET", "INVALID_WINDOW",
                                      ok=VoidWindowOut))
async def void_window(body: VoidWindowIn, event_id: str = _EVENT_ID,
                      _: Principal = Depends(operator),
                      events: EventService = Depends(event_service)) -> Response:
    """Void the bets accepted in [start, end) — of one market, or of the event — settled
    ones too: each gets its stake back. The same window while in force changes nothing."""
    start, end = _instant(body.start), _instant(body.end)
    window_id = await events.void_window(event_id, start, end, body.market_id, body.reason)
    return json_response({"window_id": window_id, "event_id": event_id,
                          "market_id": body.market_id, "start": body.start, "end": body.end,
                          "reason": body.reason}, 201)


def _instant(text: str) -> float:
    moment = parse_rfc3339(text)
    if moment is None:  # the model checked it already
        raise errors.ValidationFailed(f"not an RFC 3339 time: {text}")
    return moment.timestamp()


@router.post("/events/{event_id}/void-window/{window_id}/rollback", status_code=202,
             response_model=WindowRolledBackOut, responses=docs.responses(
                 202, *docs.ROLE, *docs.INVALID, "UNKNOWN_EVENT", "UNKNOWN_WINDOW",
                 "UNAVAILABLE", ok=WindowRolledBackOut))
async def rollback_window(event_id: str = _EVENT_ID, window_id: str = _WINDOW_ID,
                          _: Principal = Depends(operator),
                          events: EventService = Depends(event_service)) -> Response:
    """Undo a void window: its bets count again (settled as their market's result says)."""
    await events.rollback_window(event_id, window_id)
    return json_response({"window_id": window_id, "event_id": event_id,
                          "status": "rolled_back"}, 202)


@router.get("/events/{event_id}/settlement", response_model=SettlementOut,
            responses=docs.responses(200, *docs.ROLE, *docs.INVALID, "UNKNOWN_EVENT",
                                     "UNAVAILABLE", ok=SettlementOut))
async def settlement(event_id: str = _EVENT_ID, _: Principal = Depends(operator),
                     events: EventService = Depends(event_service)) -> Response:
    """Per market: status, result versions, bets settled and pending, total stakes and
    returns, gross gaming revenue (stakes − returns)."""
    view, totals = await events.settlement_totals(event_id)
    return json_response(settlement_body(view, totals))


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


@router.post("/feed", response_model=FeedOut,
             responses=docs.responses(200, *docs.ROLE, *docs.BODY, "UNAVAILABLE", ok=FeedOut))
async def feed(body: FeedIn, who: Principal = Depends(feed_publisher),
               feed: FeedService | None = Depends(feed_service)) -> Response:
    """Feed messages over HTTP (role ``operator`` or ``feed``): what a provider sends over
    gRPC (``inplay.feed.v1.Feed``), as JSON. One ack per message, in order: ``applied``,
    ``duplicate`` (its ``seq`` is not above the last applied for the event) or ``refused``
    with a code (``INVALID_FEED_MESSAGE``, ``UNKNOWN_EVENT``, ``UNKNOWN_MARKET``, ...).
    A refused message changes nothing; the others still apply."""
    if feed is None:
        raise errors.Unavailable("the feed is not set up on this replica")
    provider = FeedService.provider_of(who, body.provider)
    acks = await feed.publish(provider, body.messages)
    return json_response({"acks": [ack_body(a) for a in acks]})
