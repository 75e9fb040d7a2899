"""Money: ``Decimal`` with two places in Python, integer cents inside Redis. Never a float."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from domain.errors import InvalidAmount

CENT = Decimal("0.01")
ZERO = Decimal("0")
# Lua numbers are doubles: every cent value must stay far below 2**53 to be exact.
MAX_AMOUNT_CENTS = 10**13


def to_cents(amount: Decimal | str | int) -> int:
    """Positive money (at most 2 decimal places) → integer cents; floats are refused."""
    if isinstance(amount, float | bool):
        raise InvalidAmount(f"money must be a Decimal, str or int, not {type(amount).__name__}",
                            amount=str(amount))
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidAmount(f"not a decimal amount: {amount!r}", amount=str(amount)) from exc
    if not value.is_finite() or value <= 0:
        raise InvalidAmount(f"amount must be positive: {amount!r}", amount=str(amount))
    if value != value.quantize(CENT):
        raise InvalidAmount(f"amount has more than 2 decimal places: {amount!r}",
                            amount=str(amount))
    cents = int(value * 100)
    if cents > MAX_AMOUNT_CENTS:
        raise InvalidAmount(f"amount too large: {amount!r}", amount=str(amount))
    return cents


def from_cents(cents: int | str) -> Decimal:
    """Integer cents → ``Decimal`` with two places."""
    return (Decimal(int(cents)) / 100).quantize(CENT)


def money(value: Decimal) -> str:
    """Money as the API shows it: two places, never rounded up (``"12.50"``)."""
    return f"{value.quantize(CENT, rounding=ROUND_DOWN)}"


def canonical(value: Decimal) -> str:
    """A stable text of an amount for fingerprints (``10`` and ``10.00`` are the same)."""
    try:
        return str(value.quantize(CENT))
    except ArithmeticError:
        return str(value)


def to_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a str/int/Decimal (floats go through their shortest repr)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None
