"""What happens to an event book, as frozen past-tense facts (``domain.codec`` journals them)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PLAY = "in_play"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class MarketStatus(StrEnum):
    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"
    SETTLED = "settled"
    VOIDED = "voided"


class OddsPolicy(StrEnum):
    """What a bettor accepts if the price moved: nothing, a better price, or any price."""

    NONE = "none"
    HIGHER = "higher"
    ANY = "any"


class BetStatus(StrEnum):
    """A bet's status as the API shows it (the settlement statuses follow acceptance)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WON = "won"
    LOST = "lost"
    VOID = "void"
    HALF_WON = "half_won"
    HALF_LOST = "half_lost"
    CASHED_OUT = "cashed_out"


@dataclass(frozen=True, slots=True)
class SelectionSpec:
    selection_id: str
    name: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class MarketSpec:
    market_id: str
    name: str
    selections: tuple[SelectionSpec, ...]
    in_play_delay_s: float
    max_liability: Decimal
    max_stake: Decimal
    max_payout: Decimal


@dataclass(frozen=True, slots=True)
class EventCreated:
    event_id: str
    name: str
    sport: str
    starts_at: str
    markets: tuple[MarketSpec, ...]
    at: float


@dataclass(frozen=True, slots=True)
class EventStatusChanged:
    status: EventStatus
    at: float


@dataclass(frozen=True, slots=True)
class ScoreChanged:
    score: str
    at: float


@dataclass(frozen=True, slots=True)
class MarketStatusChanged:
    market_id: str
    status: MarketStatus
    version: int
    at: float
    cause: str = ""  # why (a feed's bet stop names its cause: "goal", "penalty", ...)


@dataclass(frozen=True, slots=True)
class OddsChanged:
    market_id: str
    prices: tuple[tuple[str, Decimal], ...]
    version: int
    at: float


@dataclass(frozen=True, slots=True)
class BetTerms:
    """What the bettor asked for; ``fingerprint`` identifies the request body."""

    bet_id: str
    account_id: str
    market_id: str
    selection_id: str
    stake: Decimal
    price: Decimal
    price_version: int | None
    policy: OddsPolicy
    fingerprint: str
    placed_at: float


@dataclass(frozen=True, slots=True)
class BetAccepted:
    terms: BetTerms
    price: Decimal
    version: int
    at: float


@dataclass(frozen=True, slots=True)
class BetHeld:
    """Held for the in-play delay; re-checked at ``accept_after`` against what it saw now."""

    terms: BetTerms
    accept_after: float
    score: str
    suspensions: int
    version: int
    at: float


@dataclass(frozen=True, slots=True)
class BetRejected:
    terms: BetTerms
    code: str
    detail: str
    extra: dict[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class BetAbandoned:
    """A saga that never completed: the bet id is closed so a late arrival cannot be taken."""

    bet_id: str
    account_id: str
    reason: str
    at: float


# ---------------------------------------------------------------- cash-out


@dataclass(frozen=True, slots=True)
class CashoutTerms:
    """What a bettor asked: cash out ``bet_id`` at a quote, or at ``amount`` under ``policy``.

    ``request_id`` comes from their Idempotency-Key; ``fingerprint`` identifies the body.
    """

    request_id: str
    bet_id: str
    account_id: str
    quote_id: str | None
    amount: Decimal | None
    policy: OddsPolicy
    fingerprint: str
    requested_at: float


@dataclass(frozen=True, slots=True)
class CashoutHeld:
    """Held for the in-play delay, like a bet; re-checked at ``accept_after``."""

    terms: CashoutTerms
    bet: BetAccepted
    accept_after: float
    score: str
    suspensions: int
    at: float


@dataclass(frozen=True, slots=True)
class BetCashedOut:
    """The bet is settled early for ``amount``, valued at ``price`` (market ``version``)."""

    terms: CashoutTerms
    bet: BetAccepted
    amount: Decimal
    price: Decimal
    version: int
    at: float


@dataclass(frozen=True, slots=True)
class CashoutRejected:
    terms: CashoutTerms
    code: str
    detail: str
    extra: dict[str, Any]
    at: float


# ---------------------------------------------------------------- settlement


@dataclass(frozen=True, slots=True)
class MarketResulted:
    """The result of a market, version ``version`` (a correction carries a higher one).

    ``winners``, ``void_factor`` and ``dead_heat_factor`` are those of
    ``domain.settlement.MarketResult``; the settlement actors pay every accepted bet of the
    market by it.
    """

    market_id: str
    version: int
    winners: tuple[str, ...]
    void_factor: Decimal
    dead_heat_factor: Decimal | None
    at: float


@dataclass(frozen=True, slots=True)
class MarketSettled:
    """Every bet of the market was paid under result ``version`` (settlement's report).

    ``digest`` is the sha256 of the bets' outcomes in journal order (``bet_id|status|payout``
    lines): anyone holding the journal can recompute the settlement and compare.
    """

    market_id: str
    version: int
    bets: int
    stakes: Decimal
    returns: Decimal
    digest: str
    at: float


@dataclass(frozen=True, slots=True)
class SettlementRolledBack:
    """Result ``version`` of the market is taken back: its bets are unsettled again."""

    market_id: str
    version: int
    at: float


@dataclass(frozen=True, slots=True)
class VoidWindowOpened:
    """Bets accepted in [``start``, ``end``) (of ``market_id``, or of every market) are void."""

    window_id: str
    start: float
    end: float
    market_id: str | None
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class VoidWindowRolledBack:
    """A void window is undone: its bets count again."""

    window_id: str
    at: float


@dataclass(frozen=True, slots=True)
class LiabilityReleased:
    """Bets left the book (voided) or came back (a window rolled back): the market's stakes
    and each selection's payouts change by these signed amounts (settlement's report)."""

    market_id: str
    cause: str
    stakes: Decimal
    payouts: tuple[tuple[str, Decimal], ...]
    at: float


# ---------------------------------------------------------------- the feed


@dataclass(frozen=True, slots=True)
class FeedSequence:
    """Feed messages of ``provider`` up to ``seq`` are applied (an older one is a duplicate)."""

    provider: str
    seq: int
    at: float


@dataclass(frozen=True, slots=True)
class FeedLost:
    """No ``alive`` from ``provider`` for too long: every market of the event is suspended."""

    provider: str
    silent_s: float
    at: float


@dataclass(frozen=True, slots=True)
class FeedRecovered:
    """``provider`` is heard again: markets suspended only by its loss re-open."""

    provider: str
    at: float


@dataclass(frozen=True, slots=True)
class MarketDelayChanged:
    """The in-play delay of a market (never below the fastest video tier's latency)."""

    market_id: str
    in_play_delay_s: float
    at: float


BookEvent = (
    EventCreated
    | EventStatusChanged
    | ScoreChanged
    | MarketStatusChanged
    | OddsChanged
    | BetAccepted
    | BetHeld
    | BetRejected
    | BetAbandoned
    | MarketResulted
    | MarketSettled
    | SettlementRolledBack
    | VoidWindowOpened
    | VoidWindowRolledBack
    | LiabilityReleased
    | CashoutHeld
    | BetCashedOut
    | CashoutRejected
    | FeedSequence
    | FeedLost
    | FeedRecovered
    | MarketDelayChanged
)
