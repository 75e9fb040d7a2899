"""The betting error tree: raised by the domain, mapped to problem+json once, at the edge.

Every error has a stable machine ``code`` (the API contract), an HTTP ``status`` and extra
fields that help the client (the current price, a ``max_stake`` counter-offer, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar


class BettingError(Exception):
    """Base of every refusal the event book can give."""

    code: ClassVar[str] = "BETTING_ERROR"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Betting error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "detail": self.detail, **self.extra}


def _error(name: str, code: str, status: int, title: str) -> type[BettingError]:
    return type(name, (BettingError,), {"code": code, "status": status, "title": title})


UnknownEvent = _error("UnknownEvent", "UNKNOWN_EVENT", 404, "Unknown event")
UnknownMarket = _error("UnknownMarket", "UNKNOWN_MARKET", 404, "Unknown market")
UnknownSelection = _error("UnknownSelection", "UNKNOWN_SELECTION", 404, "Unknown selection")
MarketSuspended = _error("MarketSuspended", "MARKET_SUSPENDED", 423, "Market suspended")
MarketClosed = _error("MarketClosed", "MARKET_CLOSED", 409, "Market closed")
PriceChanged = _error("PriceChanged", "PRICE_CHANGED", 409, "Price changed")
ScoreChanged = _error("ScoreChanged", "SCORE_CHANGED", 409, "Score changed during the delay")
LiabilityLimit = _error("LiabilityLimit", "LIABILITY_LIMIT", 409, "Liability limit reached")
StakeAboveMax = _error("StakeAboveMax", "STAKE_ABOVE_MAX", 409, "Stake above the maximum")
PayoutAboveMax = _error("PayoutAboveMax", "PAYOUT_ABOVE_MAX", 409, "Payout above the maximum")
InvalidOdds = _error("InvalidOdds", "INVALID_ODDS", 422, "Price not on the ladder")
InvalidAmount = _error("InvalidAmount", "INVALID_AMOUNT", 422, "Invalid amount")
IdempotencyKeyReused = _error(
    "IdempotencyKeyReused", "IDEMPOTENCY_KEY_REUSED", 422, "Idempotency key reused"
)
EventExists = _error("EventExists", "EVENT_EXISTS", 409, "Event exists with another definition")
InvalidTransition = _error("InvalidTransition", "INVALID_TRANSITION", 409, "Invalid transition")
InvalidEvent = _error("InvalidEvent", "INVALID_EVENT", 422, "Invalid event definition")
Unavailable = _error("Unavailable", "UNAVAILABLE", 503, "Temporarily unavailable")
JurisdictionBlocked = _error(
    "JurisdictionBlocked", "JURISDICTION_BLOCKED", 403, "Not allowed in your jurisdiction"
)

ERRORS_BY_CODE: dict[str, type[BettingError]] = {
    cls.code: cls
    for cls in (
        UnknownEvent, UnknownMarket, UnknownSelection, MarketSuspended, MarketClosed,
        PriceChanged, ScoreChanged, LiabilityLimit, StakeAboveMax, PayoutAboveMax, InvalidOdds,
        InvalidAmount, IdempotencyKeyReused, EventExists, InvalidTransition, InvalidEvent,
        Unavailable, JurisdictionBlocked,
    )
}


def error_from_dict(data: dict[str, Any]) -> BettingError:
    """Rebuild an error from ``to_dict`` output (it crosses process boundaries as data)."""
    extra = {k: v for k, v in data.items() if k not in ("code", "status", "detail")}
    cls = ERRORS_BY_CODE.get(str(data.get("code")), BettingError)
    return cls(str(data.get("detail", "")), **extra)
