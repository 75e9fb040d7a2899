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
from serve_apps.services import ApiServices, Principal, check_idempotency_key, require_role

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
# feed messages over HTTP: an operator, or a provider with its own token
feed_publisher = require(Role.OPERATOR, Role.FEED)


async def idempotency_key(
    idempotency_key: str | None = Header(
        default=None, alias="Idempotency-Key", min_length=1, max_length=64,
        description="1-64 printable characters; the same key with the same body returns the "
                    "original outcome, with another body 422 IDEMPOTENCY_KEY_REUSED."),
) -> str:
    return check_idempotency_key(idempotency_key or "")


def _service(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency giving the replica's service ``name`` (an attribute of ApiServices)."""

    async def service(request: Request) -> Any:
        return getattr(current(request.app), name)

    service.__name__ = f"{name}_service"
    return service


bet_service = _service("bets")
event_service = _service("events")
account_service = _service("accounts")
wallet_service = _service("wallet")
review_service = _service("reviews")
audit_service = _service("audit")
media_service = _service("media")
readiness = _service("readiness")
feed_service = _service("feed")
stream_service = _service("streams")
