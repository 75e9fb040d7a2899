"""The partner API end to end on a real Ray and a real server: gRPC through Ray Serve (the
``partner`` application over Serve's gRPC proxy), the saga and real event actors, the
wallet, a settlement actor, and the bet index StreamBets follows. What a partner gets is
compared with what the HTTP API answers for the same bets (the real app, in process).

(``inplay up`` runs Serve behind HAProxy with direct ingress: ``tests/e2e/test_partner.py``
checks that mode.)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
import ray

from actors.event_actor import NAMESPACE, ActorConfig, actor_name
from actors.settlement import SettlementActor, SettlementConfig, settlement_name
from cluster.partner_client import PartnerClient, bet_request
from domain import errors
from domain.identity import KycStatus, Role, TokenSigner
from domain.settlement import MarketResult
from serve_apps.app import create_app
from serve_apps.partner import (
    PARTNER_APP,
    PARTNER_ROUTE,
    SERVICER,
    PartnerConfig,
    build_partner_application,
)
from serve_apps.partner_proto import inplay_partner_pb2 as pb
from serve_apps.partner_proto import inplay_partner_pb2_grpc as pb_grpc
from serve_apps.partner_proto.convert import bet_from_wire, refusal_from_wire, without_nulls
from serve_apps.services import ApiConfig, ApiServices
from storage.embedded import EmbeddedRedis, free_port
from storage.wallet import WalletConfig
from tests.support.api import TOKEN_KEY, api_services, token_key_file
from tests.support.factories import match_winner_event

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

POLL_S = 0.1
_counter = iter(range(1_000_000))


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}-{next(_counter)}-{time.monotonic_ns() % 10**8}"


def token(subject: str, role: Role = Role.PLAYER, key: str = TOKEN_KEY) -> str:
    return TokenSigner(key).issue(subject, role, 600).token


@pytest.fixture(scope="module")
def partner_target(ray_session: None, redis_server: EmbeddedRedis) -> Iterator[str]:
    """Serve with the partner's gRPC servicer on a free port, and the ``partner`` app."""
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": free_port()},
                grpc_options={"port": port, "grpc_servicer_functions": [SERVICER]})
    url = redis_server.url
    api = ApiConfig(redis_url=url, actor=ActorConfig(redis_url=url),
                    wallet=WalletConfig(rate_limit_per_s=1000, rate_limit_burst=1000),
                    kyc_provider="manual", settlement_pool=1, token_key_file=token_key_file())
    serve.run(build_partner_application(PartnerConfig(api, poll_s=POLL_S)),
              name=PARTNER_APP, route_prefix=PARTNER_ROUTE, blocking=False)
    yield f"127.0.0.1:{port}"
    serve.shutdown()


class World:
    """The services of an API replica (in process: accounts, events, results, HTTP reads),
    a settlement actor, and the events and clients of a test."""

    def __init__(self, redis_url: str, target: str) -> None:
        self.target = target
        self.svc: ApiServices = api_services(redis_url, settlement_pool=1)
        self.events: list[str] = []
        self.clients: list[PartnerClient] = []
        self.settlement = ray.remote(SettlementActor).options(
            name=settlement_name(0), namespace=NAMESPACE, get_if_exists=True,
            max_restarts=-1, num_cpus=0).remote(
            0, SettlementConfig(ActorConfig(redis_url=redis_url), pool_size=1,
                                sweep_interval_s=0.5))
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(self.svc)),
                                      base_url="http://api")

    async def event(self, **limits: Any) -> str:
        event_id = unique("partner-ev")
        self.events.append(event_id)
        client = await self.svc.events.registry.get(event_id, create=True)
        await client.create_event(match_winner_event(event_id, **limits))
        return event_id

    async def partner(self, funds: str = "200") -> tuple[str, PartnerClient]:
        """A verified, funded player account and its client."""
        account = await self.svc.accounts.register(unique("mm"), "correct horse", "GB",
                                                   "1990-01-01")
        await self.svc.reviews.decide_kyc(account.account_id, KycStatus.VERIFIED, "test", "op")
        await self.svc.wallet.wallet.deposit(account.account_id, "d1", funds)
        return account.account_id, self.client(token(account.account_id))

    def client(self, bearer: str) -> PartnerClient:
        found = PartnerClient(self.target, bearer, attempts=1)
        self.clients.append(found)
        return found

    async def http_bet(self, account_id: str, bet_id: str) -> dict[str, Any]:
        answer = await self.http.get(f"/v1/bets/{bet_id}",
                                     headers={"Authorization": f"Bearer {token(account_id)}"})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def available(self, account_id: str) -> Decimal:
        return (await self.svc.wallet.wallet.balance(account_id)).available

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.http.aclose()
        for name in [actor_name(e) for e in self.events] + [settlement_name(0)]:
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            except ValueError:
                pass


