"""The regional odds cache on a real Ray, fed by real event actors over a real server: lost
deltas are found (by the next delta, or by the beat) and repaired, a restarted cache never
serves a version older than it served before, and its snapshot is the event actor's view."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
import ray

from actors.event_actor import NAMESPACE, ActorConfig, actor_name, remote_event_actor
from actors.odds_cache import OddsCacheConfig, remote_odds_cache
from domain import errors
from domain.events import EventStatus, MarketStatus
from domain.views import EventView
from tests.support.factories import match_winner_event

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

_names = count()


@dataclass
class Region:
    """A region of its own for one test: its cache, and the event actors that feed it."""

    name: str
    config: ActorConfig
    cache: Any
    events: list[str]

    def event(self, **config: Any) -> tuple[str, Any]:
        """A new event actor publishing to this region's cache."""
        event_id = f"oc{os.getpid()}-{next(_names)}-{time.monotonic_ns() % 10**6}"
        self.events.append(event_id)
        cfg = ActorConfig(redis_url=self.config.redis_url, regions=(self.name,), **config)
        actor = remote_event_actor(event_id, cfg)
        ray.get(actor.create_event.remote(match_winner_event(event_id)))
        return event_id, actor

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = ray.get(self.cache.stats.remote(), timeout=30)
        return found


@pytest.fixture()
def region(redis_url: str) -> Iterator[Region]:
    name = f"t{os.getpid() % 10000}x{next(_names)}"
    actor = ActorConfig(redis_url=redis_url, regions=(name,))
    cache = remote_odds_cache(OddsCacheConfig(region=name, actor=actor))
    found = Region(name, actor, cache, [])
    yield found
    ray.kill(cache, no_restart=True)
    for event_id in found.events:
        try:
            ray.kill(ray.get_actor(actor_name(event_id), namespace=NAMESPACE), no_restart=True)
        except ValueError:
            pass


def view(handle: Any, *args: Any) -> EventView:
    found: EventView = ray.get(handle.view.remote(*args), timeout=30)
    return found


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.05)


def following(region: Region, event_id: str, actor: Any) -> None:
    """Wait until the event actor has found the cache (its beat looks it up): a change then
    reaches the cache as a delta."""
    view(region.cache, event_id)  # loaded
    ray.get(actor.set_score.remote("0-1"))  # reaches the cache by a delta, or by a resync
    version = view(actor).version
    eventually(lambda: region.stats()["versions"].get(event_id) == version)
    eventually(lambda: view(region.cache, event_id).score == "0-1")


def prices(found: EventView, market_id: str = "mw") -> dict[str, str]:
    market = found.market(market_id)
    assert market is not None
    return {s.selection_id: f"{s.price:.2f}" for s in market.selections}


def test_a_lost_delta_is_found_by_the_next_one_and_repaired(region: Region) -> None:
    event_id, actor = region.event(beat_s=0.5)
    following(region, event_id, actor)
    before = region.stats()
    ray.get(region.cache.lose_next.remote(event_id, 1))
    ray.get(actor.change_odds.remote("mw", {"home": Decimal("2.60")}))  # lost on the way
    ray.get(actor.change_odds.remote("mw", {"draw": Decimal("3.40")}))  # opens a gap
    truth = view(actor)
    eventually(lambda: view(region.cache, event_id) == truth, timeout_s=5)
    after = region.stats()
    assert after["lost"] == before["lost"] + 1
    assert after["gaps"] == before["gaps"] + 1  # held, then...
    assert after["resyncs"] == before["resyncs"] + 1  # ... resynchronised from the actor
    assert after["versions"][event_id] == truth.version
    assert prices(view(region.cache, event_id)) == {"home": "2.60", "draw": "3.40",
                                                    "away": "2.80"}


def test_a_lost_last_delta_is_found_by_the_beat_and_repaired(region: Region) -> None:
    event_id, actor = region.event(beat_s=0.5)
    following(region, event_id, actor)
    before = region.stats()
    ray.get(region.cache.lose_next.remote(event_id, 1))
    ray.get(actor.change_odds.remote("mw", {"away": Decimal("3.00")}))  # the last: no gap
    truth = view(actor)
    assert view(region.cache, event_id).version == truth.version - 1  # not yet
    eventually(lambda: view(region.cache, event_id) == truth, timeout_s=5)
    after = region.stats()
    assert after["gaps"] == before["gaps"]  # no later delta showed it: the beat did
    assert after["resyncs"] == before["resyncs"] + 1
    assert prices(view(region.cache, event_id))["away"] == "3.00"


