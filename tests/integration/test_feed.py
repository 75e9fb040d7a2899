"""Feed ingest end to end on a real Ray and a real server: gRPC through Ray Serve (the
``feed`` application over Serve's gRPC proxy), the ``feed:<provider>`` adapter actors, the
event actors; ``POST /v1/ops/feed`` through the real app; the heartbeat watchdog.

(``inplay up`` runs Serve behind HAProxy with direct ingress: ``tests/e2e/test_feed.py``
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

from actors.event_actor import NAMESPACE, ActorConfig, actor_name, remote_event_actor
from actors.feed import adapter_name
from actors.registry import EventClient
from cluster.feed_client import FeedClient
from domain import errors
from domain.events import EventStatus, MarketStatus
from domain.feed import Ack, FeedKind, FeedMessage, MatchState
from domain.identity import Role, TokenSigner
from domain.views import EventView
from serve_apps.app import create_app
from serve_apps.feed import FEED_APP, FEED_ROUTE, FeedConfig, build_feed_application, grpc_options
from serve_apps.feed_proto import inplay_feed_pb2 as pb
from serve_apps.feed_proto import inplay_feed_pb2_grpc as pb_grpc
from storage.embedded import EmbeddedRedis, free_port
from tests.support.api import TOKEN_KEY, api_services, token_key_file
from tests.support.factories import bet, match_winner_event, outcome

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

_counter = iter(range(1_000_000))


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}-{next(_counter)}-{time.monotonic_ns() % 10**8}"


def token(subject: str, role: Role = Role.FEED, key: str = TOKEN_KEY) -> str:
    return TokenSigner(key).issue(subject, role, 600).token


@pytest.fixture(scope="module")
def feed_target(ray_session: None, redis_server: EmbeddedRedis) -> Iterator[str]:
    """Serve with the feed's gRPC servicer on a free port, and the ``feed`` application."""
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": free_port()},
                grpc_options=grpc_options(port))
    serve.run(build_feed_application(FeedConfig(ActorConfig(redis_server.url),
                                             token_key_file=token_key_file())),
              name=FEED_APP, route_prefix=FEED_ROUTE, blocking=False)
    yield f"127.0.0.1:{port}"
    serve.shutdown()


class World:
    """Events (actors made here, as the operator API makes them) and providers of a test."""

    def __init__(self, redis_url: str, target: str) -> None:
        self.redis_url, self.target = redis_url, target
        self.events: list[str] = []
        self.providers: list[str] = []
        self.clients: list[FeedClient] = []

    async def event(self, **config: Any) -> EventClient:
        event_id = unique("feed-ev")
        self.events.append(event_id)
        handle = remote_event_actor(event_id, ActorConfig(self.redis_url, **config))
        client = EventClient(event_id, handle)
        await client.create_event(match_winner_event(event_id))
        return client

    def provider(self) -> tuple[str, FeedClient]:
        name = unique("prov")
        self.providers.append(name)
        client = FeedClient(self.target, token(name), timeout_s=30)
        self.clients.append(client)
        return name, client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for name in [actor_name(e) for e in self.events] + [adapter_name(p)
                                                           for p in self.providers]:
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            except ValueError:
                pass


@pytest.fixture()
async def world(redis_url: str, feed_target: str) -> AsyncIterator[World]:
    found = World(redis_url, feed_target)
    yield found
    await found.close()


def message(provider: str, event_id: str, seq: int, kind: FeedKind, **fields: Any
            ) -> FeedMessage:
    return FeedMessage(provider, event_id, seq, kind, time.time(), **fields)


def statuses(acks: list[Ack]) -> list[tuple[int, str, str]]:
    return [(a.seq, a.status.value, a.code) for a in acks]


def prices(view: EventView, market_id: str = "mw") -> dict[str, str]:
    market = view.market(market_id)
    assert market is not None
    return {s.selection_id: str(s.price) for s in market.selections}


def market_state(view: EventView, market_id: str = "mw") -> tuple[str, str]:
    market = view.market(market_id)
    assert market is not None
    return market.status.value, market.cause


