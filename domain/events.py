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
)
