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

import httpx

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


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url}: "
                           f"{response.status_code} {response.text}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def seed(base_url: str, operator_token: str, publisher_token: str,
         passwords: dict[str, str]) -> DemoCredentials:
    """Create the demo event and players over HTTP; idempotent (safe to run on every up)."""
    ops = {"Authorization": f"Bearer {operator_token}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        existing = http.get(f"/v1/events/{DEMO_EVENT_ID}")
        if existing.status_code == 404:
            _ok(http.post("/v1/ops/events", json=demo_event_body(), headers=ops))
        players = []
        for name in DEMO_PLAYERS:
            _player(http, ops, name, passwords[name])
            players.append((name, passwords[name]))
    return DemoCredentials(DEMO_EVENT_ID, players, operator_token, publisher_token)


def _player(http: httpx.Client, ops: dict[str, str], name: str, password: str) -> None:
    """Register a verified, funded demo player (already there after an earlier `up`)."""
    created = http.post("/v1/accounts", json={
        "username": name, "password": password, "jurisdiction": "GB",
        "date_of_birth": "1990-01-01"})
    if created.status_code == 409:
        return
    account_id = _ok(created)["account_id"]
    _ok(http.post(f"/v1/ops/accounts/{account_id}/kyc",
                  json={"status": "verified", "reason": "demo account"}, headers=ops))
    _ok(http.post(f"/v1/ops/accounts/{account_id}/media-tier", json={"tier": "webrtc"},
                  headers=ops))
    token = _ok(http.post("/v1/sessions", json={"username": name, "password": password}))
    _ok(http.post("/v1/wallet/deposits", json={"amount": DEMO_FUNDS, "method": "debit_card"},
                  headers={"Authorization": f"Bearer {token['token']}",
                           "Idempotency-Key": f"demo-funds-{name}"}))


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
        from actors.ladder import ticks_away

        rng = secrets.SystemRandom()
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    event = (await http.get(f"/v1/events/{DEMO_EVENT_ID}")).json()
                    market = rng.choice(event["markets"])
                    sel = rng.choice(market["selections"])
                    price = ticks_away(Decimal(sel["price"]), rng.choice((-1, 1)))
                    await http.post(f"/v1/ops/events/{DEMO_EVENT_ID}/odds", headers=headers,
                                    json={"market_id": market["market_id"],
                                          "prices": {sel["selection_id"]: str(price)}})
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
