"""``POST /v1/betslips``: many single bets in one request, each answered on its own.

The real app (``create_app``) over real services: a valkey-server from the fixtures, the
wallet, the saga and real event actors (Ray). A slip mixes an accepted bet with every refusal
a bet can get here, and each bet must get exactly what ``POST /v1/bets`` answers for it;
retried, it answers the same and moves no more money. The bets of one event must reach
its actor in one call (one batch): a recorder between the saga and the registry sees every
``place_bets`` call the real actors get.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import ray

from actors.event_actor import actor_name
from actors.registry import EventClient
from actors.saga import BetSaga, EventClients, SagaConfig
from domain.bets import PlaceBet, bet_id_for
from domain.book import market_spec
from domain.errors import DomainError
from domain.events import EventCreated, EventStatus, MarketStatus, OddsPolicy
from domain.identity import KycStatus, Role, TokenSigner
from serve_apps.app import create_app
from serve_apps.services import ApiServices
from tests.support.api import TOKEN_KEY, api_services
from tests.support.factories import match_winner_event

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]


@dataclass(frozen=True)
class _RecordingClient(EventClient):
    calls: list[tuple[str, list[str]]]

    async def place_bets(self, bets: list[PlaceBet], *args: Any, **kwargs: Any
                         ) -> list[bytes | DomainError]:
        self.calls.append((self.event_id, [b.bet_id for b in bets]))
        return await super().place_bets(bets, *args, **kwargs)


class Recorder:
    """The saga's registry, noting every ``place_bets`` call: (event id, its bet ids)."""

    def __init__(self, inner: EventClients) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[str]]] = []

    async def get(self, event_id: str) -> EventClient:
        found = await self.inner.get(event_id)
        return _RecordingClient(found.event_id, found.handle, self.calls)

    def evict(self, event_id: str) -> None:
        self.inner.evict(event_id)


def _book_event(event_id: str) -> EventCreated:
    """An event whose markets refuse in every way the book can: ``mw`` (stake at most 5,
    payout at most 12), ``ll`` (liability at most 1), ``sus`` and ``cl`` (suspended and
    closed once created)."""

    def market(market_id: str, selections: list[tuple[str, str, Decimal]], *,
               liability: str = "10000", stake: str = "5", payout: str = "12") -> Any:
        return market_spec(market_id, market_id, selections, in_play_delay_s=0.0,
                           max_liability=Decimal(liability), max_stake=Decimal(stake),
                           max_payout=Decimal(payout))

    three = [("home", "Home", Decimal("2.50")), ("draw", "Draw", Decimal("3.20")),
             ("away", "Away", Decimal("2.80"))]
    two = [("yes", "Yes", Decimal("3.00")), ("no", "No", Decimal("1.40"))]
    return EventCreated(event_id, f"Match {event_id}", "soccer", "2026-11-27T15:00:00Z",
                        (market("mw", three), market("ll", two, liability="1"),
                         market("sus", two), market("cl", two)), 0.0)


class Slips:
    def __init__(self, svc: ApiServices, book: str, live: str) -> None:
        self.svc, self.book, self.live = svc, book, live
        self.signer = TokenSigner(TOKEN_KEY)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                      base_url="http://api")
        self.recorder = Recorder(svc.bets.saga.handles)
        svc.bets.saga.handles = self.recorder

    def auth(self, subject: str, role: Role = Role.PLAYER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.issue(subject, role, 600).token}"}

    def bet(self, key: str, **changes: Any) -> dict[str, Any]:
        return {"idempotency_key": key, "event_id": self.book, "market_id": "mw",
                "selection_id": "home", "stake": "1", "price": "2.50", **changes}

    async def player(self, jurisdiction: str, funds: str) -> str:
        account = await self.svc.accounts.register(
            f"u{time.monotonic_ns() % 10**12}", "correct horse", jurisdiction, "1990-01-01")
        await self.svc.reviews.decide_kyc(account.account_id, KycStatus.VERIFIED, "test", "op")
        await self.svc.wallet.wallet.deposit(account.account_id, "d1", funds)
        return account.account_id

    async def money(self, account_id: str) -> tuple[Decimal, Decimal]:
        """(available, reserved), once no reservation of this account is left open."""
        for _ in range(50):
            balance = await self.svc.wallet.wallet.balance(account_id)
            if balance.reserved == 0:
                break
            await asyncio.sleep(0.05)
        return balance.available, balance.reserved


@pytest.fixture()
async def slips(redis_url: str) -> AsyncIterator[Slips]:
    svc = api_services(redis_url)
    stamp = f"{os.getpid()}-{time.monotonic_ns() % 10**9}"
    book, live = f"slip-book-{stamp}", f"slip-live-{stamp}"
    handle = await svc.events.registry.get(book, create=True)
    await handle.create_event(_book_event(book))
    await handle.set_market_status("sus", MarketStatus.SUSPENDED)
    await handle.set_market_status("cl", MarketStatus.CLOSED)
    handle = await svc.events.registry.get(live, create=True)
    await handle.create_event(match_winner_event(live, delay_s=0.5))
    await handle.set_status(EventStatus.IN_PLAY)
    s = Slips(svc, book, live)
    yield s
    await s.http.aclose()
    await asyncio.sleep(0.6)  # the held bets' follow-ups end before their actors do
    for event_id in (book, live):
        ray.kill(ray.get_actor(actor_name(event_id), namespace="inplay"))


