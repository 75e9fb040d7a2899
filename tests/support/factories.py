"""Small builders shared by tests: event definitions and bets."""

from __future__ import annotations

from decimal import Decimal

from actors.book import PlaceBet, market_spec
from actors.book_events import EventCreated, OddsPolicy


def match_winner_event(
    event_id: str,
    *,
    delay_s: float = 0.0,
    max_liability: str = "10000",
    max_stake: str = "5000",
    max_payout: str = "100000",
    prices: tuple[str, str, str] = ("2.50", "3.20", "2.80"),
) -> EventCreated:
    """One event with a three-way market (home/draw/away) and a two-way market."""
    mw = market_spec(
        "mw", "Match winner",
        [("home", "Home", Decimal(prices[0])), ("draw", "Draw", Decimal(prices[1])),
         ("away", "Away", Decimal(prices[2]))],
        in_play_delay_s=delay_s, max_liability=Decimal(max_liability),
        max_stake=Decimal(max_stake), max_payout=Decimal(max_payout),
    )
    ou = market_spec(
        "ou25", "Over/under 2.5",
        [("over", "Over", Decimal("1.90")), ("under", "Under", Decimal("1.95"))],
        in_play_delay_s=delay_s, max_liability=Decimal(max_liability),
        max_stake=Decimal(max_stake), max_payout=Decimal(max_payout),
    )
    return EventCreated(event_id, f"Match {event_id}", "soccer", "2026-11-27T15:00:00Z",
                        (mw, ou), 0.0)


def bet(
    bet_id: str,
    *,
    stake: str = "10",
    price: str = "2.50",
    selection: str = "home",
    market: str = "mw",
    policy: OddsPolicy = OddsPolicy.NONE,
    account: str = "acct-1",
    version: int | None = None,
) -> PlaceBet:
    return PlaceBet(bet_id, account, market, selection, Decimal(stake), Decimal(price), policy,
                    version)
