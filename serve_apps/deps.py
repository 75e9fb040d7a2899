"""FastAPI dependencies: each route asks for the one service it needs, and for its caller.

The services of a replica (``serve_apps.services.ApiServices``) hang off ``app.state``.
Authentication comes before anything else a request is checked for (a request without a
token is 401 whatever else is wrong with it). Dependencies are ``async def`` on purpose:
FastAPI runs plain ``def`` dependencies in a thread pool, a thread hop each per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain import errors
from domain.identity import Role
from serve_apps.services import (
    AccountService,
    ApiServices,
    AuditService,
    BetService,
    EventService,
    MediaService,
    Principal,
    Readiness,
    ReviewService,
    WalletService,
    check_idempotency_key,
    require_role,
)

# the scheme behind the OpenAPI "Authorize" button; checked by ``principal`` below
bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`: a player "
                    "token from POST /v1/sessions, or an operator/publisher token from "
                    "`inplay token create`.")


def current(app: Any) -> ApiServices:
    """The services ``app`` was built with."""
    found: ApiServices | None = getattr(app.state, "services", None)
    if found is None:
        raise errors.Unavailable("the API is starting")
    return found


async def services(request: Request) -> ApiServices:
    return current(request.app)


async def principal(request: Request,
                    _: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The caller, from the bearer token (401 ``UNAUTHENTICATED`` otherwise)."""
    return current(request.app).auth.principal(request.headers.get("authorization", ""))


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers with one of ``roles`` (403 ``FORBIDDEN``)."""

    async def check(who: Principal = Depends(principal)) -> Principal:
        return require_role(who, *roles)

    return check


player = require(Role.PLAYER)
operator = require(Role.OPERATOR)
publisher = require(Role.PUBLISHER)


async def idempotency_key(
    idempotency_key: str | None = Header(
        default=None, alias="Idempotency-Key", min_length=1, max_length=64,
        description="1-64 printable characters; the same key with the same body returns the "
                    "original outcome, with another body 422 IDEMPOTENCY_KEY_REUSED."),
) -> str:
    return check_idempotency_key(idempotency_key or "")


async def bet_service(request: Request) -> BetService:
    return current(request.app).bets


async def event_service(request: Request) -> EventService:
    return current(request.app).events


async def account_service(request: Request) -> AccountService:
    return current(request.app).accounts


async def wallet_service(request: Request) -> WalletService:
    return current(request.app).wallet


async def review_service(request: Request) -> ReviewService:
    return current(request.app).reviews


async def audit_service(request: Request) -> AuditService:
    return current(request.app).audit


async def media_service(request: Request) -> MediaService:
    return current(request.app).media


async def readiness(request: Request) -> Readiness:
    return current(request.app).readiness
