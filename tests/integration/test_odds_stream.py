"""The odds stream over HTTP: the odds application (``create_odds_app``) in a real uvicorn on a
loopback port, over real services, a real odds cache and real event actors in Ray.

A client reads the snapshot then every change in order; one that reconnects with
``Last-Event-ID`` while the odds keep moving sees every version after it in order (or a
snapshot), never an older one; keep-alive comments come on an idle stream; an unknown event is
404 before any stream starts; a client too slow to keep up gets a snapshot; streams that end
leave nothing behind on the replica.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from typing import Any

import httpx
import pytest
import ray
import uvicorn

from actors.event_actor import NAMESPACE, ActorConfig, actor_name, cache_name, remote_event_actor
from domain.events import EventStatus, MarketStatus
from serve_apps.app import create_odds_app
from serve_apps.services import ApiServices
from serve_apps.streams import StreamConfig
from tests.support.api import api_services
from tests.support.factories import match_winner_event
from tests.support.sse import Message, SseReader

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

_names = count()
PRICES = ("2.50", "2.52", "2.54", "2.56", "2.58", "2.60")


@dataclass
class Served:
    svc: ApiServices
    http: httpx.AsyncClient
    config: ActorConfig
    events: list[str]

    async def event(self) -> tuple[str, Any]:
        """A new event whose actor publishes to this server's cache, followed by it."""
        event_id = f"os{os.getpid()}-{next(_names)}-{time.monotonic_ns() % 10**6}"
        self.events.append(event_id)
        actor = remote_event_actor(event_id, self.config)
        await actor.create_event.remote(match_winner_event(event_id))
        # loaded in the cache, and the actor has found the cache (its beat looks it up)
        await self.svc.events.view(event_id)
        await actor.set_score.remote("0-1")
        version = (await actor.view.remote()).version
        await until(lambda: self.version(event_id), version)
        return event_id, actor

    async def version(self, event_id: str) -> int:
        stats = await self.svc.events.odds.stats()  # type: ignore[union-attr]
        found: int = stats["versions"].get(event_id, -1)
        return found


