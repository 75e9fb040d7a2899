"""Wallet and responsible gambling: balance, deposits, withdrawals, limits, exclusion."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from domain.jurisdiction import PaymentMethod
from domain.limits import ExclusionPeriod
from serve_apps import docs
from serve_apps.deps import idempotency_key, player, wallet_service
from serve_apps.models import (
    DepositRequest,
    ExclusionOut,
    LimitChangesOut,
    LimitsRequest,
    ReceiptOut,
    SelfExclusionRequest,
    StatementOut,
    WalletOut,
    WithdrawalRequest,
)
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import Principal, WalletService
from serve_apps.views import (
    balance_body,
    exclusion_body,
    json_response,
    limit_changes_body,
    receipt_body,
    statement_body,
)
from storage.wallet import Receipt

router = APIRouter(tags=["wallet"], route_class=AuthFirstRoute)


@router.get("/v1/wallet", response_model=WalletOut,
            responses=docs.responses(200, *docs.ROLE, ok=WalletOut))
async def wallet(who: Principal = Depends(player),
                 money: WalletService = Depends(wallet_service)) -> Response:
    """``{balance, reserved, currency}`` plus money held for review and any debt."""
    return json_response(balance_body(await money.balance(who)))


def _receipt(receipt: Receipt) -> Response:
    return json_response(receipt_body(receipt),
                         202 if receipt.status == "pending_review" else 201)


_HELD = {202: "Held for an operator's review (large amounts)"}


@router.post("/v1/wallet/deposits", status_code=201, response_model=ReceiptOut,
             responses=docs.responses(
                 201, 202, *docs.ROLE, *docs.BODY, *docs.IDEMPOTENT, "INVALID_AMOUNT",
                 "DEPOSIT_LIMIT", "JURISDICTION_BLOCKED", "SELF_EXCLUDED", "ACCOUNT_CLOSED",
                 "UNKNOWN_ACCOUNT", ok=ReceiptOut, descriptions=_HELD))
async def deposit(body: DepositRequest, who: Principal = Depends(player),
                  key: str = Depends(idempotency_key),
                  money: WalletService = Depends(wallet_service)) -> Response:
    """201 completed, 202 held for review; 403 ``DEPOSIT_LIMIT`` / ``JURISDICTION_BLOCKED``."""
    return _receipt(await money.deposit(who, key, body.amount, PaymentMethod(body.method)))


@router.post("/v1/wallet/withdrawals", status_code=201, response_model=ReceiptOut,
             responses=docs.responses(
                 201, 202, *docs.ROLE, *docs.BODY, *docs.IDEMPOTENT, "INVALID_AMOUNT",
                 "INSUFFICIENT_FUNDS", "UNKNOWN_ACCOUNT", ok=ReceiptOut, descriptions=_HELD))
async def withdraw(body: WithdrawalRequest, who: Principal = Depends(player),
                   key: str = Depends(idempotency_key),
                   money: WalletService = Depends(wallet_service)) -> Response:
    """201 paid, 202 ``pending_review`` on the held path; 402 ``INSUFFICIENT_FUNDS``."""
    return _receipt(await money.withdraw(who, key, body.amount))


@router.put("/v1/limits", response_model=LimitChangesOut,
            responses=docs.responses(200, *docs.ROLE, *docs.BODY, "INVALID_AMOUNT",
                                     "UNKNOWN_ACCOUNT", ok=LimitChangesOut))
async def set_limits(body: LimitsRequest, who: Principal = Depends(player),
                     money: WalletService = Depends(wallet_service)) -> Response:
    """Decreases bind at once; increases after the cooling-off (the answer says when)."""
    results = await money.set_limits(who, body.model_dump(exclude_unset=True))
    return json_response(limit_changes_body(results))


@router.post("/v1/self-exclusion", status_code=201, response_model=ExclusionOut,
             responses=docs.responses(201, *docs.ROLE, *docs.BODY, "UNKNOWN_ACCOUNT",
                                      ok=ExclusionOut))
async def self_exclude(body: SelfExclusionRequest, who: Principal = Depends(player),
                       money: WalletService = Depends(wallet_service)) -> Response:
    """Immediate: no bet is accepted from the moment this answers; cannot be lifted early."""
    exclusion = await money.self_exclude(who, ExclusionPeriod(body.period))
    return json_response(exclusion_body(exclusion), 201)


@router.get("/v1/statements", response_model=StatementOut,
            responses=docs.responses(200, *docs.ROLE, *docs.INVALID, ok=StatementOut))
async def statement(month: str = Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                       description="YYYY-MM"),
                    who: Principal = Depends(player),
                    money: WalletService = Depends(wallet_service)) -> Response:
    """Deposits, withdrawals, stakes, returns and net result for one month."""
    return json_response(statement_body(await money.statement(who, month)))
