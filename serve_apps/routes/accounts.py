"""Accounts and sessions: register, log in, who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from serve_apps.deps import Principal, Services, principal, services
from serve_apps.models import RegisterRequest, SessionRequest
from storage.accounts import account_json

router = APIRouter(tags=["accounts"])


@router.post("/v1/accounts", status_code=201)
async def register(body: RegisterRequest, svc: Services = Depends(services)) -> JSONResponse:
    """Open a player account; KYC starts ``pending`` (the demo provider verifies it soon)."""
    account = await svc.accounts.register(
        body.username, body.password, body.jurisdiction.upper(), body.date_of_birth)
    if svc.kyc is not None:
        svc.background(svc.accounts.run_kyc(account.account_id, svc.kyc))
    return JSONResponse(
        {"account_id": account.account_id, "kyc_status": account.kyc_status.value},
        status_code=201)


@router.post("/v1/sessions")
async def login(body: SessionRequest, svc: Services = Depends(services)) -> dict[str, Any]:
    """A bearer token; the same 401 ``BAD_CREDENTIALS`` for an unknown user or a bad password."""
    account = await svc.accounts.authenticate(body.username, body.password)
    issued = svc.signer.issue(account.account_id, account.role, svc.settings.token_ttl_s)
    expires = datetime.fromtimestamp(issued.claims.expires_at, tz=UTC)
    return {"token": issued.token, "expires_at": expires.isoformat().replace("+00:00", "Z"),
            "account_id": account.account_id, "role": account.role.value}


@router.get("/v1/me")
async def me(who: Principal = Depends(principal), svc: Services = Depends(services)
             ) -> Response:
    """The account: KYC status, limits (with pending increases), exclusion, jurisdiction."""
    account = await svc.accounts.get(who.account_id)
    body = orjson.loads(account_json(account))
    return JSONResponse(body)
