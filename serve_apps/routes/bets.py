"""Bets: place (the saga), look one up, list one's own."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from domain.errors import DomainError, ValidationFailed
from domain.events import OddsPolicy
from serve_apps import arrival, docs
from serve_apps.body_limit import read_body, replay_body
from serve_apps.deps import bet_service, current, idempotency_key, player
from serve_apps.models import BetList, BetOut, BetRequest, CashoutIn, QuoteOut
from serve_apps.problems import from_exception, internal_error
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import BetService, Principal
from serve_apps.views import (
    bet_body,
    bet_response,
    cashout_response,
    json_response,
    quote_body,
)

router = APIRouter(tags=["bets"], route_class=AuthFirstRoute)


@router.post("/v1/bets", status_code=201, response_model=BetOut, responses=docs.responses(
    201, 202, *docs.ROLE, *docs.BODY, *docs.IDEMPOTENT, "INVALID_ODDS", "INVALID_AMOUNT",
    "INSUFFICIENT_FUNDS", "SELF_EXCLUDED", "LIMIT_EXCEEDED", "KYC_REQUIRED",
    "JURISDICTION_BLOCKED", "ACCOUNT_CLOSED", "UNKNOWN_ACCOUNT", "UNKNOWN_EVENT",
    "UNKNOWN_MARKET", "UNKNOWN_SELECTION", "PRICE_CHANGED", "MARKET_CLOSED", "LIABILITY_LIMIT",
    "STAKE_ABOVE_MAX", "PAYOUT_ABOVE_MAX", "MARKET_SUSPENDED", "RATE_LIMITED", "UNAVAILABLE",
    "OVERLOADED", ok=BetOut,
    descriptions={201: "Accepted: the bet is durable.",
                  202: "Pending: the in-play delay runs; the bet becomes accepted or "
                       "rejected (GET /v1/bets/{bet_id})."}))
async def place_bet(body: BetRequest, request: Request,
                    who: Principal = Depends(player),
                    key: str = Depends(idempotency_key)) -> Response:
    """Place a bet: funds reserved, the event actor decides and journals, then commit/release.

    Same Idempotency-Key and body → the original outcome; other body → 422
    ``IDEMPOTENCY_KEY_REUSED``. Refusals are problem+json with the bet id and what helps the
    client: the current ``price`` and ``price_version`` (``PRICE_CHANGED``), a ``max_stake``
    counter-offer (``LIABILITY_LIMIT``), ``Retry-After`` (``RATE_LIMITED``, ``OVERLOADED``).
    """
    return await place(current(request.app).bets, who, key, body, arrival.waited_s(request.scope))


async def place(bets: BetService, who: Principal, key: str, body: BetRequest,
                waited_s: float = 0.0) -> Response:
    """The bet route's work, shared by the FastAPI route and the ASGI fast path below."""
    decision = await bets.place(who, key, body.event_id, body.market_id, body.selection_id,
                                body.stake, body.price, body.odds_change, body.price_version,
                                waited_s)
    return bet_response(body.event_id, decision)


# ------------------------------------------------------------ the fast path

HOT_PATH = "/v1/bets"


async def fast_place_bet(app: Any, scope: dict[str, Any], receive: Any, send: Any,
                         fallback: Any) -> None:
    """``POST /v1/bets`` straight from ASGI, around FastAPI's routing and middleware.

    Measured on the benchmark, FastAPI's request handling (router match, middleware stack,
    dependency and body machinery) cost about as much as the whole saga per bet. This path
    does the same work as the route above (same model, same ``place()``, same problem
    answers) for the common request: an authenticated JSON body that parses and validates.
    Anything else (no or a bad token, another content type, bad JSON, a validation error)
    is handed to ``fallback`` — the FastAPI app — with the body replayed, so every refusal
    is answered exactly as the route answers it.
    """
    raw = await read_body(receive)  # within the bound: InplayAPI checked it (body_limit)
    if raw is None:  # the client went away
        return
    authorization = key = content_type = received = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"idempotency-key":
            key = value
        elif name == b"content-type":
            content_type = value
        elif name == arrival.HEADER:
            received = value
    svc = current(app)
    body: BetRequest | None = None
    who: Principal | None = None
    if content_type.partition(b";")[0].strip().lower() == b"application/json":
        try:
            who = svc.auth.principal(authorization.decode("latin-1"))
            body = BetRequest.model_validate(orjson.loads(raw))
        except (DomainError, orjson.JSONDecodeError, ValidationError):
            body = None
    if body is None or who is None:
        await fallback(scope, replay_body(raw, receive), send)
        return
    try:
        response = await place(svc.bets, who, key.decode("latin-1"), body,
                               arrival.waited_since(received))
    except DomainError as exc:
        response = from_exception(exc)
    except Exception as exc:  # what FastAPI's catch-all handler would answer
        response = internal_error(exc)
    await response(scope, receive, send)


