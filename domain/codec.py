"""The journal codec of book events: compact JSON ``{"t": <type>, "e": {...fields}}``.

Decimals travel as strings so that nothing is ever a float. ``encode``/``decode`` are the only
codec: the journal, the bet index, snapshots and the actor's answers all use them.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from domain.book import BookState, MarketState, SelectionState
from domain.events import (
    BetAbandoned,
    BetAccepted,
    BetCashedOut,
    BetHeld,
    BetRejected,
    BetTerms,
    BookEvent,
    CashoutHeld,
    CashoutRejected,
    CashoutTerms,
    EventCreated,
    EventStatus,
    EventStatusChanged,
    FeedLost,
    FeedRecovered,
    FeedSequence,
    LiabilityReleased,
    MarketDelayChanged,
    MarketResulted,
    MarketSettled,
    MarketSpec,
    MarketStatus,
    MarketStatusChanged,
    OddsChanged,
    OddsPolicy,
    ScoreChanged,
    SelectionSpec,
    SettlementRolledBack,
    VoidWindowOpened,
    VoidWindowRolledBack,
)

T = TypeVar("T")

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        EventCreated, EventStatusChanged, ScoreChanged, MarketStatusChanged, OddsChanged,
        BetAccepted, BetHeld, BetRejected, BetAbandoned, MarketResulted, MarketSettled,
        SettlementRolledBack, VoidWindowOpened, VoidWindowRolledBack, LiabilityReleased,
        CashoutHeld, BetCashedOut, CashoutRejected, FeedSequence, FeedLost, FeedRecovered,
        MarketDelayChanged,
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


def _accepted(d: dict[str, Any]) -> BetAccepted:
    return BetAccepted(_terms(d["terms"]), Decimal(d["price"]), d["version"], d["at"])


def _cashout_terms(d: dict[str, Any]) -> CashoutTerms:
    amount = d["amount"]
    return CashoutTerms(d["request_id"], d["bet_id"], d["account_id"], d["quote_id"],
                        None if amount is None else Decimal(amount), OddsPolicy(d["policy"]),
                        d["fingerprint"], d["requested_at"])


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
        return _accepted(d)
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
        return MarketStatusChanged(d["market_id"], MarketStatus(d["status"]), d["version"],
                                   d["at"], d.get("cause", ""))
    if cls is MarketResulted:
        dead_heat = d["dead_heat_factor"]
        return MarketResulted(d["market_id"], d["version"], tuple(d["winners"]),
                              Decimal(d["void_factor"]),
                              None if dead_heat is None else Decimal(dead_heat), d["at"])
    if cls is MarketSettled:
        return MarketSettled(d["market_id"], d["version"], d["bets"], Decimal(d["stakes"]),
                             Decimal(d["returns"]), d["digest"], d["at"])
    if cls is CashoutHeld:
        return CashoutHeld(_cashout_terms(d["terms"]), _accepted(d["bet"]), d["accept_after"],
                           d["score"], d["suspensions"], d["at"])
    if cls is BetCashedOut:
        return BetCashedOut(_cashout_terms(d["terms"]), _accepted(d["bet"]),
                            Decimal(d["amount"]), Decimal(d["price"]), d["version"], d["at"])
    if cls is CashoutRejected:
        return CashoutRejected(_cashout_terms(d["terms"]), d["code"], d["detail"], d["extra"],
                               d["at"])
    if cls is LiabilityReleased:
        return LiabilityReleased(d["market_id"], d["cause"], Decimal(d["stakes"]),
                                 tuple((s, Decimal(p)) for s, p in d["payouts"]), d["at"])
    return cls(**{f.name: d[f.name] for f in fields(cls)})


def decode(raw: bytes | str) -> BookEvent:
    """Inverse of ``encode``."""
    data = orjson.loads(raw)
    cls = _TYPES[data["t"]]
    result: BookEvent = _decode_fields(cls, data["e"])
    return result


# ---------------------------------------------------------------- snapshots


def state_to_dict(state: BookState) -> dict[str, Any]:
    """A JSON-ready snapshot of the whole in-memory state."""
    return {
        "event_id": state.event_id,
        "created": state.created,
        "name": state.name,
        "sport": state.sport,
        "starts_at": state.starts_at,
        "status": state.status.value,
        "score": state.score,
        "suspensions": state.suspensions,
        "bets_accepted": state.bets_accepted,
        "bets_rejected": state.bets_rejected,
        "markets": [_market_to_dict(m) for m in state.markets.values()],
        "held": [encode(h).decode() for h in state.held.values()],
        "windows": [encode(w).decode() for w in state.windows.values()],
        "held_cashouts": [encode(c).decode() for c in state.held_cashouts.values()],
        "windows_opened": state.windows_opened,
        "released": sorted(state.released),
        "version": state.version,
        "feed_seq": state.feed_seq,
        "feed_lost": sorted(state.feed_lost),
    }


def _market_to_dict(m: MarketState) -> dict[str, Any]:
    return {
        "market_id": m.market_id, "name": m.name, "status": m.status.value,
        "version": m.version, "in_play_delay_s": m.in_play_delay_s,
        "max_liability": str(m.max_liability), "max_stake": str(m.max_stake),
        "max_payout": str(m.max_payout), "stakes_total": str(m.stakes_total),
        "suspensions": m.suspensions,
        "result": None if m.result is None else encode(m.result).decode(),
        "result_version": m.result_version, "settled_version": m.settled_version,
        "bets": m.bets, "cause": m.cause,
        "selections": [
            [s.selection_id, s.name, str(s.price), str(s.payout_total)]
            for s in m.selections.values()
        ],
    }


def state_from_dict(data: dict[str, Any]) -> BookState:
    state = BookState(
        event_id=data["event_id"], created=data["created"], name=data["name"],
        sport=data["sport"], starts_at=data["starts_at"], status=EventStatus(data["status"]),
        score=data["score"], suspensions=data["suspensions"],
        bets_accepted=data["bets_accepted"], bets_rejected=data["bets_rejected"],
    )
    for m in data["markets"]:
        state.markets[m["market_id"]] = MarketState(
            market_id=m["market_id"], name=m["name"], status=MarketStatus(m["status"]),
            version=m["version"], in_play_delay_s=m["in_play_delay_s"],
            max_liability=Decimal(m["max_liability"]), max_stake=Decimal(m["max_stake"]),
            max_payout=Decimal(m["max_payout"]), stakes_total=Decimal(m["stakes_total"]),
            suspensions=m["suspensions"],
            result=None if m.get("result") is None else _decoded(m["result"], MarketResulted),
            result_version=m.get("result_version", 0),
            settled_version=m.get("settled_version", 0), bets=m.get("bets", 0),
            cause=m.get("cause", ""),
            selections={
                sid: SelectionState(sid, name, Decimal(price), Decimal(payout))
                for sid, name, price, payout in m["selections"]
            },
        )
    for raw in data["held"]:
        held = _decoded(raw, BetHeld)
        state.held[held.terms.bet_id] = held
    for raw in data.get("held_cashouts", []):
        cashout = _decoded(raw, CashoutHeld)
        state.held_cashouts[cashout.terms.request_id] = cashout
    for raw in data.get("windows", []):
        window = _decoded(raw, VoidWindowOpened)
        state.windows[window.window_id] = window
    state.windows_opened = data.get("windows_opened", 0)
    state.released = set(data.get("released", []))
    state.version = data.get("version", 0)
    state.feed_seq = dict(data.get("feed_seq", {}))
    state.feed_lost = set(data.get("feed_lost", []))
    return state


def _decoded(raw: str, cls: type[T]) -> T:
    found = decode(raw)
    if not isinstance(found, cls):
        raise TypeError(f"snapshot holds {type(found).__name__} where {cls.__name__} belongs")
    return found
