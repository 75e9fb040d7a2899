"""From bet to payout to statement, over HTTP, on the platform `inplay up` started.

One event with a market per result type (a plain win, a dead heat, an Asian-handicap
quarter line, a void market); a fresh player bets on each; the operator posts the results;
the bets end won / lost / half won / void with the payouts ``domain.settlement.settle``
computes (exact fractions: the oracle), the wallet shows the credits and the month's
statement the returns. Then a correction, a rollback and a void window, each moving only
the difference.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cluster.api_client import ApiError
from domain.settlement import MarketResult, settle
from tests.support.platform import Platform, api

pytestmark = [pytest.mark.slow, pytest.mark.ray]
D = Decimal


class Client:
    """The platform's API client (``cluster.api_client``) with the operator's token at hand
    and the few steps these flows repeat."""

    def __init__(self, platform: Platform) -> None:
        self.api = api(platform)
        self.op = platform.operator_token

    def player(self, funds: str) -> str:
        """A verified, funded player's token."""
        name = f"stl{secrets.token_hex(4)}"
        account = self.api.register(name, "correct horse")["account_id"]
        self.api.decide_kyc(self.op, account, reason="e2e")
        token = self.api.login(name, "correct horse")["token"]
        self.api.deposit(token, funds)
        return token

    def bet(self, token: str, event_id: str, market: str, selection: str, stake: str,
            price: str) -> dict[str, Any]:
        return dict(self.api.place_bet(token, event_id, market, selection, stake, price))

    def settled(self, event_id: str, market: str, version: int | None,
                timeout_s: float = 60) -> dict[str, Any]:
        """Until the market's settlement shows ``version`` in force and nothing pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            report = self.api.settlement(self.op, event_id)
            found = next(m for m in report["markets"] if m["market_id"] == market)
            done = found["result_version"] == version and (
                found["status"] == "settled" if version else found["bets_settled"] == 0)
            if done:
                return dict(found)
            assert time.monotonic() < deadline, found
            time.sleep(0.2)

    def wallet(self, token: str) -> Decimal:
        return D(self.api.wallet(token)["balance"])

    def my_bet(self, token: str, bet_id: str) -> dict[str, Any]:
        return dict(self.api.get_bet(token, bet_id))


def refused(status: int, code: str, call: Callable[[], object]) -> dict[str, Any]:
    """The problem a refused call answered (its status and code checked)."""
    with pytest.raises(ApiError) as info:
        call()
    assert (info.value.status, info.value.code) == (status, code), info.value
    return info.value.problem


MARKETS = {
    # market id: (selections with prices, the result, the selection bet on)
    "win": ({"a": "2.50", "b": "1.60"}, MarketResult(("a",)), "a"),
    "lose": ({"a": "2.50", "b": "1.60"}, MarketResult(("a",)), "b"),
    "tie": ({"a": "3.40", "b": "3.40", "c": "2.00"},
            MarketResult(("a", "b"), dead_heat_factor=D("0.5")), "a"),
    "quarter": ({"over": "1.95", "under": "1.95"},
                MarketResult(("over",), void_factor=D("0.5")), "over"),
    "void": ({"a": "2.20", "b": "1.70"}, MarketResult((), void_factor=D(1)), "b"),
}
STAKE = D("10.00")


def _event(client: Client) -> str:
    event_id = f"e2e-stl-{secrets.token_hex(3)}"
    client.api.create_event(client.op, {
        "event_id": event_id, "name": "Settlement FC v Payout United", "sport": "soccer",
        "starts_at": "2026-12-01T15:00:00Z",
        "markets": [{"market_id": m, "name": m, "in_play_delay_s": 0, "selections": [
            {"selection_id": s, "name": s, "price": p} for s, p in prices.items()]}
            for m, (prices, _, _) in MARKETS.items()]})
    return event_id


def _result_body(result: MarketResult) -> dict[str, Any]:
    body: dict[str, Any] = {"winners": list(result.winners),
                            "void_factor": str(result.void_factor),
                            "result_version": result.result_version}
    if result.dead_heat_factor is not None:
        body["dead_heat_factor"] = str(result.dead_heat_factor)
    return body


def test_every_result_type_pays_the_bet_and_shows_in_wallet_and_statement(
        platform: Platform) -> None:
    client = Client(platform)
    event_id = _event(client)
    auth = client.player("200.00")
    bets = {m: client.bet(auth, event_id, m, pick, str(STAKE), prices[pick])
            for m, (prices, _, pick) in MARKETS.items()}
    assert client.wallet(auth) == D("200.00") - STAKE * len(MARKETS)
    expected_total = D(0)
    for market, (prices, result, pick) in MARKETS.items():
        answer = client.api.post_result(client.op, event_id, market, _result_body(result))
        assert answer["market_status"] in ("closed", "settled")
        report = client.settled(event_id, market, 1)
        assert (report["bets"], report["bets_pending"]) == (1, 0)
        due = settle(STAKE, D(prices[pick]), pick, result)
        expected_total += due.payout
        bet = client.my_bet(auth, bets[market]["bet_id"])
        assert bet["status"] == due.status.value, market
        assert D(bet["payout"]) == due.payout, market
        assert bet.get("dead_heat", False) is due.dead_heat
        assert [s["result_version"] for s in bet["settlements"]] == [1]
        assert D(bet["settlements"][0]["moved"]) == due.payout
        assert D(report["gross_gaming_revenue"]) == STAKE - due.payout
    # the payouts in hand: 25.00 + 0 + 17.00 + 14.75 + 10.00
    assert expected_total == D("66.75")
    assert client.wallet(auth) == D("200.00") - STAKE * len(MARKETS) + expected_total
    month = datetime.now(UTC).strftime("%Y-%m")
    statement = client.api.statement(auth, month)
    assert D(statement["returns"]) == expected_total
    assert D(statement["stakes"]) == STAKE * len(MARKETS)
    assert D(statement["net_result"]) == expected_total - STAKE * len(MARKETS)
    # a result for a market that is settled already, the same again: nothing moves
    client.api.post_result(client.op, event_id, "win", _result_body(MARKETS["win"][1]))
    assert client.wallet(auth) == D("200.00") - STAKE * len(MARKETS) + expected_total


def test_correction_rollback_and_void_window_move_only_the_difference(
        platform: Platform) -> None:
    client = Client(platform)
    event_id = _event(client)
    auth = client.player("100.00")
    won = client.bet(auth, event_id, "win", "a", "10.00", "2.50")
    start = won["accepted_at"]
    other = client.bet(auth, event_id, "win", "b", "10.00", "1.60")
    base = D("80.00")
    client.api.post_result(client.op, event_id, "win", {"winners": ["a"]})
    client.settled(event_id, "win", 1)
    assert client.wallet(auth) == base + D("25.00")
    # corrected: b won; a's 25.00 goes back, b's 16.00 comes
    client.api.post_result(client.op, event_id, "win", {"winners": ["b"], "result_version": 2})
    client.settled(event_id, "win", 2)
    assert client.wallet(auth) == base + D("16.00")
    history = client.my_bet(auth, won["bet_id"])["settlements"]
    assert [(h["result_version"], h["status"], h["moved"]) for h in history] == [
        (1, "won", "25.00"), (2, "lost", "-25.00")]
    refused(409, "STALE_RESULT_VERSION",
            lambda: client.api.post_result(client.op, event_id, "win", {"winners": ["a"]}))
    # rollback: as if never settled
    client.api.roll_back_result(client.op, event_id, "win")
    client.settled(event_id, "win", None)
    assert client.wallet(auth) == base
    refused(409, "NOTHING_TO_ROLL_BACK",
            lambda: client.api.roll_back_result(client.op, event_id, "win"))
    # a void window over the first bet only: its stake back, even once settled
    end = other["accepted_at"]
    window = client.api.open_void_window(client.op, event_id, {
        "start": start, "end": end, "reason": "goal before the bet stop", "market_id": "win"})
    client.api.post_result(client.op, event_id, "win", {"winners": ["a"], "result_version": 3})
    client.settled(event_id, "win", 3)
    assert client.my_bet(auth, won["bet_id"])["status"] == "void"
    assert client.my_bet(auth, other["bet_id"])["status"] == "lost"
    assert client.wallet(auth) == base + D("10.00")
    client.api.roll_back_void_window(client.op, event_id, window["window_id"])
    deadline = time.monotonic() + 60
    while client.my_bet(auth, won["bet_id"])["status"] != "won":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client.wallet(auth) == base + D("25.00")
    refused(422, "INVALID_WINDOW", lambda: client.api.open_void_window(
        client.op, event_id, {"start": end, "end": start, "reason": "oops"}))


def test_cash_out_by_quote_pays_the_wallet_and_a_moved_price_offers_a_fresh_quote(
        platform: Platform) -> None:
    client = Client(platform)
    event_id = _event(client)
    auth = client.player("100.00")
    placed = client.bet(auth, event_id, "win", "a", "10.00", "2.50")
    bet_id = placed["bet_id"]
    offer = client.api.cashout_quote(auth, bet_id)
    # 10 x 2.50 / 2.50, less the 5% margin
    assert offer["amount"] == "9.50" and offer["price_version"] == 1
    # the price moves: the old quote is refused with a fresh one
    client.api.set_odds(client.op, event_id, "win", {"a": "2.00"})
    fresh = refused(409, "PRICE_CHANGED", lambda: client.api.cash_out(
        auth, bet_id, {"quote_id": offer["quote_id"]}, key="cash-1"))
    assert fresh["amount"] == "11.87" and fresh["price_version"] == 2
    done = client.api.cash_out(auth, bet_id, {"quote_id": fresh["quote_id"]}, key="cash-2")
    assert done["status"] == "cashed_out" and done["payout"] == "11.87"
    assert done["cashout"]["price"] == "2.00"
    # the same request again answers the same; the wallet is credited once
    again = client.api.cash_out(auth, bet_id, {"quote_id": fresh["quote_id"]}, key="cash-2")
    assert again == done
    deadline = time.monotonic() + 30
    while client.wallet(auth) != D("90.00") + D("11.87"):
        assert time.monotonic() < deadline, client.wallet(auth)
        time.sleep(0.2)
    assert client.my_bet(auth, bet_id)["status"] == "cashed_out"
    # somebody else's bet does not exist for them; a second cash-out of it is refused
    other = client.player("10.00")
    refused(404, "UNKNOWN_BET", lambda: client.api.cashout_quote(other, bet_id))
    refused(409, "CASHOUT_UNAVAILABLE", lambda: client.api.cash_out(
        auth, bet_id, {"odds_change": "any"}, key="cash-3"))
    # the result does not pay it again
    client.api.post_result(client.op, event_id, "win", {"winners": ["a"]})
    client.settled(event_id, "win", 1)
    assert client.wallet(auth) == D("90.00") + D("11.87")