# ---------------------------------------------------------------- gRPC through Serve


async def test_grpc_messages_change_the_event_and_are_acked_in_order(world: World) -> None:
    event = await world.event()
    name, feed = world.provider()
    eid = event.event_id
    batch = [
        message(name, eid, 1, FeedKind.MATCH_STATE, state=MatchState.FIRST_HALF),
        message(name, eid, 2, FeedKind.ODDS_CHANGE, market_id="mw",
                prices=(("away", Decimal("3.00")), ("home", Decimal("2.00")))),
        message(name, eid, 3, FeedKind.BET_STOP, market_ids=("mw",), cause="goal"),
        message(name, eid, 4, FeedKind.SCORE, score="1-0"),
    ]
    acks = await feed.publish(batch)
    assert statuses(acks) == [(1, "applied", ""), (2, "applied", ""), (3, "applied", ""),
                              (4, "applied", "")]
    assert [a.event_id for a in acks] == [eid] * 4
    versions = [a.version for a in acks]
    assert versions == sorted(versions) and len(set(versions)) == 4, versions
    view = await event.view()
    assert view.status is EventStatus.IN_PLAY and view.score == "1-0"
    assert prices(view)["home"] == "2.00" and prices(view)["away"] == "3.00"
    assert market_state(view) == ("suspended", "goal")
    assert market_state(view, "ou25") == ("open", "")
    assert view.version == versions[-1]

    # the client stream (Publish) takes the same messages: the bet start re-opens the market
    acks = await feed.publish_stream([
        message(name, eid, 5, FeedKind.BET_START, market_ids=("mw",)),
        message(name, eid, 6, FeedKind.ODDS_CHANGE, market_id="mw",
                prices=(("home", Decimal("1.80")),)),
        message(name, eid, 7, FeedKind.MATCH_STATE, state=MatchState.ENDED)])
    assert statuses(acks) == [(5, "applied", ""), (6, "applied", ""), (7, "applied", "")]
    view = await event.view()
    assert prices(view)["home"] == "1.80"
    assert view.status is EventStatus.CLOSED


async def test_a_slow_client_stream_is_applied_as_it_arrives(world: World) -> None:
    """``Publish`` does not hold messages back until the stream ends: a bet stop sent on a
    long-lived stream is in force while the stream is still open."""
    event = await world.event()
    name, feed = world.provider()
    stopped = asyncio.Event()

    async def messages() -> AsyncIterator[FeedMessage]:
        yield message(name, event.event_id, 1, FeedKind.BET_STOP, cause="red card")
        await asyncio.wait_for(stopped.wait(), timeout=30)
        yield message(name, event.event_id, 2, FeedKind.BET_START)

    sending = asyncio.create_task(feed.publish_stream(messages()))
    deadline = time.monotonic() + 20
    while market_state(await event.view()) != ("suspended", "red card"):
        assert time.monotonic() < deadline, "the bet stop was not applied while streaming"
        await asyncio.sleep(0.05)
    stopped.set()
    assert statuses(await sending) == [(1, "applied", ""), (2, "applied", "")]
    assert market_state(await event.view()) == ("open", "")


