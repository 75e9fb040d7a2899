"""Typed values to JSON, in one place: the shapes clients see (``docs/API.md``).

Below this module, decisions, events, receipts and accounts are typed values with ``Decimal``
money and enums; here they become JSON with money and prices as decimal strings and times as
RFC 3339 UTC. Refused bets become problem+json (``serve_apps.problems``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi.responses import Response

from domain.bets import BetDecision
from domain.cashout import CashoutDecision, Quote
from domain.clock import rfc3339, rfc3339_ms
from domain.deltas import Delta, DeltaKind
from domain.events import BetAbandoned, BetAccepted, BetCashedOut, BetHeld, CashoutHeld
from domain.feed import Ack
from domain.ladder import format_price
from domain.ledger import Statement
from domain.limits import ExclusionPeriod
from domain.money import money
from domain.settlement import BetSettlement
from domain.views import EventSummary, EventView, ExposureView, MarketView
from serve_apps.problems import problem_response
from storage.accounts import Account, Exclusion, LimitChangeResult
from storage.reviews import ReviewItem
from storage.settlement import MarketTotals
from storage.wallet import Balance, Receipt

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer serialized once by orjson (no re-validation on the way out)."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


# ---------------------------------------------------------------- bets


def bet_body(event_id: str, decision: BetDecision,
             settlement: BetSettlement | None = None) -> dict[str, Any]:
    """A bet as ``GET /v1/bets/{bet_id}`` shows it (with its settlement, once settled)."""
    if isinstance(decision, BetAbandoned):
        return {"bet_id": decision.bet_id, "event_id": event_id, "market_id": None,
                "selection_id": None, "status": "rejected", "stake": None, "price": None,
                "requested_price": None, "odds_change": None,
                "placed_at": rfc3339_ms(decision.at), "payout": None, "settlements": [],
                "reason": "UNAVAILABLE", "detail": decision.reason}
    if isinstance(decision, BetCashedOut):
        cashed = bet_body(event_id, decision.bet, settlement)
        if settlement is None or settlement.status is None:  # until settlement has paid it
            cashed.update(status="cashed_out", payout=f"{decision.amount:.2f}")
        cashed["cashout"] = cashout_body(decision)
        return cashed
    t = decision.terms
    out: dict[str, Any] = {
        "bet_id": t.bet_id, "event_id": event_id, "market_id": t.market_id,
        "selection_id": t.selection_id, "status": "", "stake": money(t.stake),
        "price": format_price(t.price), "requested_price": format_price(t.price),
        "odds_change": t.policy.value, "placed_at": rfc3339_ms(t.placed_at), "payout": None,
        "settlements": [],
    }
    if isinstance(decision, BetAccepted):
        out.update(status="accepted", price=format_price(decision.price),
                   potential_payout=money(t.stake * decision.price),
                   accepted_at=rfc3339_ms(decision.at), price_version=decision.version)
        if settlement is not None:
            _settled(out, settlement)
    elif isinstance(decision, BetHeld):
        out.update(status="pending", accept_after=rfc3339_ms(decision.accept_after))
    else:
        out.update(status="rejected", reason=decision.code, detail=decision.detail)
    return out


def _settled(out: dict[str, Any], settlement: BetSettlement) -> None:
    """An accepted bet's settlement: its status and payout now, and every step's entry."""
    if settlement.status is not None:
        out.update(status=settlement.status.value, payout=cents(settlement.payout_cents),
                   dead_heat=settlement.dead_heat)
    out["settlements"] = [
        {"step": label, "result_version": version or None, "status": status or "accepted",
         "payout": cents(payout), "moved": cents(moved), "at": rfc3339_ms(at_ms / 1000)}
        for _, label, status, payout, moved, at_ms, version in settlement.history]


def cents(value: int) -> str:
    """Integer cents as the API shows money (``-1250`` → ``"-12.50"``)."""
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


def cashout_body(decision: CashoutHeld | BetCashedOut) -> dict[str, Any]:
    """A bet's cash-out: done (its amount and the price it was valued at) or pending."""
    if isinstance(decision, CashoutHeld):
        return {"status": "pending", "accept_after": rfc3339_ms(decision.accept_after)}
    return {"status": "cashed_out", "amount": f"{decision.amount:.2f}",
            "price": format_price(decision.price), "price_version": decision.version,
            "at": rfc3339_ms(decision.at)}


