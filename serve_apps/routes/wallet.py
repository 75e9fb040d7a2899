"""Wallet and responsible gambling: balance, deposits, withdrawals, limits, exclusion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from serve_apps.deps import Principal, Services, idempotency_key, player, services
from serve_apps.models import DepositRequest, LimitsRequest, SelfExclusionRequest, WithdrawalRequest
from storage.reviews import ReviewQueue
from storage.wallet import Receipt

router = APIRouter(tags=["wallet"])


def money(value: Any) -> str:
    return f"{value:.2f}"


def receipt_body(receipt: Receipt) -> dict[str, Any]:
    return {"operation_id": receipt.op_id, "kind": receipt.kind, "status": receipt.status,
            "amount": money(receipt.amount), "available": money(receipt.available),
            "at": receipt.at.isoformat().replace("+00:00", "Z"), "replayed": receipt.replayed}


@router.get("/v1/wallet")
async def wallet(who: Principal = Depends(player), svc: Services = Depends(services)
                 ) -> dict[str, Any]:
    """``{balance, reserved, currency}`` plus money held for review and any debt."""
    b = await svc.wallet.balance(who.account_id)
    return {"balance": money(b.available), "reserved": money(b.reserved),
            "currency": b.currency, "held_for_review": money(b.deposit_hold + b.withdrawal_hold),
            "debt": money(b.debt)}


async def _money_op(kind: str, receipt: Receipt, who: Principal, svc: Services) -> JSONResponse:
    if receipt.status == "pending_review":
        await ReviewQueue(svc.redis).add(kind, who.account_id, receipt.op_id,
                                         amount=money(receipt.amount))
        return JSONResponse(receipt_body(receipt), status_code=202)
    return JSONResponse(receipt_body(receipt), status_code=201)


@router.post("/v1/wallet/deposits", status_code=201)
async def deposit(body: DepositRequest, key: str = Depends(idempotency_key),
                  who: Principal = Depends(player), svc: Services = Depends(services)
                  ) -> JSONResponse:
    """201 completed, 202 held for review; 403 ``DEPOSIT_LIMIT`` / ``JURISDICTION_BLOCKED``."""
    receipt = await svc.wallet.deposit(who.account_id, f"dep:{key}", body.amount, body.method)
    return await _money_op("deposit", receipt, who, svc)


@router.post("/v1/wallet/withdrawals", status_code=201)
async def withdraw(body: WithdrawalRequest, key: str = Depends(idempotency_key),
                   who: Principal = Depends(player), svc: Services = Depends(services)
                   ) -> JSONResponse:
    """201 paid, 202 ``pending_review`` on the held path; 402 ``INSUFFICIENT_FUNDS``."""
    receipt = await svc.wallet.withdraw(who.account_id, f"wd:{key}", body.amount)
    return await _money_op("withdrawal", receipt, who, svc)


@router.put("/v1/limits")
async def set_limits(body: LimitsRequest, who: Principal = Depends(player),
                     svc: Services = Depends(services)) -> dict[str, Any]:
    """Decreases bind at once; increases after the cooling-off (the answer says when)."""
    changes = body.model_dump(exclude_unset=True)
    results = await svc.accounts.set_limits(who.account_id, changes)
    return {"changes": [
        {"limit": r.name, "value": None if r.value is None else money(r.value),
         "immediate": r.immediate, "effective_at": r.effective_at} for r in results]}


@router.post("/v1/self-exclusion", status_code=201)
async def self_exclude(body: SelfExclusionRequest, who: Principal = Depends(player),
                       svc: Services = Depends(services)) -> dict[str, Any]:
    """Immediate: no bet is accepted from the moment this answers; cannot be lifted early."""
    exclusion = await svc.accounts.self_exclude(who.account_id, body.period)
    return {"period": exclusion.period.value, "until": exclusion.until_rfc3339,
            "permanent": exclusion.until is None}


@router.get("/v1/statements")
async def statement(month: str = Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$"),
                    who: Principal = Depends(player), svc: Services = Depends(services)
                    ) -> dict[str, Any]:
    """Deposits, withdrawals, stakes, returns and net result for one month."""
    s = await svc.wallet.statement(who.account_id, month)
    return {"month": s.month, "currency": s.currency, "deposits": money(s.deposits),
            "withdrawals": money(s.withdrawals), "stakes": money(s.stakes),
            "returns": money(s.returns), "net_result": money(s.net_result),
            "opening_balance": money(s.opening_balance),
            "closing_balance": money(s.closing_balance), "entries": s.entries}
