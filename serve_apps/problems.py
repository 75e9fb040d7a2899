"""The one place where errors become HTTP: RFC 9457 problem+json answers with stable codes.

``STATUS`` maps every error code to its HTTP status, for every route (media included). The
domain's errors (``domain.errors``) carry a code and facts, never a status; the edge's own
codes (unknown routes, oversized bodies, validation, bugs) are listed here too. Ray wraps an
error raised inside an actor; ``unwrap`` takes the domain error back out, here and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from domain import errors
from domain.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://inplay.dev/problems/"

STATUS: dict[str, int] = {
    # the event book
    "UNKNOWN_EVENT": 404, "UNKNOWN_MARKET": 404, "UNKNOWN_SELECTION": 404, "UNKNOWN_BET": 404,
    "MARKET_SUSPENDED": 423, "MARKET_CLOSED": 409, "PRICE_CHANGED": 409, "SCORE_CHANGED": 409,
    "LIABILITY_LIMIT": 409, "STAKE_ABOVE_MAX": 409, "PAYOUT_ABOVE_MAX": 409,
    "INVALID_ODDS": 422, "EVENT_EXISTS": 409, "INVALID_TRANSITION": 409, "INVALID_EVENT": 422,
    # settlement and cash-out
    "MARKET_OPEN": 409, "RESULT_CONFLICT": 409, "STALE_RESULT_VERSION": 409,
    "NOTHING_TO_ROLL_BACK": 409, "INVALID_WINDOW": 422, "UNKNOWN_WINDOW": 404,
    "CASHOUT_UNAVAILABLE": 409, "INVALID_FEED_MESSAGE": 422, "DELAY_TOO_SHORT": 409,
    # requests in general
    "INVALID_AMOUNT": 422, "IDEMPOTENCY_KEY_REUSED": 422, "VALIDATION_ERROR": 422,
    "UNAVAILABLE": 503, "OVERLOADED": 503,
    # wallets, accounts, protection
    "INSUFFICIENT_FUNDS": 402, "SELF_EXCLUDED": 403, "LIMIT_EXCEEDED": 403,
    "DEPOSIT_LIMIT": 403, "KYC_REQUIRED": 403, "JURISDICTION_BLOCKED": 403,
    "ACCOUNT_CLOSED": 403, "RATE_LIMITED": 429, "UNKNOWN_ACCOUNT": 404,
    "UNKNOWN_OPERATION": 404, "ALREADY_DECIDED": 409, "UNDERAGE": 422,
    "BAD_CREDENTIALS": 401, "USERNAME_TAKEN": 409, "UNKNOWN_REVIEW": 404,
    # who may do what
    "UNAUTHENTICATED": 401, "FORBIDDEN": 403, "IDEMPOTENCY_KEY_REQUIRED": 422,
    # media
    "MEDIA_NOT_LIVE": 404, "MEDIA_SESSION_NOT_FOUND": 404, "MEDIA_BAD_OFFER": 400,
    "MEDIA_FILE_NOT_FOUND": 404, "MEDIA_TIER_FORBIDDEN": 403, "MEDIA_PUBLISHER_ONLY": 403,
    "MEDIA_NOT_SDP": 415, "MEDIA_UNAVAILABLE": 503,
    # the edge's own
    "NOT_FOUND": 404, "METHOD_NOT_ALLOWED": 405, "PAYLOAD_TOO_LARGE": 413,
    "INTERNAL_ERROR": 500, "HTTP_ERROR": 400,
}
# a code nobody mapped is a bug: answered 500, never guessed
UNMAPPED_STATUS = 500


def status_of(code: str) -> int:
    return STATUS.get(code, UNMAPPED_STATUS)


def title_of(code: str) -> str:
    cls = errors.ERRORS_BY_CODE.get(code)
    return cls.title if cls is not None else code.replace("_", " ").capitalize()


def problem_body(code: str, detail: str, status: int | None = None, **facts: Any
                 ) -> dict[str, Any]:
    """The problem+json body of an error code, with the facts that help the client."""
    return {
        "type": TYPE_BASE + code.lower().replace("_", "-"),
        "title": title_of(code),
        "status": status or status_of(code),
        "code": code,
        "detail": detail,
        **{k: _jsonable(v) for k, v in facts.items()},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def problem_response(code: str, detail: str, headers: dict[str, str] | None = None,
                     status: int | None = None, **facts: Any) -> JSONResponse:
    """The answer for ``code``; 429/503 carry ``Retry-After`` when the facts say when.

    ``status`` is only for the edge's own HTTP errors (Starlette's 404/405/...).
    """
    status = status or status_of(code)
    retry = facts.get("retry_after_s")
    if status in (429, 503) and retry is not None:
        headers = {**(headers or {}), "Retry-After": str(max(1, round(float(retry) + 0.499)))}
    if status == UNMAPPED_STATUS and code not in STATUS:
        log.error("error code %s has no HTTP status: answered 500", code)
    return JSONResponse(problem_body(code, detail, status, **facts), status_code=status,
                        media_type=PROBLEM_JSON, headers=headers)


def unwrap(exc: BaseException) -> BaseException:
    """The domain error inside Ray's wrapper (an actor raised it), or ``exc`` itself."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, DomainError):
        return cause
    return exc


def from_exception(exc: BaseException) -> JSONResponse:
    """The problem answer for any domain error (re-raises anything else)."""
    found = unwrap(exc)
    if isinstance(found, DomainError):
        return problem_response(found.code, found.detail, **found.facts)
    raise exc


def internal_error(exc: BaseException) -> JSONResponse:
    """The answer to a bug or an unexpected outage (logged with its traceback)."""
    found = unwrap(exc)
    if isinstance(found, DomainError):
        return from_exception(found)
    log.exception("unhandled error", exc_info=exc)
    return problem_response("INTERNAL_ERROR",
                            "an unexpected error; nothing was confirmed by this request")


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a problem+json answer."""

    async def domain(_: Request, exc: Exception) -> JSONResponse:
        return from_exception(exc)

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        found = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in found)
        return problem_response(validation_code(found), detail or "invalid request",
                                errors=found)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names one route's methods, not the path's
            headers["Allow"] = allowed_methods(request)
        return problem_response(code, str(exc.detail), headers=headers, status=exc.status_code)

    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return internal_error(exc)

    app.add_exception_handler(DomainError, domain)
    app.add_exception_handler(Exception, internal)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)


def allowed_methods(request: Request) -> str:
    """Every method some route answers on this request's path (HEAD wherever GET is)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # through included routers
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def validation_code(found: list[dict[str, Any]]) -> str:
    """Price and money fields keep their domain codes even when pydantic catches them."""
    for error in found:
        field = str(error["loc"][-1]) if error["loc"] else ""
        if field.lower() == "idempotency-key":
            return "IDEMPOTENCY_KEY_REQUIRED"
        if field == "price" or field.startswith("prices"):
            return "INVALID_ODDS"
        if field in ("stake", "amount") or field.startswith(("deposit_", "loss_", "stake_")):
            return "INVALID_AMOUNT"
    return "VALIDATION_ERROR"