async def until(probe: Callable[[], Awaitable[Any]], wanted: Any, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while (found := await probe()) != wanted:
        assert time.monotonic() < deadline, f"{found} != {wanted}"
        await asyncio.sleep(0.05)


@pytest.fixture()
async def served(redis_url: str) -> AsyncIterator[Served]:
    region = f"s{os.getpid() % 10000}x{next(_names)}"
    actor = ActorConfig(redis_url=redis_url, regions=(region,), beat_s=0.5)
    svc = api_services(redis_url, actor=actor,
                       streams=StreamConfig(keepalive_s=0.4, queue=8, linger_s=1.0))
    server = uvicorn.Server(uvicorn.Config(create_odds_app(svc), host="127.0.0.1", port=0,
                                           lifespan="off", log_level="warning",
                                           access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        found = Served(svc, http, actor, [])
        yield found
    server.should_exit = server.force_exit = True
    await asyncio.wait_for(task, 30)
    for name in (cache_name(region), *(actor_name(e) for e in found.events)):
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        except ValueError:
            pass


def path(event_id: str) -> str:
    return f"/v1/events/{event_id}/stream"


async def test_a_client_reads_the_snapshot_then_every_change_in_order(served: Served) -> None:
    event_id, actor = await served.event()
    async with served.http.stream("GET", path(event_id)) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["cache-control"] == "no-cache"
        sse = SseReader(answer)
        snapshot = await sse.message()
        event = (await served.http.get(f"/v1/events/{event_id}")).json()
        assert snapshot.event == "snapshot" and snapshot.data == event
        assert snapshot.id == event["version"] and sse.retry_ms == 1000
        assert {m["market_id"]: m["cause"] for m in event["markets"]} == {"mw": "", "ou25": ""}
        v = snapshot.version
        await actor.change_odds.remote("mw", {"home": Decimal("2.60"), "away": Decimal("3.00")})
        await actor.set_market_status.remote("ou25", MarketStatus.SUSPENDED)
        await actor.set_score.remote("1-1")
        await actor.set_status.remote(EventStatus.IN_PLAY)
        found = [await sse.message() for _ in range(4)]
    assert [(m.event, m.id) for m in found] == [
        ("odds", v + 1), ("status", v + 2), ("score", v + 3), ("status", v + 4)]
    assert found[0].data == {"version": v + 1, "market_id": "mw", "market_version": 2,
                             "prices": {"away": "3.00", "home": "2.60"}}
    assert found[1].data == {"version": v + 2, "status": "scheduled", "market_id": "ou25",
                             "markets": {"mw": "open", "ou25": "suspended"}, "cause": ""}
    assert found[2].data == {"version": v + 3, "score": "1-1"}
    assert found[3].data == {"version": v + 4, "status": "in_play", "market_id": None,
                             "markets": {"mw": "open", "ou25": "suspended"}, "cause": ""}
    # the event read agrees with what the stream said
    await until(lambda: _event_version(served, event_id), v + 4)
    head = await served.http.head(path(event_id))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")


async def _event_version(served: Served, event_id: str) -> int:
    version: int = (await served.http.get(f"/v1/events/{event_id}")).json()["version"]
    return version


async def test_reconnecting_with_last_event_id_never_goes_back(served: Served) -> None:
    event_id, actor = await served.event()
    rng = random.Random(7)

    async def move_odds() -> None:
        for i in range(150):
            await actor.change_odds.remote("mw", {"home": Decimal(PRICES[i % len(PRICES)])})
            await asyncio.sleep(rng.uniform(0, 0.02))

    mover = asyncio.create_task(move_odds())
    seen: list[Message] = []
    last: int | None = None
    connections = 0
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, (last, connections, [m.id for m in seen][-20:])
        headers = {} if last is None else {"Last-Event-ID": str(last)}
        connections += 1
        async with served.http.stream("GET", path(event_id), headers=headers) as answer:
            assert answer.status_code == 200
            sse = SseReader(answer)
            for _ in range(rng.randint(1, 6)):
                try:
                    message = await sse.message(timeout_s=1.0)
                except TimeoutError:
                    break
                if message.event == "snapshot":
                    assert last is None or message.version > last, (last, message.id)
                else:
                    assert last is not None and message.version == last + 1, (last, message.id)
                seen.append(message)
                last = message.id
        if mover.done() and last == (await actor.view.remote()).version:
            break
    await mover
    ids = [m.version for m in seen]
    assert ids == sorted(set(ids)), "an id went back or came twice"
    assert connections > 20
    deltas = sum(1 for m in seen if m.event != "snapshot")
    assert deltas > 100, f"only {deltas} deltas: reconnecting should rarely need a snapshot"
    # where the stream went on with deltas, the prices are the ones the event actor had
    final = seen[-1]
    assert final.id == (await actor.view.remote()).version


async def test_keep_alive_comments_arrive_on_an_idle_stream(served: Served) -> None:
    event_id, _ = await served.event()
    async with served.http.stream("GET", path(event_id)) as answer:
        sse = SseReader(answer)
        assert (await sse.next()).event == "snapshot"
        started = time.monotonic()
        comments = [await sse.next(timeout_s=2) for _ in range(3)]
    assert all(c.comment == "keep-alive" for c in comments)
    assert 0.8 < time.monotonic() - started < 3  # every 0.4 s


async def test_an_unknown_event_is_a_404_problem_before_any_stream(served: Served) -> None:
    answer = await served.http.get(path("no-such-event"))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "UNKNOWN_EVENT"
    bad = await served.http.get(path("bad id!"))
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"


async def test_a_client_too_slow_gets_a_snapshot_not_a_backlog(served: Served) -> None:
    event_id, actor = await served.event()
    streams = served.svc.streams
    assert streams is not None
    stream = await streams.open(event_id, None)
    first = await stream.next_chunk()
    assert first is not None and first.startswith(b"event: snapshot\n")
    for i in range(20):  # the queue holds 8: it overflows
        await actor.change_odds.remote("mw", {"home": Decimal(PRICES[i % len(PRICES)])})
    final = (await actor.view.remote()).version
    await until(lambda: _hub_version(served, event_id), final)
    assert len(stream.queue) < 8
    chunk = await stream.next_chunk()
    assert chunk is not None and chunk.startswith(b"event: snapshot\nid: %d\n" % final)
    stream.hub.leave(stream)


async def _hub_version(served: Served, event_id: str) -> int:
    assert served.svc.streams is not None
    hub = served.svc.streams.hubs.get(event_id)
    return -1 if hub is None else hub.version


async def test_streams_that_end_leave_nothing_behind(served: Served) -> None:
    event_id, _ = await served.event()
    streams = served.svc.streams
    assert streams is not None
    clients = [httpx.AsyncClient(base_url=str(served.http.base_url), timeout=10)
               for _ in range(5)]
    readers = []
    for client in clients:
        answer = await client.send(client.build_request("GET", path(event_id)), stream=True)
        readers.append((answer, SseReader(answer)))
        assert (await readers[-1][1].message()).event == "snapshot"
    assert streams.stats() == {"hubs": 1, "streams": 5}
    for (answer, _), client in zip(readers, clients, strict=True):
        await answer.aclose()
        await client.aclose()
    await until(lambda: _stats(served), {"hubs": 1, "streams": 0})
    # and the hub stops once no stream was open for linger_s (1 s here)
    await until(lambda: _stats(served), {"hubs": 0, "streams": 0})


async def _stats(served: Served) -> dict[str, int]:
    assert served.svc.streams is not None
    return served.svc.streams.stats()
