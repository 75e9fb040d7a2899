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

from domain.clock import parse_rfc3339
from domain.events import OddsPolicy
from domain.jurisdiction import ISO_3166_ALPHA2 as _ISO
from domain.jurisdiction import is_iso_country
from domain.ladder import is_on_ladder
from domain.money import to_decimal
from media.qos import TierStats
from serve_apps.docs import Problem
from serve_apps.services import MAX_KEY_LEN, MAX_SLIP_BETS

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


def _jurisdiction(value: str) -> str:
    code = value.upper()
    if not is_iso_country(code):
        raise ValueError("must be an assigned ISO 3166-1 alpha-2 country code")
    return code


def _rfc3339(value: str) -> str:
    if parse_rfc3339(value) is None:
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2026-11-27T15:00:00Z")
    return value


Jurisdiction = Annotated[str, Field(
    min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$",
    description="an assigned ISO 3166-1 alpha-2 country code (AU, GB, ...)",
    json_schema_extra={"enum": sorted(_ISO | {c.lower() for c in _ISO})}),
    AfterValidator(_jurisdiction)]
DateTime = Annotated[str, Field(min_length=20, max_length=40, json_schema_extra={
    "format": "date-time"}), AfterValidator(_rfc3339)]


def _iso_date(value: Any) -> Any:
    # pydantic alone would also take a number (seconds since 1970) or a date-time
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


