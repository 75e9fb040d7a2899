"""``inplay up --demo``: a demo event, verified and funded players, a live synthetic stream.

Everything is created through the public HTTP API (as an operator and as players would), so
the demo exercises the real paths. The synthetic video is published by WHIP from a small
detached actor (``demo-publisher``) that lives as long as the cluster; a ``demo-match`` actor
moves the prices a little every few seconds so the odds on the page are alive.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cluster.api_client import ApiClient, ApiError, AsyncApiClient

log = logging.getLogger(__name__)

DEMO_EVENT_ID = "demo-match"
DEMO_PLAYERS = ("demo1", "demo2", "demo3")
DEMO_FUNDS = "1000.00"


@dataclass
class DemoCredentials:
    event_id: str
    players: list[tuple[str, str]]
    operator_token: str
    publisher_token: str


def demo_event_body() -> dict[str, Any]:
    return {
        "event_id": DEMO_EVENT_ID,
        "name": "Inplay United v Demo City",
        "sport": "soccer",
        "starts_at": "2026-11-27T15:00:00Z",
        "markets": [
            {"market_id": "mw", "name": "Match winner", "in_play_delay_s": 2,
             "selections": [{"selection_id": "home", "name": "Inplay United", "price": "2.50"},
                            {"selection_id": "draw", "name": "Draw", "price": "3.20"},
                            {"selection_id": "away", "name": "Demo City", "price": "2.80"}]},
            {"market_id": "ou25", "name": "Over/under 2.5 goals", "in_play_delay_s": 2,
             "selections": [{"selection_id": "over", "name": "Over 2.5", "price": "1.90"},
                            {"selection_id": "under", "name": "Under 2.5", "price": "1.95"}]},
        ],
    }


def seed(base_url: str, operator_token: str, publisher_token: str,
         passwords: dict[str, str]) -> DemoCredentials:
    """Create the demo event and players over HTTP; idempotent (safe to run on every up)."""
    with ApiClient(base_url, timeout_s=30) as api:
        try:
            api.get_event(DEMO_EVENT_ID)
        except ApiError as exc:
            if exc.status != 404:
                raise
            api.create_event(operator_token, demo_event_body())
        players = []
        for name in DEMO_PLAYERS:
            _player(api, operator_token, name, passwords[name])
            players.append((name, passwords[name]))
    return DemoCredentials(DEMO_EVENT_ID, players, operator_token, publisher_token)


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
    """Publishes the synthetic match by WHIP to the region's media actor, forever."""

    def __init__(self, event_id: str, region: str) -> None:
        self.event_id, self.region = event_id, region
        self.error = ""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        from media.actors import get_or_create_region_actor
        from media.client import WhipPublisher
        from media.synthetic import SyntheticVideoTrack

        while True:
            publisher = WhipPublisher(SyntheticVideoTrack())
            try:
                actor = await asyncio.to_thread(get_or_create_region_actor, self.region)
                await publisher.start(self._signal(actor))
                await self._until_closed(publisher)
            except Exception as exc:  # keep the demo stream up across media restarts
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("demo publisher: %s", self.error)
            await publisher.close()
            await asyncio.sleep(2)

    def _signal(self, actor: Any) -> Any:
        async def signal(offer: str) -> str:
            _, answer = await actor.whip.remote(self.event_id, offer)
            return str(answer)

        return signal

    @staticmethod
    async def _until_closed(publisher: Any) -> None:
        closed = asyncio.Event()

        @publisher.pc.on("connectionstatechange")
        def changed() -> None:
            if publisher.pc.connectionState in ("failed", "closed"):
                closed.set()

        await closed.wait()

    async def ping(self) -> dict[str, Any]:
        return {"running": not self._task.done(), "error": self.error}


class DemoMatch:
    """Moves the demo prices by a tick now and then, as a trading feed would."""

    def __init__(self, base_url: str, operator_token: str, interval_s: float = 7.0) -> None:
        self.base_url, self.token, self.interval_s = base_url, operator_token, interval_s
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        from domain.ladder import ticks_away

        rng = secrets.SystemRandom()
        async with AsyncApiClient(self.base_url, timeout_s=10) as api:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    event = await api.get_event(DEMO_EVENT_ID)
                    market = rng.choice(event["markets"])
                    sel = rng.choice(market["selections"])
                    price = ticks_away(Decimal(sel["price"]), rng.choice((-1, 1)))
                    await api.set_odds(self.token, DEMO_EVENT_ID, market["market_id"],
                                       {sel["selection_id"]: str(price)})
                except Exception as exc:
                    log.warning("demo match: %s", exc)

    async def ping(self) -> bool:
        return not self._task.done()


def start_demo_actors(base_url: str, operator_token: str, region: str) -> None:
    import ray

    options = {"namespace": "inplay", "lifetime": "detached", "get_if_exists": True,
               "num_cpus": 0, "max_restarts": -1}
    ray.remote(DemoPublisher).options(name="demo-publisher", **options).remote(
        DEMO_EVENT_ID, region)
    ray.remote(DemoMatch).options(name="demo-match", **options).remote(
        base_url, operator_token)