def _single(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A slip's bet as a ``POST /v1/bets`` request: (body, Idempotency-Key header)."""
    body = {k: v for k, v in item.items() if k != "idempotency_key"}
    return body, {"Idempotency-Key": item["idempotency_key"]}


async def test_a_slip_answers_every_bet_as_post_bets_would(slips: Slips) -> None:
    # an AU player: in-play bets are refused (JURISDICTION_BLOCKED), pre-match ones are not
    acct = await slips.player("AU", funds="50")
    await slips.svc.accounts.accounts.set_limits(acct, {"stake_max": Decimal("60")})
    player = slips.auth(acct)
    once = await slips.http.post("/v1/bets", json=_single(slips.bet("single"))[0],
                                 headers={**player, "Idempotency-Key": "single"})
    assert once.status_code == 201, once.text
    s = slips.bet
    expected: list[tuple[dict[str, Any], int, str | None]] = [
        (s("ok"), 201, None),
        (s("moved", price="2.40"), 409, "PRICE_CHANGED"),
        (s("no-event", event_id=f"{slips.book}-nowhere"), 404, "UNKNOWN_EVENT"),
        (s("no-market", market_id="nope"), 404, "UNKNOWN_MARKET"),
        (s("no-selection", selection_id="nobody"), 404, "UNKNOWN_SELECTION"),
        (s("suspended", market_id="sus", selection_id="yes", price="3.00"), 423,
         "MARKET_SUSPENDED"),
        (s("closed", market_id="cl", selection_id="yes", price="3.00"), 409, "MARKET_CLOSED"),
        (s("big-stake", selection_id="away", stake="6", price="2.80"), 409, "STAKE_ABOVE_MAX"),
        (s("big-payout", selection_id="draw", stake="4", price="3.20"), 409,
         "PAYOUT_ABOVE_MAX"),
        (s("liability", market_id="ll", selection_id="yes", price="3.00"), 409,
         "LIABILITY_LIMIT"),
        (s("in-play", event_id=slips.live), 403, "JURISDICTION_BLOCKED"),
        (s("too-much", stake="55"), 402, "INSUFFICIENT_FUNDS"),
        (s("over-limit", stake="61"), 403, "LIMIT_EXCEEDED"),
        (s("single", stake="2"), 422, "IDEMPOTENCY_KEY_REUSED"),
    ]
    slip = {"bets": [item for item, _, _ in expected]}
    answer = await slips.http.post("/v1/betslips", json=slip, headers=player)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["idempotency_key"] for r in results] == [i["idempotency_key"] for i, _, _ in
                                                       expected]
    for result, (item, status, code) in zip(results, expected, strict=True):
        key = item["idempotency_key"]
        assert result["status"] == status, (key, result)
        if code is None:
            assert set(result) == {"idempotency_key", "status", "bet"}
            assert result["bet"]["status"] == "accepted", key
            assert result["bet"]["bet_id"] == bet_id_for(acct, key)
        else:
            assert set(result) == {"idempotency_key", "status", "problem"}, key
            assert (result["problem"]["code"], result["problem"]["status"]) == (code, status)
    by_key = {r["idempotency_key"]: r for r in results}
    assert by_key["moved"]["problem"]["price"] == "2.50"
    assert by_key["liability"]["problem"]["max_stake"] == "0.50"
    assert by_key["big-stake"]["problem"]["max_stake"] == "5.00"
    # only the accepted bets moved money: the single one before, and "ok"
    assert await slips.money(acct) == (Decimal("48.00"), Decimal("0.00"))

    # each bet's result is what POST /v1/bets answers for its body and key (a retry of it)
    for result, (item, _, _) in zip(results, expected, strict=True):
        body, key = _single(item)
        single = await slips.http.post("/v1/bets", json=body, headers={**player, **key})
        assert single.status_code == result["status"], item
        assert single.json() == result.get("bet", result.get("problem")), item
    # ... and the same slip again answers the same, moving no more money
    again = await slips.http.post("/v1/betslips", json=slip, headers=player)
    assert again.status_code == 200 and again.json() == answer.json()
    assert await slips.money(acct) == (Decimal("48.00"), Decimal("0.00"))


