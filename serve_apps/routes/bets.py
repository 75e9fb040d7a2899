"""Bets: place (the saga), look one up, list one's own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from actors import errors
from actors.book import PlaceBet
from actors.event_actor import bet_outcome
from actors.saga import bet_id_for
from cluster.security import Role
from serve_apps.body_limit import read_body, replay_body
from serve_apps.deps import (
    Principal,
    Services,
    authenticate_header,
    check_idempotency_value,
    current,
    player,
    services,
)
from serve_apps.models import BetRequest
from serve_apps.problems import (
    Problem,
    from_exception,
    internal_error,
    problem_from_error_dict,
    problem_response,
)
from storage.errors import WalletError
from storage.journal import JournalKeys
from storage.wallet import betref_key, bets_key

router = APIRouter(tags=["bets"])


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def public_bet(record: dict[str, Any]) -> dict[str, Any]:
    """A bet as the API shows it (internal fields such as the fingerprint dropped)."""
    out: dict[str, Any] = {
        "bet_id": record["bet_id"],
        "event_id": record.get("event_id"),
        "market_id": record.get("market_id"),
        "selection_id": record.get("selection_id"),
        "status": record["status"],
        "stake": record.get("stake"),
        "price": record.get("price", record.get("requested_price")),
        "requested_price": record.get("requested_price"),
        "odds_change": record.get("policy"),
        "placed_at": rfc3339(record.get("placed_at")),
        "payout": None,
        "settlements": [],
    }
    if record["status"] == "accepted":
        out["potential_payout"] = record["potential_payout"]
        out["accepted_at"] = rfc3339(record.get("accepted_at"))
        out["price_version"] = record.get("version")
    elif record["status"] == "pending":
        out["accept_after"] = rfc3339(record.get("accept_after"))
    else:
        out["reason"] = record.get("code")
        out["detail"] = record.get("detail")
    return out


def _status_of(code: str) -> int:
    cls = errors.ERRORS_BY_CODE.get(code)
    return cls.status if cls is not None else 409


_BET_DOC = {
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 64}},
        {"name": "Authorization", "in": "header", "required": True,
         "schema": {"type": "string"}, "description": "Bearer <player token>"},
    ],
}


@router.post("/v1/bets", status_code=201, openapi_extra=_BET_DOC, responses={
    201: {"description": "accepted"}, 202: {"description": "pending (in-play delay)"},
    402: {"description": "INSUFFICIENT_FUNDS"}, 403: {"description": "protection refusals"},
    409: {"description": "PRICE_CHANGED, MARKET_CLOSED, LIABILITY_LIMIT, ..."},
    423: {"description": "MARKET_SUSPENDED"}, 429: {"description": "RATE_LIMITED"},
    503: {"description": "UNAVAILABLE / OVERLOADED"}})
async def place_bet(body: BetRequest, request: Request) -> Response:
    """Place a bet: funds reserved, the event actor decides and journals, then commit/release.

    Same Idempotency-Key and body → the original outcome; other body → 422
    ``IDEMPOTENCY_KEY_REUSED``. The hot path resolves its caller inline rather than through
    dependencies: FastAPI's dependency solving cost more than the whole saga per bet.
    """
    return await place(current(request.app), request.headers.get("authorization", ""),
                       request.headers.get("idempotency-key", ""), body)


async def place(svc: Services, authorization: str, idempotency_key: str,
                body: BetRequest) -> Response:
    """The bet route's work, shared by the FastAPI route and the ASGI fast path below."""
    who = authenticate_header(authorization, svc)
    if who.role != Role.PLAYER.value:
        raise Problem(403, "FORBIDDEN", "this needs the role player")
    key = check_idempotency_value(idempotency_key)
    cmd = PlaceBet(
        bet_id_for(who.account_id, key), who.account_id, body.market_id, body.selection_id,
        body.stake, body.price, body.odds_change, body.price_version,
        await svc.in_play_allowed(who.account_id))
    record = await svc.saga.place(cmd, "sport_prematch", body.event_id)
    return bet_response(record)


# ------------------------------------------------------------ the fast path

HOT_PATH = "/v1/bets"