BirthDate = Annotated[date, BeforeValidator(_iso_date)]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    """A model config adding request ``examples`` to the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class RegisterRequest(Strict):
    model_config = _examples({"username": "demo9", "password": "correct horse battery",
                              "jurisdiction": "GB", "date_of_birth": "1990-01-31"})

    username: Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
    password: Annotated[str, Field(min_length=8, max_length=256)]
    jurisdiction: Jurisdiction
    date_of_birth: BirthDate


class SessionRequest(Strict):
    model_config = _examples({"username": "demo9", "password": "correct horse battery"})

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class LimitsRequest(Strict):
    model_config = _examples({"deposit_daily": "100.00", "loss_daily": "50.00"})

    deposit_daily: Money | None = None
    deposit_weekly: Money | None = None
    deposit_monthly: Money | None = None
    loss_daily: Money | None = None
    stake_max: Money | None = None


class SelfExclusionRequest(Strict):
    model_config = _examples({"period": "6m"})

    period: Literal["3m", "6m", "1y", "5y", "permanent"]


class DepositRequest(Strict):
    model_config = _examples({"amount": "50.00", "method": "debit_card"})

    amount: Money
    method: Literal["bank_transfer", "debit_card", "e_wallet", "credit_card", "crypto"] = (
        "debit_card"
    )


class WithdrawalRequest(Strict):
    model_config = _examples({"amount": "20.00"})

    amount: Money


# ---------------------------------------------------------------- bets


class BetRequest(Strict):
    model_config = _examples({"event_id": "demo-match", "market_id": "mw",
                              "selection_id": "home", "stake": "10.00", "price": "2.50",
                              "odds_change": "any"})

    event_id: Identifier
    market_id: Identifier
    selection_id: Identifier
    stake: Money
    price: Price
    price_version: Annotated[int, Field(ge=1)] | None = None
    odds_change: OddsPolicy = OddsPolicy.NONE


class SlipBetRequest(BetRequest):
    """One bet of a slip: a ``BetRequest`` with its own idempotency key."""

    model_config = _examples({"idempotency_key": "slip-7-home", "event_id": "demo-match",
                              "market_id": "mw", "selection_id": "home", "stake": "10.00",
                              "price": "2.50", "odds_change": "any"})

    idempotency_key: Annotated[str, Field(
        min_length=1, max_length=MAX_KEY_LEN,
        description="1-64 printable characters, the rules of the Idempotency-Key header; "
                    "each bet of a slip needs its own")]


class BetSlipRequest(Strict):
    model_config = _examples({"bets": [
        {"idempotency_key": "slip-7-home", "event_id": "demo-match", "market_id": "mw",
         "selection_id": "home", "stake": "10.00", "price": "2.50", "odds_change": "any"},
        {"idempotency_key": "slip-7-away", "event_id": "demo-match", "market_id": "mw",
         "selection_id": "away", "stake": "5.00", "price": "3.00", "odds_change": "higher"}]})

    bets: Annotated[list[SlipBetRequest], Field(
        min_length=1, max_length=MAX_SLIP_BETS,
        description="single bets, each answered on its own, in this order; no two with "
                    "the same idempotency_key")]


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
    model_config = _examples({
        "event_id": "cup-final", "name": "Home v Away", "sport": "soccer",
        "starts_at": "2026-11-27T20:00:00Z", "markets": [{
            "market_id": "mw", "name": "Match winner", "in_play_delay_s": 5,
            "selections": [{"selection_id": "home", "name": "Home", "price": "2.50"},
                           {"selection_id": "draw", "name": "Draw", "price": "3.20"},
                           {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})

    event_id: Identifier | None = None
    name: Name
    sport: Annotated[str, Field(min_length=1, max_length=40)]
    starts_at: DateTime
    markets: Annotated[list[MarketIn], Field(min_length=1, max_length=200)]


class StatusIn(Strict):
    model_config = _examples({"status": "in_play"})

    status: Literal["in_play", "suspended", "scheduled", "closed"]


class MarketStatusIn(Strict):
    model_config = _examples({"status": "suspended"})

    status: Literal["open", "suspended", "closed"]


class DelayIn(Strict):
    model_config = _examples({"in_play_delay_s": 5})

    in_play_delay_s: Annotated[float, Field(ge=0, le=30, strict=True)]


class OddsIn(Strict):
    model_config = _examples({"market_id": "mw", "prices": {"home": "2.40", "away": "3.00"}})

    market_id: Identifier
    prices: Annotated[dict[Identifier, Price], Field(min_length=1, max_length=64)]


class ScoreIn(Strict):
    model_config = _examples({"score": "1-0"})

    score: Annotated[str, Field(min_length=1, max_length=32)]


def _void_factor(value: Any) -> Decimal:
    found = to_decimal(value)
    if found not in (Decimal(0), Decimal("0.5"), Decimal(1)):
        raise ValueError("void_factor must be 0, 0.5 or 1")
    return Decimal(0) if found == 0 else Decimal("0.5") if found == Decimal("0.5") else Decimal(1)


def _dead_heat(value: Any) -> Decimal:
    found = to_decimal(value)
    if found is None or not Decimal(0) < found <= Decimal(1):
        raise ValueError("dead_heat_factor must be above 0 and at most 1")
    return found


class ResultIn(Strict):
    """A market's result (Sportradar-style): the winners, and what share of every stake is
    void (0, 0.5 for an Asian-handicap quarter line, 1) or paid at a dead heat."""

    model_config = _examples({"winners": ["home"], "result_version": 1},
                             {"winners": ["home", "draw"], "dead_heat_factor": "0.5"},
                             {"winners": ["away"], "void_factor": "0.5", "result_version": 2},
                             {"winners": [], "void_factor": 1})

    winners: Annotated[list[Identifier], Field(max_length=64)] = []
    void_factor: Annotated[Decimal, BeforeValidator(_void_factor), Field(
        json_schema_extra={"enum": [0, 0.5, 1, "0", "0.5", "1"]})] = Decimal(0)
    dead_heat_factor: Annotated[Decimal, BeforeValidator(_dead_heat), Field(
        description="the share of a winning stake paid when selections tie (1/2, 1/3, ...)"
    )] | None = None
    result_version: Annotated[int, Field(ge=1, le=1_000_000, description=(
        "1 for the first result; a correction carries a higher one"))] = 1
    close: bool = Field(default=True, description=(
        "close the market first if it is still open (false: refuse an open market)"))


class VoidWindowIn(Strict):
    """Void every bet accepted in [start, end) — of one market, or of the whole event."""

    model_config = _examples({"start": "2026-11-27T15:31:04Z", "end": "2026-11-27T15:31:09Z",
                              "reason": "goal before the bet stop", "market_id": "mw"})

    start: DateTime
    end: DateTime
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    market_id: Identifier | None = None


class KycDecisionIn(Strict):
    model_config = _examples({"status": "verified", "reason": "passport checked"})

    status: Literal["verified", "rejected"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ReviewDecisionIn(Strict):
    model_config = _examples({"decision": "approve", "reason": "source of funds checked"})

    decision: Literal["approve", "reject"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class MediaTierIn(Strict):
    model_config = _examples({"tier": "ll-hls"})

    tier: Literal["webrtc", "ll-hls", "hls", "hls-delayed"]


# ---------------------------------------------------------------- answers
# What the routes answer (``serve_apps.views`` builds these shapes; the OpenAPI document
# declares them, and the e2e suite validates real answers against the served schema).

MoneyText = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["10.00"])]
PriceText = Annotated[str, Field(pattern=r"^\d+\.\d{2}$", examples=["2.50"])]
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SettlementEntryOut(Out):
    """One settlement step of a bet: what it was due after it, and the money it moved."""

    step: str = Field(examples=["result v1"])
    result_version: int | None
    status: Literal["won", "lost", "void", "half_won", "half_lost", "cashed_out", "accepted"]
    payout: MoneyText
    moved: Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["25.00"])]
    at: Time


class CashoutStateOut(Out):
    """A bet's cash-out: pending (the in-play delay runs) or done."""

    status: Literal["pending", "cashed_out"]
    accept_after: Time | None = None
    amount: MoneyText | None = None
    price: PriceText | None = None
    price_version: int | None = None
    at: Time | None = None


