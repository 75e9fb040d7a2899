"""What happens to an event book, as frozen past-tense facts, and their journal encoding.

The journal stores each event as compact JSON ``{"t": <type>, ...fields}``; decimals travel
as strings so that nothing is ever a float. ``encode``/``decode`` are the only codec.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson


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
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


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

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        EventCreated, EventStatusChanged, ScoreChanged, MarketStatusChanged, OddsChanged,
        BetAccepted, BetHeld, BetRejected, BetAbandoned,
    )
}


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode(event: BookEvent) -> bytes:
    """Compact JSON with a type tag; dataclasses and enums are native to orjson."""
    return orjson.dumps({"t": type(event).__name__, "e": event}, default=_default)


def _terms(d: dict[str, Any]) -> BetTerms:
    return BetTerms(
        bet_id=d["bet_id"],
        account_id=d["account_id"],
        market_id=d["market_id"],
        selection_id=d["selection_id"],
        stake=Decimal(d["stake"]),
        price=Decimal(d["price"]),
        price_version=d["price_version"],
        policy=OddsPolicy(d["policy"]),
        fingerprint=d["fingerprint"],
        placed_at=d["placed_at"],
    )


def _market_spec(d: dict[str, Any]) -> MarketSpec:
    return MarketSpec(
        market_id=d["market_id"],
        name=d["name"],
        selections=tuple(
            SelectionSpec(s["selection_id"], s["name"], Decimal(s["price"]))
            for s in d["selections"]
        ),
        in_play_delay_s=float(d["in_play_delay_s"]),
        max_liability=Decimal(d["max_liability"]),
        max_stake=Decimal(d["max_stake"]),
        max_payout=Decimal(d["max_payout"]),
    )


def _decode_fields(cls: type[Any], d: dict[str, Any]) -> Any:
    if cls is EventCreated:
        return EventCreated(
            d["event_id"], d["name"], d["sport"], d["starts_at"],
            tuple(_market_spec(m) for m in d["markets"]), d["at"],
        )
    if cls is OddsChanged:
        prices = tuple((sel, Decimal(p)) for sel, p in d["prices"])
        return OddsChanged(d["market_id"], prices, d["version"], d["at"])
    if cls is BetAccepted:
        return BetAccepted(_terms(d["terms"]), Decimal(d["price"]), d["version"], d["at"])
    if cls is BetHeld:
        return BetHeld(
            _terms(d["terms"]), d["accept_after"], d["score"], d["suspensions"], d["version"],
            d["at"],
        )
    if cls is BetRejected:
        return BetRejected(_terms(d["terms"]), d["code"], d["detail"], d["extra"], d["at"])
    if cls is EventStatusChanged:
        return EventStatusChanged(EventStatus(d["status"]), d["at"])
    if cls is MarketStatusChanged:
        return MarketStatusChanged(d["market_id"], MarketStatus(d["status"]), d["version"], d["at"])
    return cls(**{f.name: d[f.name] for f in fields(cls)})


def decode(raw: bytes | str) -> BookEvent:
    """Inverse of ``encode``."""
    data = orjson.loads(raw)
    cls = _TYPES[data["t"]]
    result: BookEvent = _decode_fields(cls, data["e"])
    return result
