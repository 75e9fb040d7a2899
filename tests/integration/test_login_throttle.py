"""``POST /v1/sessions`` against password guessing, over the real app and a real
valkey-server: a burst of wrong passwords is throttled per account name and per address,
the right password from elsewhere works after the short backoff, and an unknown account
name is answered exactly as a known one."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from serve_apps.app import create_app
from serve_apps.services import ApiServices
from storage.login_throttle import LoginThrottleConfig
from tests.support.api import api_services

# small numbers, to keep the test fast: 3 free attempts per name, then 0.2 s doubling to
# 0.4 s; 8 per address
THROTTLE = LoginThrottleConfig(name_free=3, name_cap_s=0.4, address_free=8,
                               address_cap_s=0.4, base_s=0.2)
PASSWORD = "correct horse"


@pytest.fixture()
async def app(redis_url: str) -> AsyncIterator[tuple[ApiServices, httpx.AsyncClient]]:
    svc = api_services(redis_url, login_throttle=THROTTLE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                 base_url="http://api") as http:
        yield svc, http


async def login(http: httpx.AsyncClient, username: str, password: str,
                address: str) -> httpx.Response:
    # the ASGI client's peer is 127.0.0.1: as behind HAProxy, X-Forwarded-For names the client
    return await http.post("/v1/sessions", json={"username": username, "password": password},
                           headers={"X-Forwarded-For": address})


async def burst(http: httpx.AsyncClient, username: str, address: str, n: int
                ) -> list[httpx.Response]:
    return list(await asyncio.gather(*(login(http, username, "wrong-password", address)
                                       for _ in range(n))))


async def test_a_burst_of_wrong_passwords_is_throttled_and_the_player_gets_back_in(
        app: tuple[ApiServices, httpx.AsyncClient]) -> None:
    svc, http = app
    await svc.accounts.register("victim", PASSWORD, "GB", "1990-01-01")
    answers = await burst(http, "victim", "198.51.100.7", 40)
    counts = Counter(r.status_code for r in answers)
    # the guesses that were counted got 401; the rest were refused before any check
    assert counts[401] == THROTTLE.name_free and counts[429] == 40 - THROTTLE.name_free
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    # during the backoff even the right password waits (a guess would learn nothing) ...
    assert (await login(http, "victim", PASSWORD, "203.0.113.5")).status_code == 429
    # ... and after it, the player gets in from another address: nobody is locked out
    await asyncio.sleep(THROTTLE.name_cap_s + 0.05)
    ok = await login(http, "victim", PASSWORD, "203.0.113.5")
    assert ok.status_code == 200, ok.text
    # a success starts the name afresh: a typo right after is a plain 401
    assert (await login(http, "victim", "typo-pass", "203.0.113.5")).status_code == 401


async def test_an_unknown_account_is_answered_exactly_as_a_known_one(
        app: tuple[ApiServices, httpx.AsyncClient]) -> None:
    svc, http = app
    await svc.accounts.register("known", PASSWORD, "GB", "1990-01-01")
    seen = {}
    for name, address in (("known", "198.51.100.20"), ("nobody-here", "198.51.100.21")):
        answers = []
        for _ in range(THROTTLE.name_free + 2):  # one by one: the same sequence each time
            response = await login(http, name, "wrong-password", address)
            body = response.json()
            answers.append((response.status_code, body["code"], body["detail"],
                            response.headers.get("Retry-After")))
        seen[name] = answers
    assert seen["known"] == seen["nobody-here"]
    assert [a[0] for a in seen["known"]] == [401] * THROTTLE.name_free + [429, 429]


async def test_one_address_has_a_budget_across_account_names(
        app: tuple[ApiServices, httpx.AsyncClient]) -> None:
    svc, http = app
    await svc.accounts.register("other", PASSWORD, "GB", "1990-01-01")
    guesser = "198.51.100.30"
    statuses = [(await login(http, f"name{i}", "wrong-password", guesser)).status_code
                for i in range(THROTTLE.address_free + 1)]
    assert statuses == [401] * THROTTLE.address_free + [429]
    # that address waits, whatever name it tries; another address is not affected
    assert (await login(http, "other", PASSWORD, guesser)).status_code == 429
    assert (await login(http, "other", PASSWORD, "203.0.113.9")).status_code == 200
    # successful logins do not use up an address's budget
    for _ in range(THROTTLE.address_free + 2):
        assert (await login(http, "other", PASSWORD, "203.0.113.10")).status_code == 200


async def test_behind_a_proxy_that_names_no_client_only_account_names_are_counted(
        app: tuple[ApiServices, httpx.AsyncClient]) -> None:
    svc, http = app
    await svc.accounts.register("other", PASSWORD, "GB", "1990-01-01")

    async def anonymous(username: str, password: str) -> int:
        # a local peer without X-Forwarded-For: a proxy that did not say whose request it is
        answer = await http.post("/v1/sessions",
                                 json={"username": username, "password": password})
        return answer.status_code

    # more failures than an address's budget, over many names: all counted per name only,
    # so nobody's logins are made to wait for what strangers did
    statuses = [await anonymous(f"name{i}", "wrong-password")
                for i in range(THROTTLE.address_free + 2)]
    assert statuses == [401] * (THROTTLE.address_free + 2)
    assert await anonymous("other", PASSWORD) == 200
    # ... while a name still gets its own backoff
    guesses = [await anonymous("other", "wrong-password") for _ in range(THROTTLE.name_free + 1)]
    assert guesses == [401] * THROTTLE.name_free + [429]
