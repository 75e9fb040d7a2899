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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.settlement import MarketResult, settle
from tests.support.platform import Platform

pytestmark = [pytest.mark.slow, pytest.mark.ray]
D = Decimal


class Client:
    def __init__(self, platform: Platform) -> None:
        self.http = httpx.Client(base_url=platform.url, timeout=30)
        self.ops = {"Authorization": f"Bearer {platform.operator_token}"}

    def ok(self, response: httpx.Response, status: int) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def player(self, funds: str) -> dict[str, str]:
        name = f"stl{secrets.token_hex(4)}"
        account = self.ok(self.http.post("/v1/accounts", json={
            "username": name, "password": "correct horse", "jurisdiction": "GB",
            "date_of_birth": "1990-01-01"}), 201)["account_id"]
        self.ok(self.http.post(f"/v1/ops/accounts/{account}/kyc", headers=self.ops,
                               json={"status": "verified", "reason": "e2e"}), 200)
        token = self.ok(self.http.post("/v1/sessions", json={
            "username": name, "password": "correct horse"}), 200)["token"]
        auth = {"Authorization": f"Bearer {token}"}
        self.ok(self.http.post("/v1/wallet/deposits", json={"amount": funds},
                               headers={**auth, "Idempotency-Key": "funds"}), 201)
        return auth

    def bet(self, auth: dict[str, str], event_id: str, market: str, selection: str,
            stake: str, price: str) -> dict[str, Any]:
        body = {"event_id": event_id, "market_id": market, "selection_id": selection,
                "stake": stake, "price": price}
        return dict(self.ok(self.http.post("/v1/bets", json=body, headers={
            **auth, "Idempotency-Key": secrets.token_hex(8)}), 201))

    def settled(self, event_id: str, market: str, version: int | None,
                timeout_s: float = 60) -> dict[str, Any]:
        """Until the market's settlement shows ``version`` in force and nothing pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            report = self.ok(self.http.get(f"/v1/ops/events/{event_id}/settlement",
                                           headers=self.ops), 200)
            found = next(m for m in report["markets"] if m["market_id"] == market)
            done = found["result_version"] == version and (
                found["status"] == "settled" if version else found["bets_settled"] == 0)
            if done:
                return dict(found)
            assert time.monotonic() < deadline, found
            time.sleep(0.2)

    def wallet(self, auth: dict[str, str]) -> Decimal:
        return D(self.ok(self.http.get("/v1/wallet", headers=auth), 200)["balance"])

    def my_bet(self, auth: dict[str, str], bet_id: str) -> dict[str, Any]:
        return dict(self.ok(self.http.get(f"/v1/bets/{bet_id}", headers=auth), 200))


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
    client.ok(client.http.post("/v1/ops/events", headers=client.ops, json={
        "event_id": event_id, "name": "Settlement FC v Payout United", "sport": "soccer",
        "starts_at": "2026-12-01T15:00:00Z",
        "markets": [{"market_id": m, "name": m, "in_play_delay_s": 0, "selections": [
            {"selection_id": s, "name": s, "price": p} for s, p in prices.items()]}
            for m, (prices, _, _) in MARKETS.items()]}), 201)
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
        answer = client.ok(client.http.post(
            f"/v1/ops/events/{event_id}/markets/{market}/result", headers=client.ops,
            json=_result_body(result)), 202)
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
    statement = client.ok(client.http.get(f"/v1/statements?month={month}", headers=auth), 200)
    assert D(statement["returns"]) == expected_total
    assert D(statement["stakes"]) == STAKE * len(MARKETS)
    assert D(statement["net_result"]) == expected_total - STAKE * len(MARKETS)
    # a result for a market that is settled already, the same again: nothing moves
    again = client.http.post(f"/v1/ops/events/{event_id}/markets/win/result",
                             headers=client.ops, json=_result_body(MARKETS["win"][1]))
    assert again.status_code == 202
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
    url = f"/v1/ops/events/{event_id}/markets/win"
    client.ok(client.http.post(f"{url}/result", headers=client.ops,
                               json={"winners": ["a"]}), 202)
    client.settled(event_id, "win", 1)
    assert client.wallet(auth) == base + D("25.00")
    # corrected: b won; a's 25.00 goes back, b's 16.00 comes
    client.ok(client.http.post(f"{url}/result", headers=client.ops,
                               json={"winners": ["b"], "result_version": 2}), 202)
    client.settled(event_id, "win", 2)
    assert client.wallet(auth) == base + D("16.00")
    history = client.my_bet(auth, won["bet_id"])["settlements"]
    assert [(h["result_version"], h["status"], h["moved"]) for h in history] == [
        (1, "won", "25.00"), (2, "lost", "-25.00")]
    stale = client.http.post(f"{url}/result", headers=client.ops, json={"winners": ["a"]})
    assert stale.status_code == 409 and stale.json()["code"] == "STALE_RESULT_VERSION"
    # rollback: as if never settled
    client.ok(client.http.post(f"{url}/rollback", headers=client.ops), 202)
    client.settled(event_id, "win", None)
    assert client.wallet(auth) == base
    nothing = client.http.post(f"{url}/rollback", headers=client.ops)
    assert nothing.status_code == 409 and nothing.json()["code"] == "NOTHING_TO_ROLL_BACK"
    # a void window over the first bet only: its stake back, even once settled
    end = other["accepted_at"]
    window = client.ok(client.http.post(f"/v1/ops/events/{event_id}/void-window",
                                        headers=client.ops, json={
        "start": start, "end": end, "reason": "goal before the bet stop",
        "market_id": "win"}), 201)
    client.ok(client.http.post(f"{url}/result", headers=client.ops,
                               json={"winners": ["a"], "result_version": 3}), 202)
    client.settled(event_id, "win", 3)
    assert client.my_bet(auth, won["bet_id"])["status"] == "void"
    assert client.my_bet(auth, other["bet_id"])["status"] == "lost"
    assert client.wallet(auth) == base + D("10.00")
    client.ok(client.http.post(
        f"/v1/ops/events/{event_id}/void-window/{window['window_id']}/rollback",
        headers=client.ops), 202)
    deadline = time.monotonic() + 60
    while client.my_bet(auth, won["bet_id"])["status"] != "won":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client.wallet(auth) == base + D("25.00")
    backwards = client.http.post(f"/v1/ops/events/{event_id}/void-window", headers=client.ops,
                                 json={"start": end, "end": start, "reason": "oops"})
    assert backwards.status_code == 422 and backwards.json()["code"] == "INVALID_WINDOW"


def test_cash_out_by_quote_pays_the_wallet_and_a_moved_price_offers_a_fresh_quote(
        platform: Platform) -> None:
    client = Client(platform)
    event_id = _event(client)
    auth = client.player("100.00")
    placed = client.bet(auth, event_id, "win", "a", "10.00", "2.50")
    url = f"/v1/bets/{placed['bet_id']}/cashout"
    offer = client.ok(client.http.post(f"{url}/quote", headers=auth), 200)
    # 10 x 2.50 / 2.50, less the 5% margin
    assert offer["amount"] == "9.50" and offer["price_version"] == 1
    # the price moves: the old quote is refused with a fresh one
    client.ok(client.http.post(f"/v1/ops/events/{event_id}/odds", headers=client.ops,
                               json={"market_id": "win", "prices": {"a": "2.00"}}), 200)
    key = {**auth, "Idempotency-Key": "cash-1"}
    moved = client.http.post(url, headers=key, json={"quote_id": offer["quote_id"]})
    assert moved.status_code == 409 and moved.json()["code"] == "PRICE_CHANGED", moved.text
    fresh = moved.json()
    assert fresh["amount"] == "11.87" and fresh["price_version"] == 2
    done = client.ok(client.http.post(url, headers={**auth, "Idempotency-Key": "cash-2"},
                                      json={"quote_id": fresh["quote_id"]}), 201)
    assert done["status"] == "cashed_out" and done["payout"] == "11.87"
    assert done["cashout"]["price"] == "2.00"
    # the same request again answers the same; the wallet is credited once
    again = client.ok(client.http.post(url, headers={**auth, "Idempotency-Key": "cash-2"},
                                       json={"quote_id": fresh["quote_id"]}), 201)
    assert again == done
    deadline = time.monotonic() + 30
    while client.wallet(auth) != D("90.00") + D("11.87"):
        assert time.monotonic() < deadline, client.wallet(auth)
        time.sleep(0.2)
    assert client.my_bet(auth, placed["bet_id"])["status"] == "cashed_out"
    # somebody else's bet does not exist for them; a second cash-out of it is refused
    other = client.player("10.00")
    assert client.http.post(f"{url}/quote", headers=other).status_code == 404
    gone = client.http.post(url, headers={**auth, "Idempotency-Key": "cash-3"},
                            json={"odds_change": "any"})
    assert gone.status_code == 409 and gone.json()["code"] == "CASHOUT_UNAVAILABLE"
    # the result does not pay it again
    client.ok(client.http.post(f"/v1/ops/events/{event_id}/markets/win/result",
                               headers=client.ops, json={"winners": ["a"]}), 202)
    client.settled(event_id, "win", 1)
    assert client.wallet(auth) == D("90.00") + D("11.87")
