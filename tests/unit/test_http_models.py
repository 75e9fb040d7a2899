"""Request models and the problem+json mapping, without Ray or Redis."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from domain import errors
from domain.errors import RateLimited
from serve_apps import problems
from serve_apps.models import BetRequest, EventIn, LimitsRequest

BET = {"event_id": "e1", "market_id": "mw", "selection_id": "home", "stake": "10.5",
       "price": "2.5"}


def test_bet_request_normalises_money_and_prices() -> None:
    bet = BetRequest.model_validate({**BET, "stake": 10.5, "price": 2.5})
    assert bet.stake == Decimal("10.50") and bet.price == Decimal("2.5")
    assert bet.odds_change.value == "none"


@pytest.mark.parametrize(("field", "value"), [
    ("stake", "10.001"), ("stake", "0"), ("stake", "-1"), ("stake", "1e9"), ("stake", "abc"),
    ("price", "2.51"), ("price", "1000.5"), ("price", "0.5"), ("event_id", "a b"),
    ("event_id", "x" * 65), ("odds_change", "maybe"),
])
def test_bet_request_refuses_bad_fields(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        BetRequest.model_validate({**BET, field: value})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        BetRequest.model_validate({**BET, "price_versoin": 3})
    with pytest.raises(ValidationError):
        LimitsRequest.model_validate({"deposit_dayly": "10"})


def test_operator_limits_may_exceed_player_money() -> None:
    event = EventIn.model_validate({
        "name": "E", "sport": "soccer", "starts_at": "2026-11-27T15:00:00Z",
        "markets": [{"name": "M", "max_liability": "50000000", "selections": [
            {"name": "A", "price": "2"}, {"name": "B", "price": "2"}]}]})
    assert event.markets[0].max_liability == Decimal("50000000.00")


def _app() -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.post("/bet")
    async def bet(body: BetRequest) -> dict[str, str]:
        raise errors.PriceChanged("moved", price="2.60", price_version=4)

    @app.get("/boom")
    async def boom() -> None:
        raise KeyError("bug")

    @app.get("/limited")
    async def limited() -> None:
        raise RateLimited("slow down", retry_after_s=1.2)

    return TestClient(app, raise_server_exceptions=False)


def test_errors_become_problem_json_with_their_codes() -> None:
    client = _app()
    answer = client.post("/bet", json=BET)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    body = orjson.loads(answer.content)
    assert body["code"] == "PRICE_CHANGED" and body["price"] == "2.60"
    assert body["type"].endswith("/price-changed")
    off = client.post("/bet", json={**BET, "price": "2.51"})
    assert off.status_code == 422 and off.json()["code"] == "INVALID_ODDS"
    cents = client.post("/bet", json={**BET, "stake": "1.001"})
    assert cents.json()["code"] == "INVALID_AMOUNT"
    other = client.post("/bet", json={**BET, "event_id": "no spaces"})
    assert other.json()["code"] == "VALIDATION_ERROR"
    limited = client.get("/limited")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert client.get("/nowhere").json()["code"] == "NOT_FOUND"
    boom = client.get("/boom")
    assert boom.status_code == 500 and boom.json()["code"] == "INTERNAL_ERROR"