def cashout_response(event_id: str, decision: CashoutDecision) -> Response:
    """201 cashed out (the bet), 202 held for the in-play delay, or the refusal (a price
    move carries a fresh quote)."""
    if isinstance(decision, BetCashedOut):
        return json_response(bet_body(event_id, decision), 201)
    if isinstance(decision, CashoutHeld):
        body = bet_body(event_id, decision.bet)
        body["cashout"] = cashout_body(decision)
        return json_response(body, 202)
    facts = dict(decision.extra)
    if "expires_at_s" in facts:
        facts["expires_at"] = rfc3339_ms(float(facts.pop("expires_at_s")))
    return problem_response(decision.code, decision.detail, bet_id=decision.terms.bet_id,
                            **facts)


def quote_body(quote: Quote) -> dict[str, Any]:
    return {"quote_id": quote.quote_id, "bet_id": quote.bet_id,
            "amount": f"{quote.amount:.2f}", "price": format_price(quote.price),
            "price_version": quote.price_version, "expires_at": rfc3339_ms(quote.expires_at)}


def bet_response(event_id: str, decision: BetDecision) -> Response:
    """201 accepted, 202 pending, or the refusal as problem+json (with the bet id)."""
    if isinstance(decision, BetAccepted | BetCashedOut):
        return json_response(bet_body(event_id, decision), 201)
    if isinstance(decision, BetHeld):
        return json_response(bet_body(event_id, decision), 202)
    if isinstance(decision, BetAbandoned):
        return problem_response("UNAVAILABLE", decision.reason, bet_id=decision.bet_id)
    return problem_response(decision.code, decision.detail, bet_id=decision.terms.bet_id,
                            **decision.extra)


# ---------------------------------------------------------------- events


def market_body(market: MarketView) -> dict[str, Any]:
    return {
        "market_id": market.market_id, "name": market.name, "status": market.status.value,
        "version": market.version, "in_play_delay_s": market.in_play_delay_s,
        "selections": [{"selection_id": s.selection_id, "name": s.name,
                        "price": format_price(s.price)} for s in market.selections],
        "cause": market.cause,
    }


def event_body(view: EventView) -> dict[str, Any]:
    """The event as ``GET /v1/events/{event_id}`` shows it."""
    return {
        "event_id": view.event_id, "name": view.name, "sport": view.sport,
        "status": view.status.value, "starts_at": view.starts_at, "score": view.score,
        "markets": [market_body(m) for m in view.markets], "version": view.version,
    }


# ---------------------------------------------------------------- the odds stream (SSE)

SSE_KEEPALIVE = b": keep-alive\n\n"


def delta_body(delta: Delta) -> dict[str, Any]:
    """One odds stream message's data: what changed, and the event's version after it."""
    if delta.kind is DeltaKind.ODDS:
        return {"version": delta.version, "market_id": delta.market_id,
                "market_version": delta.market_version,
                "prices": {sel: format_price(price) for sel, price in delta.prices}}
    if delta.kind is DeltaKind.SCORE:
        return {"version": delta.version, "score": delta.score}
    return {"version": delta.version, "status": delta.status, "market_id": delta.market_id,
            "markets": dict(delta.markets), "cause": delta.cause}


def sse_message(kind: str, version: int, body: dict[str, Any]) -> bytes:
    """A server-sent event: its type, ``id: <version>`` and one line of JSON data."""
    return b"event: %s\nid: %d\ndata: %s\n\n" % (kind.encode(), version, orjson.dumps(body))


def sse_delta(delta: Delta) -> bytes:
    return sse_message(delta.kind.value, delta.version, delta_body(delta))


def sse_snapshot(view: EventView) -> bytes:
    """The stream's snapshot: the same JSON as ``GET /v1/events/{event_id}``."""
    return sse_message("snapshot", view.version, event_body(view))


def sse_retry(retry_ms: int) -> bytes:
    """How long a client should wait before it reconnects."""
    return b"retry: %d\n\n" % retry_ms


def summary_body(summary: EventSummary) -> dict[str, Any]:
    return {"event_id": summary.event_id, "name": summary.name, "sport": summary.sport,
            "status": summary.status.value, "starts_at": summary.starts_at}


