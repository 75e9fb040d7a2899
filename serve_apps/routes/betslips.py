"""Bet slips: up to ``MAX_SLIP_BETS`` single bets in one request, each answered on its own.

Each bet of a slip gets exactly the answer ``POST /v1/bets`` would give its body and key —
built by the same functions (``views.bet_response``, ``problems.from_exception``) and
carried as ``{status, bet | problem}`` — so partial success is the normal case: a refused
bet never stops the others. The slip as a whole is refused only for who is calling, or when
the body breaks its schema (any bet's field included) or repeats a key: then nothing is
placed.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain.bets import BetDecision
from domain.errors import DomainError
from serve_apps import arrival, docs
from serve_apps.deps import bet_service, player
from serve_apps.models import BetSlipOut, BetSlipRequest
from serve_apps.problems import from_exception, internal_error
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import BetService, Principal, SlipBet
from serve_apps.views import bet_response, json_response

router = APIRouter(tags=["bets"], route_class=AuthFirstRoute)


@router.post("/v1/betslips", response_model=BetSlipOut, responses=docs.responses(
    200, *docs.ROLE, *docs.BODY, "INVALID_ODDS", "INVALID_AMOUNT", "UNKNOWN_ACCOUNT",
    "UNAVAILABLE", ok=BetSlipOut,
    descriptions={200: "Every bet's outcome, in the slip's order: each `status` is what "
                       "POST /v1/bets would have answered (201, 202 or a refusal's), with "
                       "the `bet` or the `problem` it would have carried."}))
async def place_bet_slip(body: BetSlipRequest, request: Request,
                         who: Principal = Depends(player),
                         bets: BetService = Depends(bet_service)) -> Response:
    """Place up to 20 single bets at once, each with its own ``idempotency_key``.

    Bets on one event go to its actor in one batch. Each bet is answered as ``POST /v1/bets``
    would answer it; a refused bet never blocks the others, and the same slip sent again
    answers the same outcomes. A body that breaks the schema (1-20 valid bets) or repeats a
    key is refused whole, ``VALIDATION_ERROR`` (``INVALID_ODDS`` / ``INVALID_AMOUNT`` for a
    price or a stake), and nothing is placed.
    """
    outcomes = await bets.place_slip(who, [
        SlipBet(b.idempotency_key, b.event_id, b.market_id, b.selection_id, b.stake, b.price,
                b.odds_change, b.price_version) for b in body.bets],
        arrival.waited_s(request.scope))
    return json_response({"results": [
        _result(bet.idempotency_key, _answer(bet.event_id, outcome))
        for bet, outcome in zip(body.bets, outcomes, strict=True)]})


def _answer(event_id: str, outcome: BetDecision | BaseException) -> Response:
    """What ``POST /v1/bets`` answers for this outcome of a bet (``bets.fast_place_bet``)."""
    if isinstance(outcome, DomainError):
        return from_exception(outcome)
    if isinstance(outcome, BaseException):
        return internal_error(outcome)
    return bet_response(event_id, outcome)


def _result(key: str, answer: Response) -> dict[str, Any]:
    """One bet's entry in the slip's answer: its status, and its body as a bet or problem."""
    return {"idempotency_key": key, "status": answer.status_code,
            "bet" if answer.status_code < 300 else "problem": orjson.loads(answer.body)}