@pytest.fixture()
async def world(redis_url: str, partner_target: str) -> AsyncIterator[World]:
    found = World(redis_url, partner_target)
    yield found
    await found.close()


def outcome(result: pb.BetResult) -> tuple[str, str]:
    """(status or refusal code, bet id) of one result."""
    if result.HasField("bet"):
        return result.bet.status, result.bet.bet_id
    return result.refusal.code, result.refusal.bet_id


async def raw_call(target: str, method: str, request: Any, metadata: tuple[tuple[str, str], ...]
                   ) -> grpc.aio.AioRpcError:
    """A call on the raw stub that must fail: its error (code, details, trailers)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.PartnerStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            call = getattr(stub, method)(request, metadata=metadata, timeout=30)
            if method == "StreamBets":
                async for _ in call:
                    pass
            else:
                await call
        return failed.value


def trailers(exc: grpc.aio.AioRpcError) -> dict[str, str]:
    return {k: str(v) for k, v in exc.trailing_metadata() or ()}


# ---------------------------------------------------------------- PlaceBets / GetBet


async def test_a_batch_gets_one_result_per_bet_and_a_retry_gets_the_same(world: World) -> None:
    event_id = await world.event(max_liability="100")
    account, partner = await world.partner(funds="200")
    batch = [
        bet_request("k-ok", event_id, "mw", "home", "10", "2.50"),
        bet_request("k-liability", event_id, "mw", "away", "80", "2.80"),  # 144 > 100
        bet_request("k-funds", event_id, "mw", "home", "500", "2.50"),
        bet_request("k-price", event_id, "mw", "draw", "5", "3.00"),  # it is 3.20
        bet_request("k-ladder", event_id, "mw", "home", "5", "2.51"),
        bet_request("k-amount", event_id, "mw", "home", "0.001", "2.50"),
        bet_request("k-market", event_id, "nope", "home", "5", "2.50"),
        bet_request("", event_id, "mw", "home", "5", "2.50"),
        bet_request("k-higher", event_id, "mw", "draw", "5", "3.00", "higher", 1),
    ]
    results = await partner.place_bets(batch)
    got = [outcome(r) for r in results]
    assert [code for code, _ in got] == [
        "accepted", "LIABILITY_LIMIT", "INSUFFICIENT_FUNDS", "PRICE_CHANGED", "INVALID_ODDS",
        "INVALID_AMOUNT", "UNKNOWN_MARKET", "IDEMPOTENCY_KEY_REQUIRED", "accepted"]
    # every bet with a key carries its bet id, accepted or refused
    assert all(bet_id for _, bet_id in got[:7]) and got[7][1] == "" and got[8][1]
    assert len({bet_id for _, bet_id in got if bet_id}) == 8
    refusals = {r.refusal.code: refusal_from_wire(r.refusal) for r in results
                if r.HasField("refusal")}
    assert refusals["LIABILITY_LIMIT"]["status"] == 409
    assert 0 < Decimal(refusals["LIABILITY_LIMIT"]["max_stake"]) < 80  # a counter-offer
    assert refusals["INSUFFICIENT_FUNDS"]["status"] == 402
    assert (refusals["PRICE_CHANGED"]["price"], refusals["PRICE_CHANGED"]["status"]) == (
        "3.20", 409)
    assert refusals["PRICE_CHANGED"]["price_version"] >= 1
    assert refusals["INVALID_ODDS"]["status"] == 422
    assert any("price" in e for e in refusals["INVALID_ODDS"]["errors"])
    assert refusals["INVALID_AMOUNT"]["status"] == 422
    assert refusals["UNKNOWN_MARKET"]["status"] == 404
    assert refusals["IDEMPOTENCY_KEY_REQUIRED"]["status"] == 422
    accepted, higher = results[0].bet, results[8].bet
    assert (accepted.stake, accepted.price, accepted.potential_payout) == (
        "10.00", "2.50", "25.00")
    assert (higher.price, higher.requested_price) == ("3.20", "3.00")  # a better price
    assert await world.available(account) == Decimal("185.00")

    # the same batch again: the same outcomes, nothing placed twice
    again = await partner.place_bets(batch)
    assert [outcome(r) for r in again] == got
    assert again[0].bet == accepted and again[8].bet == higher
    assert refusal_from_wire(again[1].refusal) == refusals["LIABILITY_LIMIT"]
    assert await world.available(account) == Decimal("185.00")

    # the bet over gRPC is the bet over HTTP, field for field
    for bet in (accepted, higher):
        found = await partner.get_bet(bet.bet_id)
        assert found == bet
        assert bet_from_wire(found) == without_nulls(await world.http_bet(account, bet.bet_id))
    # a book refusal was journaled: it reads as a rejected bet, as over HTTP
    rejected = await partner.get_bet(got[1][1])
    assert (rejected.status, rejected.reason) == ("rejected", "LIABILITY_LIMIT")
    assert bet_from_wire(rejected) == without_nulls(await world.http_bet(account, got[1][1]))


async def test_another_accounts_bet_is_not_found_and_a_malformed_id_is_invalid(
        world: World) -> None:
    event_id = await world.event()
    _, mine = await world.partner()
    _, theirs = await world.partner()
    [placed] = await theirs.place_bets([bet_request("t1", event_id, "mw", "home", "10", "2.50")])
    assert placed.bet.status == "accepted"
    with pytest.raises(errors.UnknownBet):
        await mine.get_bet(placed.bet.bet_id)
    with pytest.raises(errors.UnknownBet):
        await mine.get_bet("b0000000000000000000000000")
    with pytest.raises(errors.ValidationFailed):
        await mine.get_bet("no/such id")
    failed = await raw_call(world.target, "GetBet", pb.GetBetRequest(bet_id=placed.bet.bet_id),
                            mine.metadata)
    assert failed.code() is grpc.StatusCode.NOT_FOUND
    assert trailers(failed)["inplay-code"] == "UNKNOWN_BET"
    assert trailers(failed)["inplay-status"] == "404"
    assert (failed.details() or "").startswith("UNKNOWN_BET: ")


async def test_calls_refused_whole_carry_their_code_and_place_nothing(world: World) -> None:
    event_id = await world.event()
    account, partner = await world.partner()
    one = pb.PlaceBetsRequest(bets=[bet_request("w1", event_id, "mw", "home", "10", "2.50")])
    application = (("application", "partner"),)
    for metadata, status, code in [
        (application, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        ((("authorization", "Bearer not-a-token"), *application),
         grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        ((("authorization", f"Bearer {token(account, key='x' * 32)}"), *application),
         grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        ((("authorization", f"Bearer {token('ops', Role.OPERATOR)}"), *application),
         grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN"),
        ((("authorization", f"Bearer {token('prov', Role.FEED)}"), *application),
         grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN"),
    ]:
        for method, request in [("PlaceBets", one), ("GetBet", pb.GetBetRequest(bet_id="b1")),
                                ("StreamBets", pb.StreamBetsRequest())]:
            failed = await raw_call(world.target, method, request, metadata)
            assert failed.code() is status, (method, failed)
            assert (failed.details() or "").startswith(f"{code}: "), (method, failed)
            if method != "StreamBets":  # unary calls carry it as a trailer too
                assert trailers(failed)["inplay-code"] == code, (method, failed)
    # the client raises the domain error of the code
    with pytest.raises(errors.Unauthenticated):
        await world.client("not-a-token").place_bets(list(one.bets))
    with pytest.raises(errors.Unauthenticated):
        async for _ in world.client("").stream_bets():
            pass
    with pytest.raises(errors.Forbidden):
        await world.client(token("ops", Role.OPERATOR)).get_bet("b1")

    # a request that is not a batch: none, too many, a key twice
    many = [bet_request(f"m{i}", event_id, "mw", "home", "1", "2.50") for i in range(101)]
    twice = [bet_request("same", event_id, "mw", "home", "1", "2.50"),
             bet_request("same", event_id, "mw", "away", "1", "2.80")]
    for bets in ([], many, twice):
        failed = await raw_call(world.target, "PlaceBets", pb.PlaceBetsRequest(bets=bets),
                                partner.metadata)
        assert failed.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert trailers(failed)["inplay-code"] == "VALIDATION_ERROR"
        assert trailers(failed)["inplay-status"] == "422"
    with pytest.raises(errors.ValidationFailed):
        await partner.send(pb.PlaceBetsRequest(bets=twice))
    failed = await raw_call(world.target, "StreamBets", pb.StreamBetsRequest(recent=5000),
                            partner.metadata)
    assert failed.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (failed.details() or "").startswith("VALIDATION_ERROR: ")
    assert await world.available(account) == Decimal("200.00")
    assert (await world.svc.bets.page(
        world.svc.auth.principal(f"Bearer {token(account)}"), None, 10, 0)).items == []


async def test_the_client_sends_more_than_one_call_for_a_large_batch(world: World) -> None:
    event_id = await world.event()
    _, partner = await world.partner(funds="1000")
    bets = [bet_request(f"big{i}", event_id, "mw", "home", "1", "2.50") for i in range(150)]
    results = await partner.place_bets(bets)
    assert [r.bet.status for r in results] == ["accepted"] * 150
    assert len({r.bet.bet_id for r in results}) == 150


# ---------------------------------------------------------------- StreamBets


async def _next(updates: AsyncIterator[pb.BetUpdate], timeout_s: float = 30) -> pb.BetUpdate:
    return await asyncio.wait_for(anext(updates), timeout_s)


async def test_a_stream_tells_the_initial_state_then_every_change(world: World) -> None:
    from ray import serve

    event_id = await world.event()
    account, partner = await world.partner(funds="500")
    _, other = await world.partner()
    before = await partner.place_bets([
        bet_request("s1", event_id, "mw", "home", "10", "2.50"),
        bet_request("s2", event_id, "mw", "away", "20", "2.80"),
        bet_request("s3", event_id, "mw", "draw", "5", "9.00"),  # PRICE_CHANGED: journaled
    ])
    assert [outcome(r)[0] for r in before] == ["accepted", "accepted", "PRICE_CHANGED"]
    handle = serve.get_app_handle(PARTNER_APP)

    updates = partner.stream_bets(recent=10)
    initial = []
    while (update := await _next(updates)).kind == pb.BetUpdate.INITIAL:
        initial.append(update)
    assert update.kind == pb.BetUpdate.CAUGHT_UP and not update.HasField("bet")
    assert sorted((u.bet.bet_id, u.bet.status) for u in initial) == sorted(
        [(before[0].bet.bet_id, "accepted"), (before[1].bet.bet_id, "accepted"),
         (before[2].refusal.bet_id, "rejected")])
    assert [u.placed_at_ms for u in initial] == sorted(u.placed_at_ms for u in initial)
    for u in initial:
        assert bet_from_wire(u.bet) == without_nulls(await world.http_bet(account, u.bet.bet_id))
    assert await handle.open_streams.remote() == 1

    # a bet placed after the stream opened (over HTTP: the same account's bets, whatever the
    # way in), and another account's, which this stream never tells
    await other.place_bets([bet_request("o1", event_id, "mw", "home", "10", "2.50")])
    answer = await world.http.post(
        "/v1/bets", json={"event_id": event_id, "market_id": "mw", "selection_id": "draw",
                          "stake": "7.00", "price": "3.20"},
        headers={"Authorization": f"Bearer {token(account)}", "Idempotency-Key": "h1"})
    assert answer.status_code == 201, answer.text
    placed = await _next(updates)
    assert placed.kind == pb.BetUpdate.CHANGED
    assert (placed.bet.bet_id, placed.bet.status, placed.bet.stake) == (
        answer.json()["bet_id"], "accepted", "7.00")
    assert placed.placed_at_ms >= initial[-1].placed_at_ms

    # the market is resulted: settlement pays, and each accepted bet is told settled
    await world.svc.events.result(event_id, "mw", MarketResult(("home",)), close=True)
    settled: dict[str, pb.Bet] = {}
    while len(settled) < 3:
        update = await _next(updates, 60)
        assert update.kind == pb.BetUpdate.CHANGED
        settled[update.bet.bet_id] = update.bet
    assert {b: (s.status, s.payout) for b, s in settled.items()} == {
        before[0].bet.bet_id: ("won", "25.00"), before[1].bet.bet_id: ("lost", "0.00"),
        placed.bet.bet_id: ("lost", "0.00")}
    for bet in settled.values():
        assert [s.step for s in bet.settlements] and bet.settlements[-1].status == bet.status
        assert bet_from_wire(bet) == without_nulls(await world.http_bet(account, bet.bet_id))

    # the client stops listening: the call is cancelled, and the replica's stream ends
    await updates.aclose()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while await handle.open_streams.remote() != 0:
        assert time.monotonic() < deadline, "the stream did not end on the replica"
        await asyncio.sleep(0.1)

    # a stream from a cursor: the bets placed since then, in their state now
    resumed = partner.stream_bets(since_ms=placed.placed_at_ms)
    first = await _next(resumed)
    assert (first.kind, first.bet.bet_id, first.bet.status) == (
        pb.BetUpdate.INITIAL, placed.bet.bet_id, "lost")
    assert (await _next(resumed)).kind == pb.BetUpdate.CAUGHT_UP
    await resumed.aclose()  # type: ignore[attr-defined]
