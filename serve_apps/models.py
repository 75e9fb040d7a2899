"""Request and response models of the HTTP API, with strict bounds.

Money: a string or number with at most 2 decimal places, positive, bounded. Prices: on the
ladder. Identifiers: short, printable, no separators that keys use. Anything else is refused
with a problem+json before it reaches an actor or a script.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from actors.book_events import OddsPolicy
from actors.ladder import is_on_ladder, to_decimal

MAX_MONEY = Decimal("1000000.00")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _decimal(value: Any) -> Decimal:
    result = to_decimal(value)
    if result is None:
        raise ValueError("must be a decimal number")
    return result


def _bounded_money(limit: Decimal) -> Any:
    def check(value: Decimal) -> Decimal:
        if value <= 0 or value > limit:
            raise ValueError(f"must be > 0 and <= {limit}")
        if int(value.as_tuple().exponent) < -2:
            raise ValueError("at most 2 decimal places")
        return value.quantize(Decimal("0.01"))

    return check


_money = _bounded_money(MAX_MONEY)


def _price(value: Decimal) -> Decimal:
    if not is_on_ladder(value):
        raise ValueError("not on the price ladder")
    return value


def _identifier(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("1-64 characters of letters, digits, '_', '.', ':' or '-'")
    return value


Money = Annotated[Decimal, BeforeValidator(_decimal), AfterValidator(_money)]
# a market's limits (liability, stake, payout) may be far larger than one player's money
LimitMoney = Annotated[Decimal, BeforeValidator(_decimal),
                       AfterValidator(_bounded_money(Decimal("10000000000.00")))]
Price = Annotated[Decimal, BeforeValidator(_decimal), AfterValidator(_price)]
Identifier = Annotated[str, AfterValidator(_identifier)]
Name = Annotated[str, Field(min_length=1, max_length=120)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------- accounts


class RegisterRequest(Strict):
    username: Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
    password: Annotated[str, Field(min_length=8, max_length=256)]
    jurisdiction: Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
    date_of_birth: date


class SessionRequest(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class LimitsRequest(Strict):
    deposit_daily: Money | None = None
    deposit_weekly: Money | None = None
    deposit_monthly: Money | None = None
    loss_daily: Money | None = None
    stake_max: Money | None = None


class SelfExclusionRequest(Strict):
    period: Literal["3m", "6m", "1y", "5y", "permanent"]


class DepositRequest(Strict):
    amount: Money
    method: Literal["bank_transfer", "debit_card", "e_wallet", "credit_card", "crypto"] = (
        "debit_card"
    )


class WithdrawalRequest(Strict):
    amount: Money


# ---------------------------------------------------------------- bets


class BetRequest(Strict):
    event_id: Identifier
    market_id: Identifier
    selection_id: Identifier
    stake: Money
    price: Price
    price_version: Annotated[int, Field(ge=1)] | None = None
    odds_change: OddsPolicy = OddsPolicy.NONE


# ---------------------------------------------------------------- operator


class SelectionIn(Strict):
    selection_id: Identifier | None = None
    name: Name
    price: Price


class MarketIn(Strict):
    market_id: Identifier | None = None
    name: Name
    selections: Annotated[list[SelectionIn], Field(min_length=2, max_length=64)]
    in_play_delay_s: Annotated[float, Field(ge=0, le=30)] | None = None
    max_liability: LimitMoney | None = None
    max_stake: LimitMoney | None = None
    max_payout: LimitMoney | None = None


class EventIn(Strict):
    event_id: Identifier | None = None
    name: Name
    sport: Annotated[str, Field(min_length=1, max_length=40)]
    starts_at: Annotated[str, Field(min_length=10, max_length=40)]
    markets: Annotated[list[MarketIn], Field(min_length=1, max_length=200)]


class StatusIn(Strict):
    status: Literal["in_play", "suspended", "scheduled", "closed"]


class MarketStatusIn(Strict):
    status: Literal["open", "suspended", "closed"]


class OddsIn(Strict):
    market_id: Identifier
    prices: Annotated[dict[Identifier, Price], Field(min_length=1, max_length=64)]


class ScoreIn(Strict):
    score: Annotated[str, Field(min_length=1, max_length=32)]


class KycDecisionIn(Strict):
    status: Literal["verified", "rejected"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ReviewDecisionIn(Strict):
    decision: Literal["approve", "reject"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class MediaTierIn(Strict):
    tier: Literal["webrtc", "ll-hls", "hls", "hls-delayed"]
