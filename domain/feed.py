"""Feed messages: what an odds/data provider tells the book, provider-neutral (pure, no I/O).

A provider (a trading feed, the match simulator, an operator typing by hand) sends messages
about one event, each with the provider's own ``seq``: strictly increasing per (provider,
event). A message whose ``seq`` is not above the last one applied for that pair is a duplicate
or arrived out of order, and is dropped (``Ack.DUPLICATE``): the feed adapter drops what it
has seen, and the event actor, which journals the last applied ``seq`` with the changes, drops
what survives an adapter restart.

``alive`` is the heartbeat: a provider that stops sending it for ``feed_timeout_s`` has its
events' markets suspended (``FeedLost``) until it is heard again (``FeedRecovered``).
``event_id`` of an ``alive`` may be empty: then it speaks for every event of the provider.

``parse`` builds a message from plain values (JSON over HTTP, protobuf fields over gRPC) and
is the only validation both paths use: a malformed message is ``InvalidFeedMessage`` and
changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from domain import errors
from domain.ladder import is_on_ladder
from domain.settlement import MarketResult


class FeedKind(StrEnum):
    ODDS_CHANGE = "odds_change"
    BET_STOP = "bet_stop"
    BET_START = "bet_start"
    ALIVE = "alive"
    SCORE = "score"
    MATCH_STATE = "match_state"
    RESULT = "result"
    ROLLBACK = "rollback"
    VOID_WINDOW = "void_window"


class MatchState(StrEnum):
    """Where the match is; the book maps it onto the event's status."""

    NOT_STARTED = "not_started"
    FIRST_HALF = "first_half"
    HALF_TIME = "half_time"
    SECOND_HALF = "second_half"
    ENDED = "ended"
    ABANDONED = "abandoned"


class AckStatus(StrEnum):
    APPLIED = "applied"      # journaled by the event actor (or nothing to change)
    DUPLICATE = "duplicate"  # seq at or below the last applied: dropped
    REFUSED = "refused"      # well-formed but the book refused it (code in the ack)


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One message of a provider about one event.

    Only the fields of its ``kind`` are set (``parse`` checks that they are):

    - ``odds_change``: ``market_id``, ``prices`` (selection id, price on the ladder);
    - ``bet_stop`` / ``bet_start``: ``market_ids`` (empty: every market), ``cause``;
    - ``alive``: nothing (``event_id`` may be empty: every event of the provider);
    - ``score``: ``score`` (``"2-1"``);
    - ``match_state``: ``state``;
    - ``result``: ``market_id``, ``winners``, ``void_factor``, ``dead_heat_factor``,
      ``result_version``;
    - ``rollback``: ``market_id``;
    - ``void_window``: ``start``, ``end`` (POSIX seconds), ``market_id`` (or every market),
      ``cause`` (the reason).
    """

    provider: str
    event_id: str
    seq: int
    kind: FeedKind
    sent_at: float = 0.0
    market_id: str | None = None
    market_ids: tuple[str, ...] = ()
    prices: tuple[tuple[str, Decimal], ...] = ()
    cause: str = ""
    score: str = ""
    state: MatchState | None = None
    winners: tuple[str, ...] = ()
    void_factor: Decimal = Decimal(0)
    dead_heat_factor: Decimal | None = None
    result_version: int = 0
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True, slots=True)
class Ack:
    """The fate of one message: ``seq`` back, the status, and the refusal's code/detail."""

    event_id: str
    seq: int
    status: AckStatus
    code: str = ""
    detail: str = ""
    version: int = 0  # the event's public version after the message (0: unknown)


MAX_SEQ = 2**63 - 1
# a time (POSIX seconds) beyond any float trouble (an int too large for a float overflows)
_NUMBER_MAX = 1e15
_ID_MAX = 64