def test_the_snapshot_is_the_event_actors_view_after_every_kind_of_change(
        region: Region) -> None:
    event_id, actor = region.event(beat_s=0.5)
    following(region, event_id, actor)
    resyncs = region.stats()["resyncs"]
    changes = [
        lambda: actor.change_odds.remote("mw", {"home": Decimal("2.40")}),
        lambda: actor.set_status.remote(EventStatus.IN_PLAY),
        lambda: actor.change_odds.remote("ou25", {"over": Decimal("2.00")}),
        lambda: actor.set_market_status.remote("ou25", MarketStatus.SUSPENDED),
        lambda: actor.set_score.remote("1-0"),
        lambda: actor.set_status.remote(EventStatus.SUSPENDED),  # every market: cause event
        lambda: actor.change_odds.remote("mw", {"home": Decimal("2.20")}),
        lambda: actor.set_status.remote(EventStatus.IN_PLAY),
        lambda: actor.set_market_status.remote("ou25", MarketStatus.OPEN),
    ]
    for change in changes:
        ray.get(change())
        truth = view(actor)
        eventually(lambda: view(region.cache, event_id) == truth, timeout_s=5)  # noqa: B023
    assert region.stats()["resyncs"] == resyncs  # nothing was lost: no resync was needed


def test_a_long_poll_answers_with_the_deltas_once_there_are_any(region: Region) -> None:
    event_id, actor = region.event(beat_s=0.5)
    following(region, event_id, actor)
    version = view(region.cache, event_id).version
    started = time.monotonic()
    idle = ray.get(region.cache.changes.remote(event_id, version, 0.3))
    assert idle.version == version and idle.deltas == () and idle.snapshot is None
    assert 0.25 < time.monotonic() - started < 5
    waiting = region.cache.changes.remote(event_id, version, 20.0)
    time.sleep(0.3)
    started = time.monotonic()
    ray.get(actor.change_odds.remote("mw", {"home": Decimal("2.70")}))
    found = ray.get(waiting, timeout=10)
    assert time.monotonic() - started < 2
    assert [d.version for d in found.deltas] == [version + 1] and found.snapshot is None
    assert dict(found.deltas[0].prices) == {"home": Decimal("2.70")}
    # a reader far behind the ring (version 0) gets a snapshot, then what follows it
    behind = ray.get(region.cache.changes.remote(event_id, 0, 0))
    assert behind.snapshot is not None and behind.snapshot.version >= version
    assert behind.version == version + 1


def test_a_restarted_cache_never_serves_an_older_version(region: Region) -> None:
    event_id, actor = region.event(beat_s=0.5)
    following(region, event_id, actor)
    for price in ("2.52", "2.54", "2.56"):
        ray.get(actor.change_odds.remote("mw", {"home": Decimal(price)}))
    eventually(lambda: view(region.cache, event_id) == view(actor))
    served = view(region.cache, event_id).version
    pid = region.stats()["pid"]
    ray.kill(region.cache, no_restart=False)
    eventually(lambda: _pid(region.cache) not in (None, pid), timeout_s=60)
    assert region.stats()["events"] == 0  # it starts empty ...
    again = view(region.cache, event_id)  # ... and loads the event from its actor
    assert again.version >= served and prices(again)["home"] == "2.56"
    behind = ray.get(region.cache.changes.remote(event_id, served - 2, 0))
    assert behind.snapshot is not None and behind.version >= served
    # and it follows the event again
    ray.get(actor.change_odds.remote("mw", {"home": Decimal("2.58")}))
    eventually(lambda: view(region.cache, event_id) == view(actor))
    assert view(region.cache, event_id).version > served


def test_an_unknown_event_is_refused_and_no_actor_is_made(region: Region) -> None:
    missing = f"nope-{os.getpid()}-{next(_names)}"
    with pytest.raises(errors.UnknownEvent):
        view(region.cache, missing)
    with pytest.raises(errors.UnknownEvent):
        ray.get(region.cache.changes.remote(missing, 0, 0))
    with pytest.raises(ValueError):
        ray.get_actor(actor_name(missing), namespace=NAMESPACE)
    assert missing not in region.stats()["versions"]


def _pid(cache: Any) -> int | None:
    try:
        pid: int = ray.get(cache.stats.remote(), timeout=5)["pid"]
        return pid
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return None