def exposure_body(view: ExposureView) -> dict[str, Any]:
    """Liability per market and selection, for operators."""
    return {
        "event_id": view.event_id, "bets_accepted": view.bets_accepted,
        "bets_pending": view.bets_pending,
        "markets": [{
            "market_id": m.market_id, "max_liability": money(m.max_liability),
            "stakes_total": money(m.stakes_total), "worst_liability": money(m.worst_liability),
            "selections": [{"selection_id": s.selection_id, "price": format_price(s.price),
                            "payout_total": money(s.payout_total),
                            "liability": money(s.liability)} for s in m.selections],
        } for m in view.markets],
    }


def settlement_body(view: ExposureView, totals: dict[str, MarketTotals]) -> dict[str, Any]:
    """Per market: its status, result versions, bets settled and pending, stakes, returns and
    gross gaming revenue (stakes − returns: what the book kept)."""
    markets = []
    for m in view.markets:
        t = totals.get(m.market_id)
        stakes = t.stakes_cents if t else int(m.stakes_total * 100)
        returns = t.returns_cents if t else 0
        bets = t.bets if t else m.bets
        settled = t.settled if t else 0
        markets.append({
            "market_id": m.market_id, "status": m.status.value,
            "result_version": m.result_version, "result_versions": t.versions if t else [],
            "bets": bets, "bets_settled": settled, "bets_pending": bets - settled,
            "total_stakes": cents(stakes), "total_returns": cents(returns),
            "gross_gaming_revenue": cents(stakes - returns)})
    return {"event_id": view.event_id, "markets": markets}


# ---------------------------------------------------------------- money and accounts


def amount(value: Decimal) -> str:
    return f"{value:.2f}"


def receipt_body(receipt: Receipt) -> dict[str, Any]:
    return {"operation_id": receipt.op_id, "kind": receipt.kind, "status": receipt.status,
            "amount": amount(receipt.amount), "available": amount(receipt.available),
            "at": rfc3339(receipt.at), "replayed": receipt.replayed}


def balance_body(b: Balance) -> dict[str, Any]:
    return {"balance": amount(b.available), "reserved": amount(b.reserved),
            "currency": b.currency, "held_for_review": amount(b.deposit_hold + b.withdrawal_hold),
            "debt": amount(b.debt)}


def statement_body(s: Statement) -> dict[str, Any]:
    return {"month": s.month, "currency": s.currency, "deposits": amount(s.deposits),
            "withdrawals": amount(s.withdrawals), "stakes": amount(s.stakes),
            "returns": amount(s.returns), "net_result": amount(s.net_result),
            "opening_balance": amount(s.opening_balance),
            "closing_balance": amount(s.closing_balance), "entries": s.entries}


def limit_changes_body(results: list[LimitChangeResult]) -> dict[str, Any]:
    return {"changes": [
        {"limit": r.name, "value": None if r.value is None else amount(r.value),
         "immediate": r.immediate, "effective_at": r.effective_at} for r in results]}


def exclusion_body(exclusion: Exclusion) -> dict[str, Any]:
    return {"period": ExclusionPeriod(exclusion.period).value, "until": exclusion.until_rfc3339,
            "permanent": exclusion.until is None}


def account_body(account: Account) -> dict[str, Any]:
    """``GET /v1/me``: KYC, limits (with pending increases), exclusion, jurisdiction."""
    excluded = account.excluded_until
    return {
        "account_id": account.account_id, "username": account.username,
        "role": account.role.value, "jurisdiction": account.jurisdiction,
        "status": account.status, "kyc_status": account.kyc_status.value,
        "exclusion": {"until": rfc3339(excluded)
                      if excluded and not account.exclusion_permanent else None,
                      "permanent": account.exclusion_permanent,
                      "active": excluded is not None},
        "limits": {name: {"value": None if v.value is None else str(v.value),
                          "pending": None if v.pending is None else str(v.pending),
                          "pending_effective_at": v.pending_effective_at}
                   for name, v in account.limits.items()},
    }


def review_body(item: ReviewItem) -> dict[str, Any]:
    body: dict[str, Any] = {"review_id": item.review_id, "kind": item.kind.value,
                            "account_id": item.account_id, "op_id": item.op_id,
                            "created_at": rfc3339_ms(item.created_at)}
    if item.amount is not None:
        body["amount"] = item.amount
    return body


# ---------------------------------------------------------------- the feed


def ack_body(ack: Ack) -> dict[str, Any]:
    """One feed message's ack (``POST /v1/ops/feed``)."""
    return {"event_id": ack.event_id, "seq": ack.seq, "status": ack.status.value,
            "code": ack.code, "detail": ack.detail, "version": ack.version}