class BetOut(Out):
    """A bet as the player sees it; fields beyond the common ones depend on ``status``."""

    bet_id: str
    event_id: str
    market_id: str | None
    selection_id: str | None
    status: Literal["pending", "accepted", "rejected", "won", "lost", "void", "half_won",
                    "half_lost", "cashed_out"]
    stake: MoneyText | None
    price: PriceText | None = Field(description="the accepted price (else the requested one)")
    requested_price: PriceText | None
    odds_change: OddsPolicy | None
    placed_at: Time | None
    payout: MoneyText | None = Field(description="settled: what it paid in all (stake "
                                                 "included); null while unsettled")
    settlements: list[SettlementEntryOut] = Field(
        description="every settlement step that changed the bet, oldest first")
    dead_heat: bool = Field(default=False, description="won at a dead-heat share")
    potential_payout: MoneyText | None = None
    cashout: CashoutStateOut | None = None
    accepted_at: Time | None = None
    price_version: int | None = None
    accept_after: Time | None = Field(default=None, description="pending: when it is decided")
    reason: str | None = Field(default=None, description="rejected: the refusal's code")
    detail: str | None = None


class BetList(Out):
    items: list[BetOut]
    next_cursor: int | None


class SlipResultOut(Out):
    """One bet of a slip: the status ``POST /v1/bets`` would have answered, and its body."""

    idempotency_key: str
    status: int = Field(description="201 accepted, 202 pending, or the refusal's status",
                        examples=[201])
    bet: BetOut | None = Field(default=None, description="201 and 202: the bet")
    problem: Problem | None = Field(default=None, description="a refusal: its problem")


class BetSlipOut(Out):
    results: list[SlipResultOut] = Field(description="one per bet, in the slip's order")


class SelectionOut(Out):
    selection_id: str
    name: str
    price: PriceText


class MarketOut(Out):
    market_id: str
    name: str
    status: Literal["open", "suspended", "closed", "settled", "voided"]
    version: int
    in_play_delay_s: float
    selections: list[SelectionOut]
    cause: str = Field(description="why the market is suspended (a bet stop's cause: "
                       "\"goal\", \"feed_lost\", \"event\", ...); \"\" otherwise")


