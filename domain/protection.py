"""Player protection as pure rules: which money movements an account may make, and why not.

The rules that bind run inside the wallet's Lua scripts, in the same atomic step that moves
the money (no cache can lag behind an exclusion or a limit change). These functions are the
same rules in Python: the oracle that ``tests/integration/test_lua_contract.py`` runs random
inputs through, next to the scripts, asserting both give the same answer. Each returns the
refusal's error code, or ``None`` when the movement is allowed; the order of the checks is
the order the scripts check in (it decides which refusal a player sees).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.errors import (
    AccountClosed,
    DepositLimit,
    InsufficientFunds,
    JurisdictionBlocked,
    KycRequired,
    LimitExceeded,
    SelfExcluded,
    UnknownAccount,
)
from domain.jurisdiction import (
    JURISDICTION_RULES,
    JurisdictionRule,
    PaymentMethod,
    Product,
    method_allowed,
    product_allowed,
)
from domain.limits import DEPOSIT_LIMITS, LimitName, LimitState


@dataclass(frozen=True)
class AccountFacts:
    """What the scripts read of an account before moving its money."""

    status: str = "open"
    kyc: str = "verified"
    jurisdiction: str = "GB"
    excluded_until_ms: int = 0
    limits: Mapping[LimitName, LimitState] = field(default_factory=dict)

    def limit(self, name: LimitName, now_ms: int) -> int | None:
        """The value of limit ``name`` that binds at ``now_ms`` (None: no limit)."""
        state = self.limits.get(name)
        return None if state is None else state.effective(now_ms)


def _open_and_not_excluded(account: AccountFacts | None, now_ms: int) -> str | None:
    if account is None:
        return UnknownAccount.code
    if account.status != "open":
        return AccountClosed.code
    if account.excluded_until_ms > now_ms:
        return SelfExcluded.code
    return None


def reserve_refusal(account: AccountFacts | None, *, amount: int, product: Product,
                    now_ms: int, lost_in_window: int, available: int,
                    rules: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> str | None:
    """May this account stake ``amount`` cents on ``product`` now?

    ``lost_in_window``: stakes minus returns in the loss limit's rolling window;
    ``available``: the available balance in cents.
    """
    refused = _open_and_not_excluded(account, now_ms)
    if refused is not None or account is None:
        return refused
    if account.kyc != "verified":
        return KycRequired.code
    if not product_allowed(account.jurisdiction, product, rules):
        return JurisdictionBlocked.code
    stake_max = account.limit(LimitName.STAKE_MAX, now_ms)
    if stake_max is not None and amount > stake_max:
        return LimitExceeded.code
    loss_max = account.limit(LimitName.LOSS_DAILY, now_ms)
    if loss_max is not None and lost_in_window + amount > loss_max:
        return LimitExceeded.code
    if available < amount:
        return InsufficientFunds.code
    return None


def deposit_refusal(account: AccountFacts | None, *, amount: int, method: PaymentMethod,
                    now_ms: int, deposited_in_windows: Mapping[LimitName, int],
                    rules: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> str | None:
    """May this account deposit ``amount`` cents by ``method`` now?

    ``deposited_in_windows``: what was deposited in each deposit limit's rolling window.
    """
    refused = _open_and_not_excluded(account, now_ms)
    if refused is not None or account is None:
        return refused
    if not method_allowed(account.jurisdiction, method, rules):
        return JurisdictionBlocked.code
    for name in DEPOSIT_LIMITS:
        limit = account.limit(name, now_ms)
        if limit is not None and deposited_in_windows.get(name, 0) + amount > limit:
            return DepositLimit.code
    return None


def withdrawal_refusal(account: AccountFacts | None, *, amount: int, available: int
                       ) -> str | None:
    """May this account withdraw ``amount`` cents? Closed or excluded players still may."""
    if account is None:
        return UnknownAccount.code
    if available < amount:
        return InsufficientFunds.code
    return None


def held_for_review(amount: int, threshold: int) -> bool:
    """Large deposits and withdrawals wait for an operator (a threshold of 0: never)."""
    return threshold > 0 and amount >= threshold