async def test_the_bets_of_one_event_reach_its_actor_in_one_batch(slips: Slips) -> None:
    acct = await slips.player("GB", funds="100")
    live = {"event_id": slips.live}
    items = [slips.bet("a1"), slips.bet("b1", **live),
             slips.bet("a2", selection_id="draw", price="3.20"),
             slips.bet("b2", **live, selection_id="away", price="2.80"),
             slips.bet("a3", selection_id="away", price="2.80")]
    answer = await slips.http.post("/v1/betslips", json={"bets": items},
                                   headers=slips.auth(acct))
    assert answer.status_code == 200, answer.text
    assert [(r["idempotency_key"], r["status"], r["bet"]["status"])
            for r in answer.json()["results"]] == [
        ("a1", 201, "accepted"), ("b1", 202, "pending"), ("a2", 201, "accepted"),
        ("b2", 202, "pending"), ("a3", 201, "accepted")]
    ids = {key: bet_id_for(acct, key) for key in ("a1", "a2", "a3", "b1", "b2")}
    # one actor call per event, carrying all its bets in the slip's order
    assert sorted(slips.recorder.calls) == sorted([
        (slips.book, [ids["a1"], ids["a2"], ids["a3"]]),
        (slips.live, [ids["b1"], ids["b2"]])])


async def test_a_slip_stays_in_one_batch_when_bets_are_already_waiting(slips: Slips) -> None:
    """Bets queued together leave together even when the batch they would join fills up:
    with room for 4, 2 waiting bets and a slip of 3 leave as [2] and [3], not [4] and [1]."""
    acct = await slips.player("GB", funds="100")
    recorder = Recorder(slips.recorder.inner)
    saga = BetSaga(slips.svc.wallet.wallet, recorder, SagaConfig(batch_max=4))

    def cmd(key: str) -> PlaceBet:
        return PlaceBet(bet_id_for(acct, key), acct, "mw", "home", Decimal("1"),
                        Decimal("2.50"), OddsPolicy.NONE)

    waiting = saga.submit([cmd("w1"), cmd("w2")], "sport_prematch", slips.book)
    slip = saga.submit([cmd("s1"), cmd("s2"), cmd("s3")], "sport_prematch", slips.book)
    decisions = await asyncio.gather(*waiting, *slip)
    assert all(type(d).__name__ == "BetAccepted" for d in decisions)
    assert recorder.calls == [(slips.book, [cmd("w1").bet_id, cmd("w2").bet_id]),
                              (slips.book, [cmd(k).bet_id for k in ("s1", "s2", "s3")])]


async def test_a_malformed_slip_places_nothing(slips: Slips) -> None:
    acct = await slips.player("GB", funds="100")
    player = slips.auth(acct)
    bets = [slips.bet(f"k{i}") for i in range(21)]
    cases: list[tuple[str, Any, dict[str, str], int, str]] = [
        ("21 bets", {"bets": bets}, player, 422, "VALIDATION_ERROR"),
        ("no bets", {"bets": []}, player, 422, "VALIDATION_ERROR"),
        ("a key twice", {"bets": [slips.bet("same"), slips.bet("other"),
                                  slips.bet("same", selection_id="draw", price="3.20")]},
         player, 422, "VALIDATION_ERROR"),
        ("a bad key", {"bets": [slips.bet("ok"), slips.bet("x" * 65)]}, player, 422,
         "VALIDATION_ERROR"),
        ("no key", {"bets": [slips.bet("ok"), {k: v for k, v in slips.bet("x").items()
                                               if k != "idempotency_key"}]},
         player, 422, "VALIDATION_ERROR"),
        ("an unprintable key", {"bets": [slips.bet("ok"), slips.bet("bell\a")]}, player,
         422, "VALIDATION_ERROR"),
        ("not an object", {"bets": [slips.bet("ok"), 7]}, player, 422, "VALIDATION_ERROR"),
        # one bet's field out of its bounds refuses the slip, with that field's code
        ("off the ladder", {"bets": [slips.bet("ok"), slips.bet("x", price="2.51")]}, player,
         422, "INVALID_ODDS"),
        ("a tenth of a cent", {"bets": [slips.bet("ok"), slips.bet("x", stake="1.001")]},
         player, 422, "INVALID_AMOUNT"),
        ("a bet's unknown field", {"bets": [slips.bet("ok"), slips.bet("x", colour="red")]},
         player, 422, "VALIDATION_ERROR"),
        ("not a list", {"bets": slips.bet("ok")}, player, 422, "VALIDATION_ERROR"),
        ("beside bets", {"bets": [slips.bet("ok")], "note": "x"}, player, 422,
         "VALIDATION_ERROR"),
        ("no token", {"bets": [slips.bet("ok")]}, {}, 401, "UNAUTHENTICATED"),
        ("no token, bad slip", {"bets": []}, {}, 401, "UNAUTHENTICATED"),
        ("an operator", {"bets": [slips.bet("ok")]}, slips.auth("ops", Role.OPERATOR), 403,
         "FORBIDDEN"),
    ]
    for name, slip, headers, status, code in cases:
        answer = await slips.http.post("/v1/betslips", json=slip, headers=headers)
        assert answer.headers["content-type"] == "application/problem+json", name
        assert (answer.status_code, answer.json()["code"]) == (status, code), name
        if code == "INVALID_ODDS":  # the field is located within the slip
            assert answer.json()["errors"][0]["loc"] == ["body", "bets", 1, "price"]
    assert slips.recorder.calls == []
    assert await slips.money(acct) == (Decimal("100.00"), Decimal("0.00"))
    listed = await slips.http.get("/v1/bets", headers=player)
    assert listed.status_code == 200 and listed.json()["items"] == []