class EventOut(Out):
    event_id: str
    name: str
    sport: str
    status: Literal["scheduled", "in_play", "suspended", "closed"]
    starts_at: str
    score: str
    markets: list[MarketOut]
    version: int = Field(description="the event's public version: one more for each change "
                         "a bettor can see; the odds stream's message id")


class EventSummaryOut(Out):
    event_id: str
    name: str
    sport: str
    status: Literal["scheduled", "in_play", "suspended", "closed"]
    starts_at: str


class MarketOfEventOut(MarketOut):
    event_id: str


class SelectionExposureOut(Out):
    selection_id: str
    price: PriceText
    payout_total: MoneyText
    liability: MoneyText


class MarketExposureOut(Out):
    market_id: str
    max_liability: MoneyText
    stakes_total: MoneyText
    worst_liability: MoneyText
    selections: list[SelectionExposureOut]


class ExposureOut(Out):
    event_id: str
    bets_accepted: int
    bets_pending: int
    markets: list[MarketExposureOut]


class RegisteredOut(Out):
    account_id: str
    kyc_status: Literal["pending", "verified", "rejected", "n/a"]


class SessionOut(Out):
    token: str
    expires_at: Time
    account_id: str
    role: Literal["player", "operator", "publisher", "feed"]


class LimitOut(Out):
    value: MoneyText | None
    pending: MoneyText | None
    pending_effective_at: Time | None


class ExclusionStateOut(Out):
    until: Time | None
    permanent: bool
    active: bool


class AccountOut(Out):
    account_id: str
    username: str
    role: Literal["player", "operator", "publisher", "feed"]
    jurisdiction: str
    status: Literal["open", "closed"]
    kyc_status: Literal["pending", "verified", "rejected", "n/a"]
    exclusion: ExclusionStateOut
    limits: dict[str, LimitOut]


class WalletOut(Out):
    balance: MoneyText
    reserved: MoneyText
    currency: str
    held_for_review: MoneyText
    debt: MoneyText


class ReceiptOut(Out):
    operation_id: str
    kind: str
    status: Literal["completed", "pending_review"]
    amount: MoneyText
    available: MoneyText
    at: Time
    replayed: bool


class LimitChangeOut(Out):
    limit: str
    value: MoneyText | None
    immediate: bool
    effective_at: Time


class LimitChangesOut(Out):
    changes: list[LimitChangeOut]


class ExclusionOut(Out):
    period: Literal["3m", "6m", "1y", "5y", "permanent"]
    until: Time | None
    permanent: bool


class StatementOut(Out):
    month: str
    currency: str
    deposits: MoneyText
    withdrawals: MoneyText
    stakes: MoneyText
    returns: MoneyText
    net_result: MoneyText
    opening_balance: MoneyText
    closing_balance: MoneyText
    entries: int


class ReviewOut(Out):
    review_id: str
    kind: Literal["kyc", "deposit", "withdrawal"]
    account_id: str
    op_id: str | None
    created_at: Time
    amount: MoneyText | None = None


class ReviewList(Out):
    items: list[ReviewOut]


class ReviewDecisionOut(Out):
    review_id: str
    decision: Literal["approve", "reject"]
    reason: str
    decided_by: str


class KycOut(Out):
    account_id: str
    kyc_status: Literal["pending", "verified", "rejected", "n/a"]
    reason: str


class MediaTierOut(Out):
    account_id: str
    tier: Literal["webrtc", "ll-hls", "hls", "hls-delayed"]


class ChainOut(Out):
    event_id: str
    entries: int


class AuditOut(Out):
    ok: bool
    checked: list[ChainOut]
    first_bad: str | None = None


class HealthOut(Out):
    status: Literal["ok"]
    checks: dict[str, str]


class LiveOut(Out):
    status: Literal["alive"]