# ------------------------------------------------------------ reading bets


@router.get("/v1/bets/{bet_id}", response_model=BetOut,
            responses=docs.responses(200, *docs.ROLE, *docs.INVALID, "UNKNOWN_BET",
                                     ok=BetOut))
async def get_bet(bet_id: str = docs.path_id("bet_id"), who: Principal = Depends(player),
                  bets: BetService = Depends(bet_service)) -> Response:
    """One of the caller's bets; another player's bet is indistinguishable from none (404)."""
    found = await bets.get(who, bet_id)
    return json_response(bet_body(found.event_id, found.decision, found.settlement))


_BET_ID = docs.path_id("bet_id", "b3f0c2a1d4e5f6a7b8c9d0e1f")


@router.post("/v1/bets/{bet_id}/cashout/quote", response_model=QuoteOut,
             responses=docs.responses(200, *docs.ROLE, *docs.INVALID, "UNKNOWN_BET",
                                      "CASHOUT_UNAVAILABLE", "MARKET_SUSPENDED", "UNAVAILABLE",
                                      ok=QuoteOut))
async def cashout_quote(bet_id: str = _BET_ID, who: Principal = Depends(player),
                        bets: BetService = Depends(bet_service)) -> Response:
    """What the book pays for the caller's bet now: stake × accepted price ÷ the current
    price, less the book's margin, rounded down to the cent; valid until ``expires_at`` and
    while the price stands. Another player's bet is ``UNKNOWN_BET``."""
    return json_response(quote_body(await bets.cashout_quote(who, bet_id)))


@router.post("/v1/bets/{bet_id}/cashout", status_code=201, response_model=BetOut,
             responses=docs.responses(
                 201, 202, *docs.ROLE, *docs.BODY, *docs.IDEMPOTENT, "INVALID_AMOUNT",
                 "UNKNOWN_BET", "CASHOUT_UNAVAILABLE", "PRICE_CHANGED", "MARKET_SUSPENDED",
                 "SCORE_CHANGED", "UNAVAILABLE", ok=BetOut,
                 descriptions={201: "Cashed out: the bet is settled early for the amount",
                               202: "Pending: the in-play delay runs, then it is re-checked"}))
async def cash_out(body: CashoutIn, bet_id: str = _BET_ID, who: Principal = Depends(player),
                   key: str = Depends(idempotency_key),
                   bets: BetService = Depends(bet_service)) -> Response:
    """Settle the caller's bet early: at a quote (``quote_id``), or at an ``amount`` under
    ``odds_change`` (none: exactly it, higher: at least it, any: the value now). A price move
    is ``PRICE_CHANGED`` with a fresh quote; in play the in-play delay holds it first (202).
    The amount is credited like any payout. Same Idempotency-Key → the original outcome."""
    if body.quote_id is None and body.amount is None and body.odds_change is not OddsPolicy.ANY:
        raise ValidationFailed("send a quote_id, or an amount (or odds_change: any)")
    event_id, decision = await bets.cash_out(who, key, bet_id, body.quote_id, body.amount,
                                             body.odds_change)
    return cashout_response(event_id, decision)


@router.get("/v1/bets", response_model=BetList,
            responses=docs.responses(200, *docs.ROLE, *docs.INVALID, ok=BetList))
async def list_bets(
    status: str | None = Query(default=None, pattern="^(pending|accepted|rejected|won|lost|"
                               "void|half_won|half_lost|cashed_out)$",
                               description="only bets with this status"),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: int = Query(default=0, ge=0, le=docs.MAX_CURSOR,
                        description="`next_cursor` of the previous page"),
    who: Principal = Depends(player),
    bets: BetService = Depends(bet_service),
) -> Response:
    """The caller's bets, newest first; ``next_cursor`` continues the listing."""
    page = await bets.page(who, status, limit, cursor)
    return json_response({"items": [bet_body(b.event_id, b.decision, b.settlement)
                                    for b in page.items],
                          "next_cursor": page.next_cursor})