async def fast_place_bet(app: Any, scope: dict[str, Any], receive: Any, send: Any,
                         fallback: Any) -> None:
    """``POST /v1/bets`` straight from ASGI, around FastAPI's routing and middleware.

    Measured on the benchmark, FastAPI's request handling (router match, middleware stack,
    dependency and body machinery) cost about as much as the whole saga per bet. This path
    does the same work as the route above (same model, same ``place()``, same problem
    answers) for the common request: a JSON body that parses and validates. Anything else
    (another content type, bad JSON, a validation error) is handed to ``fallback`` — the
    FastAPI app — with the body replayed, so every refusal is answered exactly as before.
    """
    raw = await read_body(receive)  # within the bound: InplayAPI checked it (body_limit)
    if raw is None:  # the client went away
        return
    authorization = key = content_type = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"idempotency-key":
            key = value
        elif name == b"content-type":
            content_type = value
    body: BetRequest | None = None
    if content_type.partition(b";")[0].strip().lower() == b"application/json":
        try:
            body = BetRequest.model_validate(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValidationError):
            body = None
    if body is None:
        await fallback(scope, replay_body(raw, receive), send)
        return
    try:
        response = await place(current(app), authorization.decode("latin-1"),
                               key.decode("latin-1"), body)
    except (Problem, errors.BettingError, WalletError) as exc:
        response = from_exception(exc)
    except Exception as exc:  # what FastAPI's catch-all handler would answer
        response = internal_error(exc)
    await response(scope, receive, send)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def bet_response(record: dict[str, Any]) -> Response:
    if "error" in record:
        return problem_from_error_dict(record["error"])
    status = record["status"]
    if status == "accepted":
        return _json(public_bet(record), 201)
    if status == "pending":
        return _json(public_bet(record), 202)
    code = record.get("code", "REJECTED")
    extra = dict(record.get("extra") or {})
    return problem_response(_status_of(code), code, record.get("detail", ""),
                            bet_id=record["bet_id"], **extra)


async def _records(svc: Services, account_id: str, bet_ids: list[str]
                   ) -> dict[str, dict[str, Any]]:
    if not bet_ids:
        return {}
    events = await cast(Awaitable[list[bytes | None]],
                        svc.redis.hmget(betref_key(account_id), bet_ids))
    by_event: dict[str, list[str]] = defaultdict(list)
    for bet_id, event_id in zip(bet_ids, events, strict=True):
        if event_id is not None:
            by_event[event_id.decode()].append(bet_id)
    out: dict[str, dict[str, Any]] = {}
    for event, ids in by_event.items():
        raw = await cast(Awaitable[list[bytes | None]],
                         svc.redis.hmget(JournalKeys(event).bets, ids))
        for bet_id, payload in zip(ids, raw, strict=True):
            if payload is not None:
                out[bet_id] = bet_outcome(event, payload)
    return out


@router.get("/v1/bets/{bet_id}")
async def get_bet(bet_id: str, who: Principal = Depends(player),
                  svc: Services = Depends(services)) -> JSONResponse:
    """One of the caller's bets; another player's bet is indistinguishable from none (404)."""
    found = await _records(svc, who.account_id, [bet_id])
    record = found.get(bet_id)
    if record is None or record.get("account_id") != who.account_id:
        return problem_response(404, "UNKNOWN_BET", f"no bet {bet_id}")
    return JSONResponse(public_bet(record))


@router.get("/v1/bets")
async def list_bets(
    status: str | None = Query(default=None, pattern="^[a-z_]{1,20}$"),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: int = Query(default=0, ge=0),
    who: Principal = Depends(player),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """The caller's bets, newest first; ``next_cursor`` continues the listing."""
    items: list[dict[str, Any]] = []
    position = cursor
    while len(items) < limit:
        ids = [b.decode() for b in await svc.redis.zrevrange(
            bets_key(who.account_id), position, position + limit * 2 - 1)]
        if not ids:
            position = -1
            break
        records = await _records(svc, who.account_id, ids)
        for offset, bet_id in enumerate(ids):
            record = records.get(bet_id)
            if record is not None and (status is None or record["status"] == status):
                items.append(public_bet(record))
                if len(items) == limit:
                    position += offset + 1
                    break
        else:
            position += len(ids)
    return {"items": items, "next_cursor": None if position < 0 else position}


