"""The running platform answers what its own OpenAPI document says, on a realistic walk.

The document is fetched from the platform (``GET /openapi.json``); every answer of the walk
(a new player from registration to bets, an operator's event, odds and views, a refusal
or two) must have a status the document declares for that operation, a content type it
declares for that status, and a body its schema accepts (``jsonschema``, the document's
components resolving the ``$ref``\\ s).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.support.platform import Platform

pytestmark = [pytest.mark.slow, pytest.mark.ray]


class Contract:
    """An HTTP client that checks each answer against the served document."""

    def __init__(self, platform: Platform) -> None:
        self.http = httpx.Client(base_url=platform.url, timeout=30)
        self.doc: dict[str, Any] = self.http.get("/openapi.json").json()
        self.checked: list[str] = []

    def call(self, method: str, template: str, *, path: str | None = None,
             token: str | None = None, key: str | None = None, **request: Any
             ) -> httpx.Response:
        """``method path`` (``template`` with its ids filled in), checked against the
        document's ``template`` operation."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        answer = self.http.request(method, path or template, headers=headers, **request)
        operation = self.doc["paths"][template][method.lower()]
        self.check(answer, operation["responses"], f"{method} {template}")
        return answer

    def check(self, answer: httpx.Response, responses: dict[str, Any], name: str) -> None:
        declared = responses.get(str(answer.status_code))
        assert declared is not None, f"{name}: {answer.status_code} is not documented"
        media_type = answer.headers.get("content-type", "").split(";")[0]
        content = declared.get("content", {})
        assert media_type in content, f"{name}: {media_type} not documented for " \
                                      f"{answer.status_code}"
        schema = {**content[media_type]["schema"], "components": self.doc["components"]}
        Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER
                             ).validate(answer.json())
        self.checked.append(f"{name} {answer.status_code}")


@pytest.fixture(scope="module")
def contract(platform: Platform) -> Contract:
    return Contract(platform)


def test_a_realistic_walk_answers_what_the_document_says(contract: Contract,
                                                         platform: Platform) -> None:
    c, ops = contract, platform.operator_token
    name, password = f"walk{secrets.token_hex(4)}", "correct horse battery"
    account = c.call("POST", "/v1/accounts", json={
        "username": name, "password": password, "jurisdiction": "GB",
        "date_of_birth": "1990-01-31"}).json()
    account_id = account["account_id"]
    c.call("POST", "/v1/ops/accounts/{account_id}/kyc", token=ops,
           path=f"/v1/ops/accounts/{account_id}/kyc",
           json={"status": "verified", "reason": "documents checked"})
    token = c.call("POST", "/v1/sessions", json={"username": name, "password": password}
                   ).json()["token"]
    assert c.call("GET", "/v1/me", token=token).json()["kyc_status"] == "verified"
    c.call("POST", "/v1/wallet/deposits", token=token, key=secrets.token_hex(8),
           json={"amount": "100.00", "method": "debit_card"})
    assert c.call("GET", "/v1/wallet", token=token).json()["balance"] == "100.00"

    event_id = f"walk-{secrets.token_hex(4)}"
    event_path = f"/v1/events/{event_id}"
    c.call("POST", "/v1/ops/events", token=ops, json={
        "event_id": event_id, "name": "Home v Away", "sport": "soccer",
        "starts_at": "2026-11-27T20:00:00Z", "markets": [{
            "market_id": "mw", "name": "Match winner", "in_play_delay_s": 0,
            "selections": [{"selection_id": "home", "name": "Home", "price": "2.50"},
                           {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})
    assert any(e["event_id"] == event_id for e in c.call("GET", "/v1/events").json())
    c.call("GET", "/v1/events/{event_id}", path=event_path)

    bet = {"event_id": event_id, "market_id": "mw", "selection_id": "home",
           "stake": "10.00", "price": "2.50"}
    accepted = c.call("POST", "/v1/bets", token=token, key=secrets.token_hex(8), json=bet)
    assert accepted.status_code == 201 and accepted.json()["status"] == "accepted"
    c.call("POST", "/v1/ops/events/{event_id}/odds", token=ops,
           path=f"/v1/ops/events/{event_id}/odds",
           json={"market_id": "mw", "prices": {"home": "2.40"}})
    refused = c.call("POST", "/v1/bets", token=token, key=secrets.token_hex(8), json=bet)
    assert refused.status_code == 409 and refused.json()["code"] == "PRICE_CHANGED"
    assert refused.json()["price"] == "2.40"

    bet_id = accepted.json()["bet_id"]
    listed = {b["bet_id"]: b["status"] for b in c.call("GET", "/v1/bets", token=token
                                                     ).json()["items"]}
    assert listed[bet_id] == "accepted" and sorted(listed.values()) == ["accepted", "rejected"]
    c.call("GET", "/v1/bets/{bet_id}", token=token, path=f"/v1/bets/{bet_id}")
    exposure = c.call("GET", "/v1/ops/events/{event_id}/exposure", token=ops,
                      path=f"/v1/ops/events/{event_id}/exposure").json()
    assert exposure["bets_accepted"] == 1
    # a slip: one bet accepted at the new price, one refused at the old one
    slip = c.call("POST", "/v1/betslips", token=token, json={"bets": [
        {**bet, "price": "2.40", "idempotency_key": secrets.token_hex(8)},
        {**bet, "idempotency_key": secrets.token_hex(8)}]})
    assert [(r["status"], r.get("bet", r.get("problem", {})).get("status"))
            for r in slip.json()["results"]] == [(201, "accepted"), (409, 409)]
    c.call("GET", "/v1/ops/reviews", token=ops)
    no_token = c.call("POST", "/v1/bets", json=bet)
    assert no_token.status_code == 401
    c.call("GET", "/healthz")

    unknown = c.http.get("/v1/no-such-route")
    assert unknown.status_code == 404  # no operation to look up: the Problem schema itself
    c.check(unknown, {"404": {"content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}}, "GET /v1/no-such-route")
    assert len(c.checked) >= 19
