"""Accounts and sessions: register, log in, who am I."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain.clock import rfc3339_ms
from serve_apps import docs
from serve_apps.deps import account_service, principal
from serve_apps.models import AccountOut, RegisteredOut, RegisterRequest, SessionOut, SessionRequest
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import AccountService, Principal
from serve_apps.views import account_body, json_response

router = APIRouter(tags=["accounts"], route_class=AuthFirstRoute)


@router.post("/v1/accounts", status_code=201, response_model=RegisteredOut,
             responses=docs.responses(201, *docs.BODY, "USERNAME_TAKEN", "UNDERAGE",
                                      ok=RegisteredOut))
async def register(body: RegisterRequest, accounts: AccountService = Depends(account_service)
                   ) -> Response:
    """Open a player account; KYC starts ``pending`` (the demo provider verifies it soon).

    Under 18: 422 ``UNDERAGE``; a taken username: 409 ``USERNAME_TAKEN``.
    """
    account = await accounts.register(body.username, body.password, body.jurisdiction,
                                      body.date_of_birth)
    return json_response({"account_id": account.account_id,
                          "kyc_status": account.kyc_status.value}, 201)


@router.post("/v1/sessions", response_model=SessionOut,
             responses=docs.responses(200, *docs.BODY, "BAD_CREDENTIALS", "RATE_LIMITED",
                                      ok=SessionOut))
async def login(body: SessionRequest, request: Request,
                accounts: AccountService = Depends(account_service)) -> Response:
    """A bearer token; the same 401 ``BAD_CREDENTIALS`` for an unknown user or a bad password.

    Throttled against password guessing: past a few failed attempts for one account name (or
    many from one address), 429 ``RATE_LIMITED`` with ``Retry-After`` (a backoff that doubles
    per attempt, capped), whether or not the account exists.
    """
    session = await accounts.login(body.username, body.password, client_address(request))
    return json_response({"token": session.token,
                          "expires_at": rfc3339_ms(session.expires_at),
                          "account_id": session.account.account_id,
                          "role": session.account.role.value})


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or, when the peer is on this machine (Serve's
    HAProxy, which ``inplay up`` has set it to the client's address), ``X-Forwarded-For``'s
    last entry; ``""`` (unknown) when a local proxy did not say, e.g. a cluster whose HAProxy
    runs without inplay's wrapper: the login throttle then counts per account name only."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "")
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if local:
        return forwarded.rsplit(",", 1)[-1].strip()[:64]
    return peer


@router.get("/v1/me", response_model=AccountOut,
            responses=docs.responses(200, *docs.AUTH, "UNKNOWN_ACCOUNT", ok=AccountOut))
async def me(who: Principal = Depends(principal),
             accounts: AccountService = Depends(account_service)) -> Response:
    """The account: KYC status, limits (with pending increases), exclusion, jurisdiction."""
    return json_response(account_body(await accounts.get(who.account_id)))
