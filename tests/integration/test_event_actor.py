"""The event actor on a real Ray against a real server: durability under kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import ray
import redis

from actors.event_actor import (
    ActorConfig,
    EventActor,
    actor_name,
    remote_event_actor,
)
from domain import errors
from domain.codec import decode
from domain.events import BetAccepted, EventStatus, OddsPolicy
from storage.embedded import EmbeddedRedis
from storage.journal import recover, verify_chain
from tests.support.factories import bet, match_winner_event, outcome

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

_counter = iter(range(1_000_000))


def fresh_event_id() -> str:
    return f"t{os.getpid()}-{next(_counter)}-{int(time.time() * 1000) % 100000}"


@pytest.fixture()
def event_id() -> Iterator[str]:
    eid = fresh_event_id()
    yield eid
    try:
        ray.kill(ray.get_actor(actor_name(eid), namespace="inplay"), no_restart=True)
    except ValueError:
        pass


def journal_outcomes(url: str, event_id: str) -> dict[str, str]:
    """bet id → final status, from the journal alone (what survives everything)."""
    client = redis.Redis.from_url(url)
    status: dict[str, str] = {}
    for _, payload in recover(client, event_id, use_snapshot=False).entries:
        event = decode(payload)
        terms = getattr(event, "terms", None)
        if terms is not None:
            status[terms.bet_id] = type(event).__name__
    return status


def wait_until_serving(actor: Any, old_pid: int, timeout_s: float = 60.0) -> dict[str, Any]:
    """Stats of the restarted incarnation (a process other than ``old_pid``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            stats: dict[str, Any] = ray.get(actor.stats.remote(), timeout=10)
            if stats["pid"] != old_pid:
                return stats
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        assert time.monotonic() < deadline, "actor did not come back"
        time.sleep(0.2)


def restart(actor: Any) -> dict[str, Any]:
    pid = ray.get(actor.stats.remote())["pid"]
    ray.kill(actor, no_restart=False)
    return wait_until_serving(actor, pid)


async def burst(actor: Any, prefix: str, batches: int, per_batch: int, clients: int,
                during: Any = None) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Concurrent clients place batches; returns acknowledged outcomes and unknown bet ids."""
    acked: dict[str, dict[str, Any]] = {}
    unknown: set[str] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(batches):
        queue.put_nowait(i)

    async def client() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            cmds = [bet(f"{prefix}-{i}-{j}", stake="1", policy=_any()) for j in range(per_batch)]
            try:
                raw = await actor.place_bets.remote(cmds)
                results = [outcome(r) for r in raw]
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
                    errors.Unavailable):
                unknown.update(c.bet_id for c in cmds)
                await asyncio.sleep(0.05)
                continue
            for cmd, result in zip(cmds, results, strict=True):
                assert "error" not in result, result
                acked[cmd.bet_id] = result
            await asyncio.sleep(0.02)  # spread the burst over ~1-2 s so the kill lands in it

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    if during is not None:
        await during()
    await asyncio.gather(*tasks)
    return acked, unknown


def _any() -> Any:
    return OddsPolicy.ANY


def place(actor: Any, bets: list[Any]) -> list[dict[str, Any]]:
    return [outcome(r) for r in ray.get(actor.place_bets.remote(bets))]


def new_actor(url: str, event_id: str, **config: Any) -> Any:
    cfg = ActorConfig(redis_url=url, **config)
    actor = remote_event_actor(event_id, cfg)
    ray.get(actor.create_event.remote(match_winner_event(event_id, max_liability="1000000")))
    return actor


def test_restart_recovers_from_snapshot_plus_journal(redis_url: str, event_id: str) -> None:
    actor = new_actor(redis_url, event_id, snapshot_every=100)
    for i in range(5):
        place(actor, [bet(f"r{i}-{j}", stake="2") for j in range(50)])
    ray.get(actor.change_odds.remote("mw", {"home": Decimal("2.60")}))
    before = ray.get(actor.exposure.remote())
    view_before = ray.get(actor.view.remote())
    stats = restart(actor)
    assert stats["epoch"] == 2 and stats["seq"] == 252
    assert stats["replayed"] < 100 and stats["snapshot_seq"] >= 200
    assert ray.get(actor.exposure.remote()) == before
    assert ray.get(actor.view.remote()) == view_before
    # idempotent after the restart too: the same bet is not taken twice
    again = place(actor, [bet("r0-0", stake="2")])[0]
    assert again["status"] == "accepted" and ray.get(actor.stats.remote())["seq"] == 252


def test_kill_9_during_a_burst_loses_no_acknowledged_bet(redis_url: str, event_id: str) -> None:
    actor = new_actor(redis_url, event_id, snapshot_every=500)
    pid = ray.get(actor.stats.remote())["pid"]

    async def kill_midway() -> None:
        await asyncio.sleep(0.4)
        os.kill(pid, signal.SIGKILL)

    acked, unknown = asyncio.run(burst(actor, "k", batches=150, per_batch=40, clients=6,
                                       during=kill_midway))
    stats = wait_until_serving(actor, pid)
    assert stats["epoch"] == 2
    assert len(acked) > 0 and len(unknown) > 0, "the kill should land mid-burst"
    journal = journal_outcomes(redis_url, event_id)
    for bet_id, record in acked.items():
        assert journal.get(bet_id) == "BetAccepted", (bet_id, record)
    # a retry of an unknown outcome returns what the journal says, never a second bet
    retry = [bet(b, stake="1", policy=_any()) for b in sorted(unknown)[:200]]
    results = place(actor, retry)
    for cmd, result in zip(retry, results, strict=True):
        assert result["status"] == "accepted"
        assert journal.get(cmd.bet_id) in (None, "BetAccepted")
    journal = journal_outcomes(redis_url, event_id)
    accepted = [b for b, kind in journal.items() if kind == "BetAccepted"]
    assert len(accepted) == len(set(accepted))
    assert verify_chain(redis.Redis.from_url(redis_url), event_id) == ray.get(
        actor.stats.remote())["seq"]


def test_a_fenced_zombie_cannot_write(redis_url: str, event_id: str) -> None:
    zombie = new_actor(redis_url, event_id)
    assert place(zombie, [bet("z1")])[0]["status"] == "accepted"
    # a successor for the same event starts (as after a partition): it takes a new epoch
    successor: Any = ray.remote(EventActor).options(num_cpus=0).remote(
        event_id, ActorConfig(redis_url=redis_url))
    assert ray.get(successor.stats.remote())["epoch"] == 2
    with pytest.raises(Exception, match="replaced"):
        place(zombie, [bet("z2")])
    assert ray.get(zombie.ping.remote()) is False
    with pytest.raises(Exception, match="replaced"):
        ray.get(zombie.set_score.remote("1-0"))
    assert "z2" not in journal_outcomes(redis_url, event_id)
    assert place(successor, [bet("z3")])[0]["status"] == "accepted"
    ray.kill(successor)


def test_kill_9_redis_during_a_burst_loses_nothing_acknowledged(
    own_redis: EmbeddedRedis, event_id: str
) -> None:
    actor = new_actor(own_redis.url, event_id)

    async def kill_redis() -> None:
        await asyncio.sleep(0.3)
        own_redis.kill()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_redis.restart)

    acked, unknown = asyncio.run(burst(actor, "rk", batches=240, per_batch=40, clients=6,
                                       during=kill_redis))
    assert len(acked) > 0 and len(unknown) > 0, "the kill should land mid-burst"
    journal = journal_outcomes(own_redis.url, event_id)
    for bet_id in acked:
        assert journal.get(bet_id) == "BetAccepted", bet_id
    # the actor rebuilt itself from Redis and serves again
    later = place(actor, [bet("after", stake="1")])[0]
    assert later["status"] == "accepted"


def test_in_play_delay_releases_by_itself_even_after_a_restart(
    redis_url: str, event_id: str
) -> None:
    actor = remote_event_actor(event_id, ActorConfig(redis_url=redis_url))
    ray.get(actor.create_event.remote(match_winner_event(event_id, delay_s=1.0)))
    ray.get(actor.set_status.remote(EventStatus.IN_PLAY.value))
    held = place(actor, [bet("d1"), bet("d2", price="2.40")])
    assert held[0]["status"] == "pending" and held[1]["code"] == "PRICE_CHANGED"
    restart(actor)  # the held bet must survive and still be released
    deadline = time.monotonic() + 10
    while journal_outcomes(redis_url, event_id).get("d1") != BetAccepted.__name__:
        assert time.monotonic() < deadline, "held bet was never released"
        time.sleep(0.1)
    record = place(actor, [bet("d1")])[0]
    assert record["status"] == "accepted" and record["accepted_at"] >= record["placed_at"] + 1.0
