"""The money side's error tree, mapped once to problem+json at the HTTP edge.

Every error carries a stable machine ``code``, the HTTP ``status``, a human ``detail`` and
``extra`` fields that help the client (e.g. ``retry_after_s``, ``available``, ``limit``).
"""

from __future__ import annotations

from typing import Any


class WalletError(Exception):
    """Base of wallet and account errors: ``code``, ``status``, ``detail``, ``extra``."""

    code = "WALLET_ERROR"
    status = 500

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(f"{self.code}: {detail}" if detail else self.code)
        self.detail = detail or self.code.replace("_", " ").lower()
        self.extra: dict[str, Any] = extra

    def __getattr__(self, name: str) -> Any:
        # extra fields read as attributes (err.retry_after_s); only called for missing names
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(name)

    def problem(self) -> dict[str, Any]:
        """RFC 9457 problem details body."""
        body: dict[str, Any] = {
            "type": f"https://inplay.dev/problems/{self.code.lower().replace('_', '-')}",
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        body.update({k: str(v) if not isinstance(v, int | str | bool) else v
                     for k, v in self.extra.items()})
        return body


class InsufficientFunds(WalletError):
    """Not enough available balance."""

    code, status = "INSUFFICIENT_FUNDS", 402


class SelfExcluded(WalletError):
    """The account is self-excluded."""

    code, status = "SELF_EXCLUDED", 403


class LimitExceeded(WalletError):
    """A stake or loss limit would be exceeded."""

    code, status = "LIMIT_EXCEEDED", 403


class DepositLimit(WalletError):
    """A deposit limit would be exceeded."""

    code, status = "DEPOSIT_LIMIT", 403


class KycRequired(WalletError):
    """Identity not verified."""

    code, status = "KYC_REQUIRED", 403


class JurisdictionBlocked(WalletError):
    """The product or payment method is not allowed in the account's jurisdiction."""

    code, status = "JURISDICTION_BLOCKED", 403


class AccountClosed(WalletError):
    """The account is closed."""

    code, status = "ACCOUNT_CLOSED", 403


class RateLimited(WalletError):
    """Too many requests; ``retry_after_s`` says when to retry."""

    code, status = "RATE_LIMITED", 429


class IdempotencyKeyReused(WalletError):
    """The operation id was used before with a different body."""

    code, status = "IDEMPOTENCY_KEY_REUSED", 422


class InvalidAmount(WalletError):
    """Money that is not positive or has more than two decimal places."""

    code, status = "INVALID_AMOUNT", 422


class UnknownAccount(WalletError):
    """No such account."""

    code, status = "UNKNOWN_ACCOUNT", 404


class UnknownOperation(WalletError):
    """No such operation (reservation, credit or review), or not in a usable state."""

    code, status = "UNKNOWN_OPERATION", 404


class Underage(WalletError):
    """Registration under 18."""

    code, status = "UNDERAGE", 422


class BadCredentials(WalletError):
    """Unknown user or wrong password: deliberately the same answer."""

    code, status = "BAD_CREDENTIALS", 401


class ValidationFailed(WalletError):
    """A request field is malformed (e.g. jurisdiction, username, period)."""

    code, status = "VALIDATION_ERROR", 422


class UsernameTaken(WalletError):
    """The username is already registered."""

    code, status = "USERNAME_TAKEN", 409


ERRORS_BY_CODE: dict[str, type[WalletError]] = {
    cls.code: cls
    for cls in (InsufficientFunds, SelfExcluded, LimitExceeded, DepositLimit, KycRequired,
                JurisdictionBlocked, AccountClosed, RateLimited, IdempotencyKeyReused,
                InvalidAmount, UnknownAccount, UnknownOperation, Underage, BadCredentials,
                ValidationFailed, UsernameTaken)
}


def error_from_code(code: str, detail: str = "", **extra: Any) -> WalletError:
    """The error instance for a script's ``code``."""
    return ERRORS_BY_CODE.get(code, WalletError)(detail, **extra)