def parse(provider: str, raw: Mapping[str, Any]) -> FeedMessage:
    """A validated message from plain values, or ``InvalidFeedMessage`` naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise _bad("a feed message is an object")
    kind = _kind(raw.get("kind"))
    event_id = _text(raw.get("event_id", ""), "event_id", empty=kind is FeedKind.ALIVE)
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq <= MAX_SEQ:
        raise _bad("seq must be a positive integer", field="seq")
    sent_at = _number(raw.get("sent_at", 0.0), "sent_at")
    base: dict[str, Any] = {"provider": _text(provider, "provider"), "event_id": event_id,
                            "seq": seq, "kind": kind, "sent_at": sent_at}
    return FeedMessage(**base, **_PARSERS[kind](raw))


def _kind(value: Any) -> FeedKind:
    try:
        return FeedKind(value)
    except ValueError:
        raise _bad(f"kind must be one of {', '.join(k.value for k in FeedKind)}",
                   field="kind") from None


def _bad(detail: str, **facts: Any) -> errors.InvalidFeedMessage:
    return errors.InvalidFeedMessage(detail, **facts)


def _text(value: Any, name: str, empty: bool = False, limit: int = _ID_MAX) -> str:
    if not isinstance(value, str) or len(value) > limit or (not value and not empty) \
            or not value.isprintable():  # no control characters, no lone surrogates
        raise _bad(f"{name} must be a string of 1-{limit} printable characters", field=name)
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or abs(value) > _NUMBER_MAX or not math.isfinite(value):
        raise _bad(f"{name} must be a finite number", field=name)
    return float(value)


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(f"{name} must be a decimal string", field=name)
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"{name} must be a decimal string", field=name) from None
    if not found.is_finite():
        raise _bad(f"{name} must be finite", field=name)
    return found


def _ids(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > 256:
        raise _bad(f"{name} must be a list of ids", field=name)
    return tuple(_text(v, name) for v in value)


def _odds(raw: Mapping[str, Any]) -> dict[str, Any]:
    prices = raw.get("prices")
    if not isinstance(prices, Mapping) or not prices or len(prices) > 256:
        raise _bad("prices must map selection ids to prices", field="prices")
    parsed = []
    for selection_id, price in prices.items():
        value = _decimal(price, "prices")
        if not is_on_ladder(value):
            raise _bad(f"price {price} of {selection_id} is not on the price ladder",
                       field="prices")
        parsed.append((_text(selection_id, "prices"), value))
    return {"market_id": _text(raw.get("market_id"), "market_id"),
            "prices": tuple(sorted(parsed))}


def _stop(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"market_ids": _ids(raw.get("market_ids"), "market_ids"),
            "cause": _text(raw.get("cause", ""), "cause", empty=True, limit=64)}


def _alive(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _score(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"score": _text(raw.get("score"), "score", limit=32)}


def _state(raw: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return {"state": MatchState(str(raw.get("state")))}
    except ValueError:
        raise _bad(f"state must be one of {', '.join(s.value for s in MatchState)}",
                   field="state") from None


def _result(raw: Mapping[str, Any]) -> dict[str, Any]:
    version = raw.get("result_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 0 < version <= MAX_SEQ:
        raise _bad("result_version must be a positive integer", field="result_version")
    void = _decimal(raw.get("void_factor", "0"), "void_factor")
    dead_heat = raw.get("dead_heat_factor")
    factor = None if dead_heat is None else _decimal(dead_heat, "dead_heat_factor")
    winners = _ids(raw.get("winners"), "winners")
    try:  # the settlement maths' own rules (factors, winners)
        MarketResult(winners, void, factor, version)
    except errors.ValidationFailed as exc:
        raise _bad(exc.detail, **exc.facts) from None
    return {"market_id": _text(raw.get("market_id"), "market_id"), "winners": winners,
            "void_factor": void, "dead_heat_factor": factor, "result_version": version}


def _rollback(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"market_id": _text(raw.get("market_id"), "market_id")}


def _window(raw: Mapping[str, Any]) -> dict[str, Any]:
    start, end = _number(raw.get("start"), "start"), _number(raw.get("end"), "end")
    if end <= start:
        raise _bad("a void window ends after it starts", field="end")
    market = raw.get("market_id")
    return {"start": start, "end": end,
            "market_id": None if market is None else _text(market, "market_id"),
            "cause": _text(raw.get("cause", ""), "cause", limit=200)}


_PARSERS = {
    FeedKind.ODDS_CHANGE: _odds, FeedKind.BET_STOP: _stop, FeedKind.BET_START: _stop,
    FeedKind.ALIVE: _alive, FeedKind.SCORE: _score, FeedKind.MATCH_STATE: _state,
    FeedKind.RESULT: _result, FeedKind.ROLLBACK: _rollback, FeedKind.VOID_WINDOW: _window,
}


def to_plain(msg: FeedMessage) -> dict[str, Any]:
    """The inverse of ``parse`` (without the provider): the JSON an operator would post."""
    out: dict[str, Any] = {"kind": msg.kind.value, "event_id": msg.event_id, "seq": msg.seq,
                           "sent_at": msg.sent_at}
    kind = msg.kind
    if kind is FeedKind.ODDS_CHANGE:
        out |= {"market_id": msg.market_id, "prices": {s: str(p) for s, p in msg.prices}}
    elif kind in (FeedKind.BET_STOP, FeedKind.BET_START):
        out |= {"market_ids": list(msg.market_ids), "cause": msg.cause}
    elif kind is FeedKind.SCORE:
        out["score"] = msg.score
    elif kind is FeedKind.MATCH_STATE:
        out["state"] = None if msg.state is None else msg.state.value
    elif kind is FeedKind.RESULT:
        out |= {"market_id": msg.market_id, "winners": list(msg.winners),
                "void_factor": str(msg.void_factor),
                "dead_heat_factor": None if msg.dead_heat_factor is None
                else str(msg.dead_heat_factor), "result_version": msg.result_version}
    elif kind is FeedKind.ROLLBACK:
        out["market_id"] = msg.market_id
    elif kind is FeedKind.VOID_WINDOW:
        out |= {"start": msg.start, "end": msg.end, "market_id": msg.market_id,
                "cause": msg.cause}
    return out


class SequenceGate:
    """The last applied ``seq`` per event of one provider: drops duplicates and stragglers."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def admit(self, msg: FeedMessage) -> bool:
        """True (and remembered) if ``msg`` is newer than all before it for its event."""
        if msg.seq <= self.last.get(msg.event_id, 0):
            return False
        self.last[msg.event_id] = msg.seq
        return True