class MediaStatsOut(Out):
    """A stream's quality per tier; ``live`` is false (and ``tiers`` empty) before it starts."""

    event_id: str
    live: bool
    tiers: dict[str, TierStats]  # what media.qos reports per tier
    relays: int | None = None
    codec_calls: int | None = None
    ingest_p95_ms: float | None = None
    fastest_tier_p95_ms: float | None = None
    fastest_tier_latency_ms: float | None = Field(
        default=None, description="the fastest tier's p95 latency: what the bet delay covers")


class ResultOut(Out):
    """The result is journaled and its market closed; settlement pays it (follow it with
    ``GET /v1/ops/events/{event_id}/settlement``)."""

    event_id: str
    market_id: str
    result_version: int | None
    market_status: Literal["open", "suspended", "closed", "settled", "voided"]


class VoidWindowOut(Out):
    window_id: str
    event_id: str
    market_id: str | None
    start: Time
    end: Time
    reason: str


class WindowRolledBackOut(Out):
    window_id: str
    event_id: str
    status: Literal["rolled_back"]


class MarketSettlementOut(Out):
    market_id: str
    status: Literal["open", "suspended", "closed", "settled", "voided"]
    result_version: int | None = Field(description="the result in force (null: none)")
    result_versions: list[int] = Field(description="every result version paid, in order")
    bets: int
    bets_settled: int
    bets_pending: int
    total_stakes: MoneyText
    total_returns: MoneyText
    gross_gaming_revenue: Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$")]


class SettlementOut(Out):
    event_id: str
    markets: list[MarketSettlementOut]


class CashoutIn(Strict):
    """Cash out at a quote (``quote_id``), or at an amount under a policy (none: exactly it,
    higher: at least it, any: whatever the book offers now)."""

    model_config = _examples({"quote_id": "q3.1425.1796180000000.3fa1c2d4e5b6"},
                             {"amount": "14.25", "odds_change": "higher"})

    quote_id: Annotated[str, Field(min_length=1, max_length=80,
                                   pattern=r"^q[0-9]+\.[0-9]+\.[0-9]+\.[0-9a-f]+$")] | None = None
    amount: Money | None = None
    odds_change: OddsPolicy = OddsPolicy.NONE


class QuoteOut(Out):
    quote_id: str
    bet_id: str
    amount: MoneyText
    price: PriceText = Field(description="the selection's price the bet is valued at")
    price_version: int
    expires_at: Time


# ---------------------------------------------------------------- the feed

MAX_FEED_MESSAGES = 1000


class FeedIn(Strict):
    """A provider's messages as ``domain.feed.parse`` takes them (docs/API.md, "Feed
    ingest"); each is checked on its own: a malformed one is acked ``refused``."""

    model_config = _examples({"messages": [
        {"kind": "bet_stop", "event_id": "demo-match", "seq": 41, "cause": "goal"},
        {"kind": "score", "event_id": "demo-match", "seq": 42, "score": "1-0"},
        {"kind": "odds_change", "event_id": "demo-match", "seq": 43, "market_id": "mw",
         "prices": {"home": "1.50", "draw": "4.00", "away": "7.00"}},
        {"kind": "bet_start", "event_id": "demo-match", "seq": 44},
        {"kind": "alive", "event_id": "", "seq": 9}]})

    provider: Identifier | None = Field(
        default=None, description="whom the messages speak for; the token's subject when left "
                                  "out (only an operator may name another provider)")
    messages: Annotated[list[dict[str, Any]],
                        Field(min_length=1, max_length=MAX_FEED_MESSAGES)]


class AckOut(Out):
    event_id: str
    seq: int
    status: Literal["applied", "duplicate", "refused"]
    code: str = Field(description="why it was refused (a code of the error table); \"\" else")
    detail: str
    version: int = Field(description="the event's public version after it (0: not known)")


class FeedOut(Out):
    acks: list[AckOut] = Field(description="one per message, in the order sent")
