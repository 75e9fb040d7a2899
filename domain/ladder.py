"""The price ladder (Betfair's): decimal odds 1.01–1000 in bands of fixed increments."""

from __future__ import annotations

from decimal import Decimal

# (upper bound of band, increment within the band); each band starts at the previous bound
LADDER_BANDS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("2"), Decimal("0.01")),
    (Decimal("3"), Decimal("0.02")),
    (Decimal("4"), Decimal("0.05")),
    (Decimal("6"), Decimal("0.1")),
    (Decimal("10"), Decimal("0.2")),
    (Decimal("20"), Decimal("0.5")),
    (Decimal("30"), Decimal("1")),
    (Decimal("50"), Decimal("2")),
    (Decimal("100"), Decimal("5")),
    (Decimal("1000"), Decimal("10")),
)
MIN_PRICE = Decimal("1.01")
MAX_PRICE = Decimal("1000")


def _build_ladder() -> tuple[Decimal, ...]:
    prices: list[Decimal] = []
    low = Decimal("1")
    for high, step in LADDER_BANDS:
        price = low + step
        while price <= high:
            prices.append(price)
            price += step
        low = high
    return tuple(prices)


LADDER: tuple[Decimal, ...] = _build_ladder()
_ON_LADDER: frozenset[Decimal] = frozenset(LADDER)


def is_on_ladder(price: Decimal) -> bool:
    """True when ``price`` is exactly one of the ladder's prices (1.01, 2.02, 3.05, …)."""
    return price in _ON_LADDER


def tick_index(price: Decimal) -> int:
    """Position of an on-ladder price (0 for 1.01); raises ValueError when off the ladder."""
    if not is_on_ladder(price):
        raise ValueError(f"{price} is not on the price ladder")
    return _INDEX[price]


_INDEX: dict[Decimal, int] = {p: i for i, p in enumerate(LADDER)}


def ticks_away(price: Decimal, ticks: int) -> Decimal:
    """The ladder price ``ticks`` steps above (or below, if negative), clamped to the ends."""
    i = min(max(tick_index(price) + ticks, 0), len(LADDER) - 1)
    return LADDER[i]


def format_price(price: Decimal) -> str:
    """Prices as the API shows them: at least two decimals ("2.00", "2.36", "1000.00")."""
    return f"{price:.2f}"