async def test_duplicates_and_stragglers_are_dropped_also_after_the_adapter_restarts(
        world: World) -> None:
    event = await world.event()
    name, feed = world.provider()
    eid = event.event_id

    def odds(seq: int, home: str) -> FeedMessage:
        return message(name, eid, seq, FeedKind.ODDS_CHANGE, market_id="mw",
                       prices=(("home", Decimal(home)),))

    assert statuses(await feed.publish([odds(1, "2.10"), odds(2, "2.20"), odds(3, "2.30")])) \
        == [(1, "applied", ""), (2, "applied", ""), (3, "applied", "")]
    # a resend, and a straggler behind a newer message: dropped by the adapter's gate
    acks = await feed.publish([odds(2, "9.00"), odds(5, "2.50"), odds(4, "8.00")])
    assert statuses(acks) == [(2, "duplicate", ""), (5, "applied", ""), (4, "duplicate", "")]
    assert prices(await event.view())["home"] == "2.50"
    version = (await event.view()).version

    adapter = ray.get_actor(adapter_name(name), namespace=NAMESPACE)
    before = await adapter.stats.remote()
    assert before["gate"] == {eid: 5} and before["events"] == [eid]
    ray.kill(adapter, no_restart=False)  # max_restarts=-1: it comes back, its gate empty
    deadline = time.monotonic() + 60
    while True:
        try:
            after = await adapter.stats.remote()
            if after["pid"] != before["pid"]:
                break
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
            pass
        assert time.monotonic() < deadline, "the adapter did not come back"
        await asyncio.sleep(0.2)
    assert after["gate"] == {} and after["events"] == [eid]  # the events are in Redis

    # the event actor's journaled seq is the authority now
    acks = await feed.publish([odds(3, "7.00"), odds(5, "8.00"), odds(6, "2.60"),
                               odds(6, "6.00")])
    assert statuses(acks) == [(3, "duplicate", ""), (5, "duplicate", ""), (6, "applied", ""),
                              (6, "duplicate", "")]
    view = await event.view()
    assert prices(view)["home"] == "2.60" and view.version == version + 1


