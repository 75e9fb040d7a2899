"""``inplay up --demo``: a league of simulated matches, verified and funded players, live video.

Everything is created through the public APIs (as an operator, a feed provider and players
would), so the demo exercises the real paths. A ``demo-league`` actor plays simulated football
matches one after another and publishes them through the gRPC feed ingest: prices, bet stops,
score, heartbeats, results (settled and paid). The synthetic video is published by WHIP from
a ``demo-publisher`` actor to the match in play (or about to start). Both are detached and
live as long as the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from cluster.api_client import ApiClient, ApiError, AsyncApiClient

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo-"
# the league's provider name (the subject of its feed token)
DEMO_PROVIDER = "demo-feed"
# the in-play delay of the demo's markets: above the video's glass-to-glass latency
DEMO_DELAY_S = 3.0
DEMO_PLAYERS = ("demo1", "demo2", "demo3")
DEMO_FUNDS = "1000.00"


@dataclass
class DemoCredentials:
    players: list[tuple[str, str]]
    operator_token: str
    publisher_token: str


def seed(base_url: str, operator_token: str, publisher_token: str,
         passwords: dict[str, str]) -> DemoCredentials:
    """Create the demo players over HTTP; idempotent (safe to run on every up)."""
    with ApiClient(base_url, timeout_s=30) as api:
        players = []
        for name in DEMO_PLAYERS:
            _player(api, operator_token, name, passwords[name])
            players.append((name, passwords[name]))
    return DemoCredentials(players, operator_token, publisher_token)


def _player(api: ApiClient, operator_token: str, name: str, password: str) -> None:
    """Register a verified, funded demo player (already there after an earlier `up`)."""
    try:
        account_id = api.register(name, password, jurisdiction="GB",
                                  date_of_birth="1990-01-01")["account_id"]
    except ApiError as exc:
        if exc.status == 409:
            return
        raise
    api.decide_kyc(operator_token, account_id, status="verified", reason="demo account")
    api.set_media_tier(operator_token, account_id, "webrtc")
    token = api.login(name, password)["token"]
    api.deposit(token, DEMO_FUNDS, method="debit_card", key=f"demo-funds-{name}")


class DemoPublisher:
    """Publishes the synthetic video by WHIP to the region's media actor, forever, for the
    demo match in play (or about to start): when the league moves on, so does the video."""

    def __init__(self, base_url: str, region: str) -> None:
        from media.actors import lower_cpu_priority
        from media.sfu import MediaSettings

        # it encodes video, as a camera's encoder would: the bet path goes first
        lower_cpu_priority(MediaSettings().cpu_nice)
        self.base_url, self.region = base_url, region
        self.event_id: str | None = None
        self.error = ""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        from media.actors import get_or_create_region_actor
        from media.client import WhipPublisher
        from media.synthetic import SyntheticVideoTrack

        async with AsyncApiClient(self.base_url, timeout_s=10) as api:
            while True:
                event_id = await self._current(api)
                if event_id is None:
                    await asyncio.sleep(2)
                    continue
                self.event_id = event_id
                publisher = WhipPublisher(SyntheticVideoTrack())
                try:
                    actor = await asyncio.to_thread(get_or_create_region_actor, self.region)
                    await publisher.start(self._signal(actor, event_id))
                    await self._until_closed_or_moved(publisher, api, event_id)
                except Exception as exc:  # keep the demo stream up across media restarts
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("demo publisher: %s", self.error)
                await publisher.close()
                await asyncio.sleep(1)

    @staticmethod
    async def _current(api: AsyncApiClient) -> str | None:
        try:
            return await current_demo_event(api)
        except Exception as exc:
            log.warning("demo publisher: no event list (%s)", exc)
            return None

    @staticmethod
    def _signal(actor: Any, event_id: str) -> Any:
        async def signal(offer: str) -> str:
            _, answer = await actor.whip.remote(event_id, offer)
            return str(answer)

        return signal

    async def _until_closed_or_moved(self, publisher: Any, api: AsyncApiClient,
                                     event_id: str) -> None:
        closed = asyncio.Event()

        @publisher.pc.on("connectionstatechange")
        def changed() -> None:
            if publisher.pc.connectionState in ("failed", "closed"):
                closed.set()

        while not closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), 5)
            current = await self._current(api)
            if current is not None and current != event_id:
                return

    async def ping(self) -> dict[str, Any]:
        return {"running": not self._task.done(), "error": self.error}


def demo_event_id(number: int) -> str:
    return f"{DEMO_PREFIX}{number}"


def is_demo(event_id: str) -> bool:
    return event_id.startswith(DEMO_PREFIX) and event_id[len(DEMO_PREFIX):].isdigit()


async def current_demo_event(api: AsyncApiClient) -> str | None:
    """The demo match in play, else the next one to start, else None."""
    listed = [e for e in await api.list_events() if is_demo(e["event_id"])]
    for status in (("in_play", "suspended"), ("scheduled",)):
        found = [e["event_id"] for e in listed if e["status"] in status]
        if found:  # the earliest: the league lists the next match while one plays
            return min(found, key=lambda eid: int(eid[len(DEMO_PREFIX):]))
    return None


def start_demo_actors(base_url: str, region: str) -> None:
    """The video publisher (the league is a feed provider: ``simulations.league``)."""
    import ray

    options = {"namespace": "inplay", "lifetime": "detached", "get_if_exists": True,
               "num_cpus": 0, "max_restarts": -1}
    ray.remote(DemoPublisher).options(name="demo-publisher", **options).remote(
        base_url, region)


def wait_for_match(base_url: str, timeout_s: float = 60.0) -> str:
    """The demo match the league opened (in play or about to start)."""

    async def poll() -> str:
        async with AsyncApiClient(base_url, timeout_s=10) as api:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                found = await current_demo_event(api)
                if found:
                    return found
                await asyncio.sleep(0.5)
        raise TimeoutError(f"no demo match after {timeout_s:.0f} s")

    return asyncio.run(poll())
