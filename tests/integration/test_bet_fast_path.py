"""``POST /v1/bets`` on the ASGI fast path answers exactly as the FastAPI route does.

The real app (``create_app``) with real services: a valkey-server from the fixture, the
wallet, the saga and a real event actor (Ray). Every request goes to two apps sharing those
services, one with the fast path and one without; their answers must be identical (status,
content type, Retry-After, body), for an accepted bet, its retry, and every refusal the edge
or the book gives — including those the fast path hands back to FastAPI (bad JSON, a bad
field, another content type).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import ray

from actors.event_actor import actor_name
from domain.identity import KycStatus, Role, TokenSigner
from serve_apps.app import create_app
from serve_apps.body_limit import MAX_BODY_BYTES
from serve_apps.services import ApiServices
from tests.support.api import TOKEN_KEY, api_services
from tests.support.factories import match_winner_event

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

class Apps:
    def __init__(self, svc: ApiServices, event_id: str) -> None:
        self.svc = svc
        self.event_id = event_id
        self.signer = TokenSigner(TOKEN_KEY)
        fast, slow = create_app(svc), create_app(svc)
        slow.fast_bets = False  # type: ignore[attr-defined]
        assert fast.fast_bets  # type: ignore[attr-defined]
        self.fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=fast),
                                      base_url="http://api")
        self.slow = httpx.AsyncClient(transport=httpx.ASGITransport(app=slow),
                                      base_url="http://api")
        self.fast_app = fast

    def token(self, subject: str, role: Role = Role.PLAYER) -> str:
        return self.signer.issue(subject, role, 600).token

    def bet(self, **changes: Any) -> dict[str, Any]:
        return {"event_id": self.event_id, "market_id": "mw", "selection_id": "home",
                "stake": "10", "price": "2.50", **changes}


@pytest.fixture()
async def apps(redis_url: str) -> AsyncIterator[Apps]:
    svc = api_services(redis_url)
    event_id = f"fast-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    client = await svc.events.registry.get(event_id, create=True)
    await client.create_event(match_winner_event(event_id))
    a = Apps(svc, event_id)
    yield a
    await a.fast.aclose()
    await a.slow.aclose()
    ray.kill(ray.get_actor(actor_name(event_id), namespace="inplay"))


async def _player(apps: Apps, funds: str = "100") -> str:
    account = await apps.svc.accounts.register(
        f"u{time.monotonic_ns() % 10**12}", "correct horse", "GB", "1990-01-01")
    await apps.svc.reviews.decide_kyc(account.account_id, KycStatus.VERIFIED, "test", "op")
    await apps.svc.wallet.wallet.deposit(account.account_id, "d1", funds)
    return account.account_id


def _answer(response: httpx.Response, drop: tuple[str, ...] = ()) -> tuple[Any, ...]:
    body = orjson.loads(response.content)
    for key in drop:
        body.pop(key, None)
    return (response.status_code, response.headers["content-type"],
            response.headers.get("retry-after"), body)


async def _both(apps: Apps, *, drop: tuple[str, ...] = (), key: str | bool = True,
                headers: dict[str, str] | None = None, **request: Any) -> tuple[Any, ...]:
    """Send the request to both apps: with distinct Idempotency-Keys when ``key`` is True,
    with that key when it is a string, with none when it is False."""
    answers = []
    for i, client in enumerate((apps.fast, apps.slow)):
        sent = dict(headers or {})
        if key is True:
            sent["Idempotency-Key"] = f"{time.monotonic_ns()}-{i}"
        elif key:
            sent["Idempotency-Key"] = str(key)
        answers.append(_answer(await client.post("/v1/bets", headers=sent, **request), drop))
    assert answers[0] == answers[1]
    return answers[0]


async def test_an_accepted_bet_and_its_retry_answer_the_same_on_both_paths(apps: Apps) -> None:
    acct = await _player(apps)
    auth = {"Authorization": f"Bearer {apps.token(acct)}", "Idempotency-Key": "same"}
    first = await apps.fast.post("/v1/bets", json=apps.bet(), headers=auth)
    assert first.status_code == 201 and first.json()["status"] == "accepted"
    retry = await apps.slow.post("/v1/bets", json=apps.bet(), headers=auth)
    assert _answer(retry) == _answer(first)
    again = await apps.fast.post("/v1/bets", json=apps.bet(), headers=auth)
    assert _answer(again) == _answer(first)
    assert (await apps.svc.wallet.wallet.balance(acct)).available == 90  # staked once


async def test_every_refusal_answers_the_same_on_both_paths(apps: Apps) -> None:
    acct = await _player(apps, funds="20")
    player = {"Authorization": f"Bearer {apps.token(acct)}"}
    operator = {"Authorization": f"Bearer {apps.token('ops', Role.OPERATOR)}"}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("no token", {"json": apps.bet()}, 401, "UNAUTHENTICATED"),
        ("bad token", {"json": apps.bet(), "headers": {"Authorization": "Bearer x.y"}},
         401, "UNAUTHENTICATED"),
        ("operator", {"json": apps.bet(), "headers": operator}, 403, "FORBIDDEN"),
        ("price moved", {"json": apps.bet(price="2.40"), "headers": player}, 409,
         "PRICE_CHANGED"),
        ("unknown market", {"json": apps.bet(market_id="nope"), "headers": player}, 404,
         "UNKNOWN_MARKET"),
        ("too much", {"json": apps.bet(stake="50"), "headers": player}, 402,
         "INSUFFICIENT_FUNDS"),
        # refusals the fast path hands to FastAPI
        ("off the ladder", {"json": apps.bet(price="2.51"), "headers": player}, 422,
         "INVALID_ODDS"),
        ("unknown field", {"json": apps.bet(colour="red"), "headers": player}, 422,
         "VALIDATION_ERROR"),
        ("bad json", {"content": b"{not json", "headers": {
            **player, "Content-Type": "application/json"}}, 422, "VALIDATION_ERROR"),
        ("text body", {"content": orjson.dumps(apps.bet()), "headers": {
            **player, "Content-Type": "text/plain"}}, 422, "VALIDATION_ERROR"),
    ]
    for name, request, status, code in cases:
        got = await _both(apps, drop=("bet_id",), **request)
        assert (got[0], got[3]["code"]) == (status, code), name
        assert got[1] == "application/problem+json", name
    missing_key = await _both(apps, key=False, json=apps.bet(), headers=player)
    assert missing_key[3]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    # the same key with another body is refused on both paths
    first = await apps.fast.post("/v1/bets", json=apps.bet(stake="1"),
                                 headers={**player, "Idempotency-Key": "reused"})
    assert first.status_code == 201
    reused = await _both(apps, key="reused", drop=("bet_id",), json=apps.bet(stake="2"),
                         headers=player)
    assert (reused[0], reused[3]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


async def test_the_fast_path_never_enters_fastapi(apps: Apps) -> None:
    """FastAPI's whole request stack replaced by a recorder: a good bet never reaches it."""
    acct = await _player(apps)
    reached: list[str] = []

    async def recorder(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    apps.fast_app.middleware_stack = recorder
    headers = {"Authorization": f"Bearer {apps.token(acct)}", "Idempotency-Key": "direct"}
    placed = await apps.fast.post("/v1/bets", json=apps.bet(), headers=headers)
    assert placed.status_code == 201, placed.text
    assert reached == []
    # ... while what it hands over (here a price off the ladder) does go to FastAPI
    bad = await apps.fast.post("/v1/bets", json=apps.bet(price="2.51"), headers=headers)
    assert bad.status_code == 599 and reached == ["/v1/bets"]


async def test_bodies_over_the_bound_are_refused_on_both_paths(apps: Apps) -> None:
    acct = await _player(apps)
    player = {"Authorization": f"Bearer {apps.token(acct)}", "Content-Type": "application/json"}
    big = b'{"event_id": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 1 << 20):
            yield big[start:start + (1 << 20)]

    declared = await _both(apps, content=big, headers=player)
    chunked = [_answer(await client.post("/v1/bets", content=chunks(), headers={
        **player, "Idempotency-Key": f"chunked-{i}"})) for i, client in enumerate(
        (apps.fast, apps.slow))]
    assert chunked[0] == chunked[1]
    for answer in (declared, chunked[0]):
        assert (answer[0], answer[1], answer[3]["code"]) == (
            413, "application/problem+json", "PAYLOAD_TOO_LARGE")
    # every route has the same bound (here a deposit, through FastAPI)
    deposit = await apps.fast.post("/v1/wallet/deposits", content=chunks(),
                                   headers={**player, "Idempotency-Key": "big"})
    assert deposit.status_code == 413 and deposit.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert (await apps.svc.wallet.wallet.balance(acct)).available == 100


async def test_a_bet_that_waited_too_long_at_the_ingress_is_shed_before_any_money_moves(
        apps: Apps) -> None:
    acct = await _player(apps)
    token = {"Authorization": f"Bearer {apps.token(acct)}"}
    limit = apps.svc.bets.saga.config.max_queue_s
    late = {**token, "X-Inplay-Received": str(int((time.time() - limit - 1) * 1000))}
    status, kind, retry_after, body = await _both(apps, json=apps.bet(), headers=late,
                                                  drop=("bet_id", "detail"))
    assert (status, kind, retry_after, body["code"]) == (
        503, "application/problem+json", "1", "OVERLOADED")
    balance = await apps.svc.wallet.wallet.balance(acct)
    assert balance.available == 100 and balance.reserved == 0  # nothing was reserved
    # a slip the same
    slip = await apps.fast.post("/v1/betslips", headers=late, json={"bets": [
        {**apps.bet(), "idempotency_key": "late-1"}]})
    assert slip.status_code == 200
    assert slip.json()["results"][0]["problem"]["code"] == "OVERLOADED"
    # a fresh stamp, or none, is placed as usual
    fresh = {**token, "X-Inplay-Received": str(int(time.time() * 1000))}
    varying = ("bet_id", "placed_at", "accepted_at", "price_version")
    assert (await _both(apps, json=apps.bet(), headers=fresh, drop=varying))[0] == 201
    assert (await _both(apps, json=apps.bet(), headers=token, drop=varying))[0] == 201