async def test_a_bad_token_is_unauthenticated_and_nothing_is_applied(world: World) -> None:
    event = await world.event()
    before = await event.view()
    name = unique("intruder")
    world.providers.append(name)
    score = [message(name, event.event_id, 1, FeedKind.SCORE, score="9-9")]
    for bad in ("", "not-a-token", token(name, key="x" * 32)):
        client = FeedClient(world.target, bad, attempts=1)
        world.clients.append(client)
        with pytest.raises(errors.Unauthenticated):
            await client.publish(score)
        with pytest.raises(errors.Unauthenticated):
            await client.publish_stream(score)
    player = FeedClient(world.target, token(name, Role.PLAYER), attempts=1)
    world.clients.append(player)
    with pytest.raises(errors.Forbidden):
        await player.publish(score)
    # no metadata at all, on the raw stub
    async with grpc.aio.insecure_channel(world.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.FeedStub(channel).PublishBatch(
                pb.FeedBatch(messages=[pb.FeedMessage(event_id=event.event_id, seq=1,
                                                      score=pb.Score(score="9-9"))]),
                metadata=(("application", "feed"),), timeout=30)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    after = await event.view()
    assert after.score == before.score and after.version == before.version
    with pytest.raises(ValueError):  # refused before any adapter was made
        ray.get_actor(adapter_name(name), namespace=NAMESPACE)


async def test_malformed_messages_are_refused_and_change_nothing(world: World) -> None:
    event = await world.event()
    name, _ = world.provider()
    eid = event.event_id
    before = await event.view()
    batch = pb.FeedBatch(messages=[
        pb.FeedMessage(event_id=eid, seq=1, score=pb.Score(score="1-0")),
        pb.FeedMessage(event_id=eid, seq=2),  # no body: no kind
        pb.FeedMessage(event_id=eid, seq=3, odds_change=pb.OddsChange(
            market_id="mw", prices={"home": "2.41"})),  # off the ladder
        pb.FeedMessage(event_id=eid, seq=-4, score=pb.Score(score="2-0")),
        pb.FeedMessage(event_id=eid, seq=5, match_state=pb.MatchStateChange()),
        pb.FeedMessage(event_id=eid, seq=6, score=pb.Score(score="2-0")),
    ])
    async with grpc.aio.insecure_channel(world.target) as channel:
        reply = await pb_grpc.FeedStub(channel).PublishBatch(
            batch, metadata=(("authorization", f"Bearer {token(name)}"),
                             ("application", "feed")), timeout=30)
    got = [(a.seq, pb.AckStatus.Name(a.status), a.code) for a in reply.acks]
    bad = "INVALID_FEED_MESSAGE"
    assert got == [(1, "APPLIED", ""), (2, "REFUSED", bad), (3, "REFUSED", bad),
                   (-4, "REFUSED", bad), (5, "REFUSED", bad), (6, "APPLIED", "")]
    assert all(a.detail for a in reply.acks if a.code)
    after = await event.view()
    assert after.score == "2-0" and prices(after) == prices(before)
    assert after.version == before.version + 2  # the two scores, nothing else


async def test_an_unknown_event_is_refused_and_no_actor_is_made(world: World) -> None:
    event = await world.event()
    name, feed = world.provider()
    ghost = unique("ghost")
    acks = await feed.publish([
        message(name, ghost, 1, FeedKind.SCORE, score="1-0"),
        message(name, event.event_id, 1, FeedKind.SCORE, score="1-0"),
        message(name, ghost, 2, FeedKind.ALIVE),
        message(name, event.event_id, 2, FeedKind.BET_STOP, market_ids=("nope",)),
    ])
    assert statuses(acks) == [(1, "refused", "UNKNOWN_EVENT"), (1, "applied", ""),
                              (2, "refused", "UNKNOWN_EVENT"), (2, "refused", "UNKNOWN_MARKET")]
    with pytest.raises(ValueError):
        ray.get_actor(actor_name(ghost), namespace=NAMESPACE)
    stats = await ray.get_actor(adapter_name(name), namespace=NAMESPACE).stats.remote()
    assert stats["events"] == [event.event_id] and ghost not in stats["gate"]


# ---------------------------------------------------------------- the heartbeat watchdog


async def test_a_silent_feed_suspends_every_market_and_its_next_alive_reopens_them(
        world: World) -> None:
    # the watchdog looks every beat_s: a silence is seen within timeout + beat_s + the
    # tick's own work; at 0.5 s that is well inside the timeout plus a second
    timeout_s = 2.0
    event = await world.event(feed_timeout_s=timeout_s, beat_s=0.5)
    other = await world.event(feed_timeout_s=timeout_s, beat_s=0.5)
    name, feed = world.provider()
    # the provider feeds both events; from then on only its provider-wide heartbeat
    acks = await feed.publish([message(name, event.event_id, 1, FeedKind.SCORE, score="0-0"),
                               message(name, other.event_id, 1, FeedKind.ALIVE)])
    assert statuses(acks) == [(1, "applied", ""), (1, "applied", "")]
    alive_seq = iter(range(1, 10_000))
    heartbeats_until = time.monotonic() + 2.5 * timeout_s
    while time.monotonic() < heartbeats_until:  # alive every 0.5 s: nothing is suspended
        acks = await feed.publish([message(name, "", next(alive_seq), FeedKind.ALIVE)])
        last_heard = time.monotonic()  # the event actors heard it before this ack
        assert statuses(acks)[0][1] == "applied"
        for ev in (event, other):
            assert market_state(await ev.view()) == ("open", ""), ev.event_id
        await asyncio.sleep(0.5)

    lost_at = None
    while lost_at is None:
        view = await event.view()
        if market_state(view)[0] == "suspended":
            lost_at = time.monotonic() - last_heard
        else:
            assert time.monotonic() - last_heard < timeout_s + 1.0, "not suspended in time"
            await asyncio.sleep(0.05)
    assert lost_at >= timeout_s - 0.1, f"suspended too early ({lost_at:.2f}s)"
    assert lost_at <= timeout_s + 1.0, f"suspended late ({lost_at:.2f}s)"
    for ev in (event, other):
        deadline = time.monotonic() + 1.0
        while (view := await ev.view()).status is not EventStatus.SUSPENDED:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert {(m.status, m.cause) for m in view.markets} == {
            (MarketStatus.SUSPENDED, "feed_lost")}
    placed = await event.handle.place_bets.remote([bet("b-lost", stake="5", price="2.50")])
    assert outcome(placed[0])["code"] == "MARKET_SUSPENDED"
    stats = await event.stats()
    assert stats["feed_lost"] == [name]

    # the next alive re-opens what the loss suspended
    acks = await feed.publish([message(name, "", next(alive_seq), FeedKind.ALIVE)])
    assert statuses(acks)[0][1] == "applied"
    for ev in (event, other):
        view = await ev.view()
        assert view.status is EventStatus.SCHEDULED
        assert {(m.status, m.cause) for m in view.markets} == {(MarketStatus.OPEN, "")}
    placed = await event.handle.place_bets.remote([bet("b-back", stake="5", price="2.50")])
    assert outcome(placed[0])["status"] == "accepted"


# ---------------------------------------------------------------- POST /v1/ops/feed


async def test_operators_and_providers_post_the_same_messages_over_http(
        world: World) -> None:
    event = await world.event()
    eid = event.event_id
    svc = api_services(world.redis_url)
    provider = unique("http-prov")
    world.providers += [provider, "desk"]
    operator = {"Authorization": f"Bearer {token('ops', Role.OPERATOR)}"}
    own = {"Authorization": f"Bearer {token(provider)}"}
    problem = "application/problem+json"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                 base_url="http://api") as http:
        async def post(body: Any, headers: dict[str, str]) -> httpx.Response:
            return await http.post("/v1/ops/feed", json=body, headers=headers)

        answer = await post({"messages": [
            {"kind": "bet_stop", "event_id": eid, "seq": 1, "cause": "penalty"},
            {"kind": "score", "event_id": eid, "seq": 2, "score": "1-0"},
            {"kind": "odds_change", "event_id": eid, "seq": 3, "market_id": "mw",
             "prices": {"home": "1.50"}},
            {"kind": "odds_change", "event_id": eid, "seq": 4, "market_id": "mw",
             "prices": {"home": "2.41"}},  # off the ladder
            {"kind": "score", "event_id": unique("ghost"), "seq": 1, "score": "1-0"},
            {"kind": "score", "event_id": eid, "seq": 2, "score": "5-5"},
        ]}, own)
        assert answer.status_code == 200, answer.text
        acks = answer.json()["acks"]
        assert [(a["seq"], a["status"], a["code"]) for a in acks] == [
            (1, "applied", ""), (2, "applied", ""), (3, "applied", ""),
            (4, "refused", "INVALID_FEED_MESSAGE"), (1, "refused", "UNKNOWN_EVENT"),
            (2, "duplicate", "")]
        assert set(acks[0]) == {"event_id", "seq", "status", "code", "detail", "version"}
        view = await event.view()
        assert view.score == "1-0" and prices(view)["home"] == "1.50"
        assert market_state(view) == ("suspended", "penalty")

        # an operator speaks for any provider (here a desk of its own) ...
        answer = await post({"provider": "desk", "messages": [
            {"kind": "bet_start", "event_id": eid, "seq": 1}]}, operator)
        assert answer.status_code == 200 and answer.json()["acks"][0]["status"] == "applied"
        assert market_state(await event.view()) == ("open", "")
        # ... a provider only for itself; a publisher or a player not over HTTP
        one = {"messages": [{"kind": "alive", "event_id": eid, "seq": 9}]}
        for body, headers, status, code in [
            ({**one, "provider": "desk"}, own, 403, "FORBIDDEN"),
            (one, {"Authorization": f"Bearer {token('cam', Role.PUBLISHER)}"}, 403,
             "FORBIDDEN"),
            (one, {"Authorization": f"Bearer {token('p1', Role.PLAYER)}"}, 403, "FORBIDDEN"),
            (one, {}, 401, "UNAUTHENTICATED"),
            ({"messages": "alive"}, own, 422, "VALIDATION_ERROR"),
            ({"messages": []}, own, 422, "VALIDATION_ERROR"),
            ({"messages": [1, 2]}, own, 422, "VALIDATION_ERROR"),
            ({**one, "provider": "bad|name"}, operator, 422, "VALIDATION_ERROR"),
            ({**one, "extra": 1}, own, 422, "VALIDATION_ERROR"),
        ]:
            answer = await post(body, headers)
            assert answer.status_code == status, (body, answer.text)
            assert answer.headers["content-type"] == problem
            assert answer.json()["code"] == code
    assert (await event.view()).score == "1-0"
