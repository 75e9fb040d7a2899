"""One error tree for the whole platform: every refusal has a stable machine ``code``.

An error carries its code, a human ``detail`` and the facts that help the client (the current
price, a ``max_stake`` counter-offer, ``retry_after_s``, ...). It never carries an HTTP status:
the edge alone maps codes to statuses (``serve_apps.problems``), once, for every route.

Errors cross process boundaries (Ray actors, Lua scripts) as ``(code, detail, facts)``:
``from_code`` rebuilds the right class, and pickling keeps the facts.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every refusal the platform gives."""

    code: ClassVar[str] = "DOMAIN_ERROR"
    title: ClassVar[str] = "Refused"

    def __init__(self, detail: str = "", **facts: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code.replace("_", " ").lower()
        self.facts: dict[str, Any] = facts

    def __getattr__(self, name: str) -> Any:
        # facts read as attributes (err.retry_after_s); only called for missing names
        facts = self.__dict__.get("facts", {})
        if name in facts:
            return facts[name]
        raise AttributeError(name)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Exception pickles only ``args``: keep the facts when crossing a process boundary
        return _rebuild, (type(self), self.detail, self.facts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, **{self.facts!r})"


def _rebuild(cls: type[DomainError], detail: str, facts: dict[str, Any]) -> DomainError:
    return cls(detail, **facts)


# --- the event book ---------------------------------------------------------------------


class BettingError(DomainError):
    """A refusal of the event book (markets, prices, limits)."""


class UnknownEvent(BettingError):
    code, title = "UNKNOWN_EVENT", "Unknown event"


class UnknownMarket(BettingError):
    code, title = "UNKNOWN_MARKET", "Unknown market"


class UnknownSelection(BettingError):
    code, title = "UNKNOWN_SELECTION", "Unknown selection"


class UnknownBet(BettingError):
    code, title = "UNKNOWN_BET", "Unknown bet"


class MarketSuspended(BettingError):
    code, title = "MARKET_SUSPENDED", "Market suspended"


class MarketClosed(BettingError):
    code, title = "MARKET_CLOSED", "Market closed"


class PriceChanged(BettingError):
    code, title = "PRICE_CHANGED", "Price changed"


class ScoreChanged(BettingError):
    code, title = "SCORE_CHANGED", "Score changed during the delay"


class LiabilityLimit(BettingError):
    code, title = "LIABILITY_LIMIT", "Liability limit reached"


class StakeAboveMax(BettingError):
    code, title = "STAKE_ABOVE_MAX", "Stake above the maximum"


class PayoutAboveMax(BettingError):
    code, title = "PAYOUT_ABOVE_MAX", "Payout above the maximum"


class InvalidOdds(BettingError):
    code, title = "INVALID_ODDS", "Price not on the ladder"


class EventExists(BettingError):
    code, title = "EVENT_EXISTS", "Event exists with another definition"


class InvalidTransition(BettingError):
    code, title = "INVALID_TRANSITION", "Invalid transition"


class InvalidEvent(BettingError):
    code, title = "INVALID_EVENT", "Invalid event definition"


class MarketOpen(BettingError):
    """A result for a market still taking bets, without asking to close it."""

    code, title = "MARKET_OPEN", "Market still open"


class ResultConflict(BettingError):
    """The same result version again, with other content."""

    code, title = "RESULT_CONFLICT", "Result version already given otherwise"


class StaleResult(BettingError):
    """A result version at or below one already given (or rolled back)."""

    code, title = "STALE_RESULT_VERSION", "Result version is not the newest"


class NothingToRollBack(BettingError):
    code, title = "NOTHING_TO_ROLL_BACK", "Nothing to roll back"


class InvalidWindow(BettingError):
    code, title = "INVALID_WINDOW", "Invalid void window"


class UnknownWindow(BettingError):
    code, title = "UNKNOWN_WINDOW", "Unknown void window"


class CashoutUnavailable(BettingError):
    code, title = "CASHOUT_UNAVAILABLE", "Cash-out unavailable"


# --- requests in general ----------------------------------------------------------------


class InvalidFeedMessage(BettingError):
    """A feed message that is malformed (``field`` names what): nothing was changed."""

    code, title = "INVALID_FEED_MESSAGE", "Invalid feed message"


class DelayTooShort(BettingError):
    """An in-play delay at or below what the fastest video tier shows (courtsiding)."""

    code, title = "DELAY_TOO_SHORT", "In-play delay below the video latency"


class InvalidAmount(DomainError):
    """Money that is not positive or has more than two decimal places."""

    code, title = "INVALID_AMOUNT", "Invalid amount"


class IdempotencyKeyReused(DomainError):
    """The key (operation id) was used before with a different request."""

    code, title = "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused"


class ValidationFailed(DomainError):
    """A request field is malformed (jurisdiction, username, period, ...)."""

    code, title = "VALIDATION_ERROR", "Invalid request"


class Unavailable(DomainError):
    """Temporarily unable to answer; for a bet: its outcome is not known yet."""

    code, title = "UNAVAILABLE", "Temporarily unavailable"


class Overloaded(DomainError):
    """Too much waiting already; nothing was done (``retry_after_s``)."""

    code, title = "OVERLOADED", "Too many requests waiting"


# --- wallets, accounts and player protection ----------------------------------------------


class WalletError(DomainError):
    """A refusal of the wallet or the account rules (checked inside the Lua scripts)."""


class InsufficientFunds(WalletError):
    code, title = "INSUFFICIENT_FUNDS", "Insufficient funds"


class SelfExcluded(WalletError):
    code, title = "SELF_EXCLUDED", "Self-excluded"


class LimitExceeded(WalletError):
    code, title = "LIMIT_EXCEEDED", "Limit exceeded"


class DepositLimit(WalletError):
    code, title = "DEPOSIT_LIMIT", "Deposit limit reached"


class KycRequired(WalletError):
    code, title = "KYC_REQUIRED", "Identity not verified"


class JurisdictionBlocked(WalletError):
    """The product or payment method is not allowed in the account's jurisdiction."""

    code, title = "JURISDICTION_BLOCKED", "Not allowed in your jurisdiction"


class AccountClosed(WalletError):
    code, title = "ACCOUNT_CLOSED", "Account closed"


class RateLimited(WalletError):
    """Too many requests; ``retry_after_s`` says when to retry."""

    code, title = "RATE_LIMITED", "Too many requests"


class UnknownAccount(WalletError):
    code, title = "UNKNOWN_ACCOUNT", "Unknown account"


class UnknownOperation(WalletError):
    """No such operation (reservation, credit or review), or not in a usable state."""

    code, title = "UNKNOWN_OPERATION", "Unknown operation"


class AlreadyDecided(WalletError):
    """A review or reservation was already decided the other way."""

    code, title = "ALREADY_DECIDED", "Already decided"


class Underage(WalletError):
    code, title = "UNDERAGE", "Under age"


class BadCredentials(WalletError):
    """Unknown user or wrong password: deliberately the same answer."""

    code, title = "BAD_CREDENTIALS", "Bad credentials"


class UsernameTaken(WalletError):
    code, title = "USERNAME_TAKEN", "Username taken"


class UnknownReview(WalletError):
    code, title = "UNKNOWN_REVIEW", "Unknown review"


# --- who may do what ----------------------------------------------------------------------


class Unauthenticated(DomainError):
    code, title = "UNAUTHENTICATED", "Authentication required"


class Forbidden(DomainError):
    code, title = "FORBIDDEN", "Not allowed"


class IdempotencyKeyRequired(DomainError):
    code, title = "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key required"


# --- media --------------------------------------------------------------------------------


class MediaError(DomainError):
    """A refusal of the media signalling (WHIP/WHEP/HLS)."""


class MediaNotLive(MediaError):
    code, title = "MEDIA_NOT_LIVE", "No live stream"


class MediaSessionNotFound(MediaError):
    code, title = "MEDIA_SESSION_NOT_FOUND", "Unknown media session"


class MediaBadOffer(MediaError):
    code, title = "MEDIA_BAD_OFFER", "Unusable SDP offer"


class MediaFileNotFound(MediaError):
    code, title = "MEDIA_FILE_NOT_FOUND", "No such media file"


class MediaTierForbidden(MediaError):
    code, title = "MEDIA_TIER_FORBIDDEN", "Tier not allowed"


class MediaPublisherOnly(MediaError):
    code, title = "MEDIA_PUBLISHER_ONLY", "Publishers only"


class MediaNotSdp(MediaError):
    code, title = "MEDIA_NOT_SDP", "Unsupported media type"


class MediaUnavailable(MediaError):
    code, title = "MEDIA_UNAVAILABLE", "Media unavailable"


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    out: list[type[DomainError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls for cls in _subclasses(DomainError) if "code" in cls.__dict__
}


def from_code(code: str, detail: str = "", **facts: Any) -> DomainError:
    """The error for ``code`` (an unknown code is a plain DomainError carrying it)."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        error = DomainError(detail or code, **facts)
        error.facts.setdefault("unknown_code", code)
        return error
    return cls(detail, **facts)
