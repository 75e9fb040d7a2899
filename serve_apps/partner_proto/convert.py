"""Between the wire (``inplay_partner.proto``) and the HTTP API's shapes.

The partner API answers what the HTTP API answers, field by field: a bet is
``serve_apps.views.bet_body`` (``bet_to_wire``; ``bet_from_wire`` is the way back, with the
HTTP nulls left out), a refusal is ``serve_apps.problems.problem_body`` (``refusal_to_wire``).
A bet request becomes the plain values ``serve_apps.models.BetRequest`` validates
(``bet_request_to_plain``), so gRPC and ``POST /v1/bets`` share one validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from domain.events import OddsPolicy
from serve_apps.partner_proto import inplay_partner_pb2 as pb

ODDS_CHANGE: dict[OddsPolicy, pb.OddsChange] = {
    OddsPolicy.NONE: pb.ODDS_CHANGE_NONE,
    OddsPolicy.HIGHER: pb.ODDS_CHANGE_HIGHER,
    OddsPolicy.ANY: pb.ODDS_CHANGE_ANY,
}
_POLICY = {wire: policy for policy, wire in ODDS_CHANGE.items()}
# the problem's fields that have a field of their own in a Refusal
_PROBLEM = {"type", "title", "status", "code", "detail", "bet_id", "price", "price_version",
            "max_stake", "retry_after_s", "errors"}
_TEXT = ("bet_id", "event_id", "market_id", "selection_id", "status", "stake", "price",
         "requested_price", "placed_at", "payout", "potential_payout", "accepted_at",
         "accept_after", "reason", "detail")


# ---------------------------------------------------------------- requests


def bet_request_to_plain(bet: pb.BetRequest) -> dict[str, Any]:
    """What ``serve_apps.models.BetRequest`` takes (the idempotency key is apart)."""
    out: dict[str, Any] = {"event_id": bet.event_id, "market_id": bet.market_id,
                           "selection_id": bet.selection_id, "stake": bet.stake,
                           "price": bet.price,
                           "odds_change": _POLICY.get(bet.odds_change, bet.odds_change)}
    if bet.HasField("price_version"):
        out["price_version"] = bet.price_version
    return out


def bet_request(idempotency_key: str, event_id: str, market_id: str, selection_id: str,
                stake: str, price: str, odds_change: OddsPolicy | str = OddsPolicy.NONE,
                price_version: int | None = None) -> pb.BetRequest:
    """A bet request as a partner builds one (money and prices as decimal strings)."""
    wire = pb.BetRequest(idempotency_key=idempotency_key, event_id=event_id,
                         market_id=market_id, selection_id=selection_id, stake=str(stake),
                         price=str(price), odds_change=ODDS_CHANGE[OddsPolicy(odds_change)])
    if price_version is not None:
        wire.price_version = price_version
    return wire


# ---------------------------------------------------------------- bets


def bet_to_wire(body: Mapping[str, Any]) -> pb.Bet:
    """A bet as ``bet_body`` shows it over HTTP (its nulls become empty strings)."""
    bet = pb.Bet(dead_heat=bool(body.get("dead_heat")))
    for name in _TEXT:
        setattr(bet, name, body.get(name) or "")
    if body.get("odds_change") is not None:
        bet.odds_change = ODDS_CHANGE[OddsPolicy(body["odds_change"])]
    if body.get("price_version") is not None:
        bet.price_version = int(body["price_version"])
    for step in body.get("settlements") or ():
        entry = bet.settlements.add(step=step["step"], status=step["status"],
                                    payout=step["payout"], moved=step["moved"], at=step["at"])
        if step.get("result_version") is not None:
            entry.result_version = int(step["result_version"])
    cashout = body.get("cashout")
    if cashout is not None:
        bet.cashout.status = cashout["status"]
        bet.cashout.amount = cashout.get("amount") or ""
        bet.cashout.price = cashout.get("price") or ""
        bet.cashout.at = cashout.get("at") or ""
        bet.cashout.accept_after = cashout.get("accept_after") or ""
        if cashout.get("price_version") is not None:
            bet.cashout.price_version = int(cashout["price_version"])
    return bet


def bet_from_wire(bet: pb.Bet) -> dict[str, Any]:
    """The HTTP API's body of a bet, with its nulls, empty lists and ``false`` left out."""
    out: dict[str, Any] = {name: getattr(bet, name) for name in _TEXT if getattr(bet, name)}
    if bet.requested_price:  # an abandoned bet has no terms, hence no odds_change
        out["odds_change"] = _POLICY[bet.odds_change].value
    if bet.HasField("price_version"):
        out["price_version"] = bet.price_version
    if bet.dead_heat:
        out["dead_heat"] = True
    if bet.settlements:
        out["settlements"] = [
            {"step": s.step, "result_version": s.result_version
             if s.HasField("result_version") else None, "status": s.status,
             "payout": s.payout, "moved": s.moved, "at": s.at} for s in bet.settlements]
    if bet.HasField("cashout"):
        c = bet.cashout
        cashout: dict[str, Any] = {k: getattr(c, k) for k in
                                   ("status", "amount", "price", "at", "accept_after")
                                   if getattr(c, k)}
        if c.HasField("price_version"):
            cashout["price_version"] = c.price_version
        out["cashout"] = cashout
    return out


def without_nulls(body: Mapping[str, Any]) -> dict[str, Any]:
    """An HTTP body as ``bet_from_wire`` gives it back: nulls, ``[]`` and ``false`` dropped."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None or value == [] or value is False:
            continue
        out[key] = without_nulls(value) if isinstance(value, Mapping) else value
    return out


# ---------------------------------------------------------------- refusals


def refusal_to_wire(problem: Mapping[str, Any]) -> pb.Refusal:
    """A refusal from the problem+json body the HTTP API answers for it
    (``serve_apps.problems.problem_body``)."""
    refusal = pb.Refusal(code=problem["code"], status=int(problem["status"]),
                         title=problem.get("title", ""), detail=problem.get("detail", ""),
                         bet_id=problem.get("bet_id") or "",
                         price=str(problem.get("price") or ""),
                         max_stake=str(problem.get("max_stake") or ""))
    if problem.get("price_version") is not None:
        refusal.price_version = int(problem["price_version"])
    if problem.get("retry_after_s") is not None:
        refusal.retry_after_s = float(problem["retry_after_s"])
    for error in problem.get("errors") or ():
        loc = ".".join(str(part) for part in error.get("loc", ()))
        refusal.errors.append(f"{loc}: {error.get('msg', '')}" if loc else
                              str(error.get("msg", "")))
    for key, value in problem.items():
        if key not in _PROBLEM and value is not None:
            refusal.facts[key] = value if isinstance(value, str) else orjson.dumps(
                value).decode()
    return refusal


def refusal_from_wire(refusal: pb.Refusal) -> dict[str, Any]:
    """The facts of a refusal as plain values (the client's side)."""
    out: dict[str, Any] = {"code": refusal.code, "status": refusal.status,
                           "title": refusal.title, "detail": refusal.detail}
    for name in ("bet_id", "price", "max_stake"):
        if getattr(refusal, name):
            out[name] = getattr(refusal, name)
    if refusal.HasField("price_version"):
        out["price_version"] = refusal.price_version
    if refusal.retry_after_s:
        out["retry_after_s"] = refusal.retry_after_s
    if refusal.errors:
        out["errors"] = list(refusal.errors)
    out.update(refusal.facts)
    return out
