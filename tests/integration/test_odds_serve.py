"""The two Serve applications on a real Ray: ``inplay`` (``/``) and ``odds`` (``/v1/events``).

Every open odds stream holds one ``max_ongoing_requests`` slot of its deployment for its whole
life. Here the bets' deployment gets only 4 slots, and more streams than that are opened:
they are all served (by ``odds``), and bets are still taken at once (by ``api``), whose slots
the streams never touch. Serve's own proxy routes here (no HAProxy in the tests' Ray); the
e2e test checks HAProxy's routing of the running platform.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
from ray import serve

from actors.event_actor import NAMESPACE, ActorConfig, actor_name, cache_name
from domain.identity import KycStatus, Role, TokenSigner
from serve_apps.app import ApiDeployment, build_odds_application
from serve_apps.services import ApiConfig
from storage.embedded import free_port
from storage.wallet import WalletConfig
from tests.support.api import TOKEN_KEY, api_services, token_key_file
from tests.support.sse import SseReader

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

BET_SLOTS = 4
STREAMS = 12


@pytest.fixture()
def apps(redis_url: str) -> Iterator[tuple[str, ApiConfig]]:
    """Both applications, as ``inplay up`` deploys them, with few slots for bets."""
    region = f"serve{os.getpid() % 10000}"
    config = ApiConfig(redis_url=redis_url,
                       actor=ActorConfig(redis_url=redis_url, regions=(region,), beat_s=0.5),
                       wallet=WalletConfig(rate_limit_per_s=1000, rate_limit_burst=1000),
                       kyc_provider="manual", token_key_file=token_key_file())
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    api: Any = ApiDeployment
    serve.run(api.options(num_replicas=1, max_ongoing_requests=BET_SLOTS).bind(
        config), name="inplay", route_prefix="/", blocking=False)
    serve.run(build_odds_application(config, 1, 1000), name="odds",
              route_prefix="/v1/events", blocking=False)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/livez", timeout=5).status_code == 200 and \
                    httpx.get(f"{url}/v1/events", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the applications did not come up"
        time.sleep(0.5)
    yield url, config
    serve.shutdown()
    try:
        ray.kill(ray.get_actor(cache_name(region), namespace=NAMESPACE), no_restart=True)
    except ValueError:
        pass


async def test_bets_are_taken_while_streams_hold_the_odds_deployment(
        apps: tuple[str, ApiConfig], redis_url: str) -> None:
    url, _config = apps
    svc = api_services(redis_url)  # the same Redis: a verified, funded player
    account = await svc.accounts.register(f"sv{secrets.token_hex(4)}", "correct horse", "GB",
                                          "1990-01-01")
    await svc.reviews.decide_kyc(account.account_id, KycStatus.VERIFIED, "t", "op")
    await svc.wallet.wallet.deposit(account.account_id, "d1", "500")
    signer = TokenSigner(TOKEN_KEY)
    player = {"Authorization": f"Bearer {signer.issue(account.account_id, Role.PLAYER, 600).token}"}
    ops = {"Authorization": f"Bearer {signer.issue('ops', Role.OPERATOR, 600).token}"}
    event_id = f"sv-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        created = await http.post("/v1/ops/events", headers=ops, json={
            "event_id": event_id, "name": "Home v Away", "sport": "soccer",
            "starts_at": "2026-11-27T20:00:00Z", "markets": [{
                "market_id": "mw", "name": "Match winner", "in_play_delay_s": 0,
                "selections": [{"selection_id": "home", "name": "Home", "price": "2.50"},
                               {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})
        assert created.status_code == 201, created.text
        streams: list[httpx.Response] = []
        try:
            streams += [await http.send(http.build_request(
                "GET", f"/v1/events/{event_id}/stream"), stream=True) for _ in range(STREAMS)]
            readers = [SseReader(s) for s in streams]
            for stream, reader in zip(streams, readers, strict=True):
                assert stream.status_code == 200
                assert (await reader.message()).event == "snapshot"
            # more streams than the bets' deployment has slots are open: bets still go in
            started = time.monotonic()
            bets = await asyncio.gather(*(http.post(
                "/v1/bets", headers={**player, "Idempotency-Key": f"k{i}"},
                json={"event_id": event_id, "market_id": "mw", "selection_id": "home",
                      "stake": "1.00", "price": "2.50"}) for i in range(10)))
            assert [b.status_code for b in bets] == [201] * 10, [b.text for b in bets]
            assert time.monotonic() - started < 10
            # a price change reaches every open stream
            moved = await http.post(f"/v1/ops/events/{event_id}/odds", headers=ops,
                                    json={"market_id": "mw", "prices": {"home": "2.60"}})
            assert moved.status_code == 200, moved.text
            for reader in readers:
                message = await reader.message()
                assert message.event in ("odds", "snapshot")  # a snapshot if it raced a resync
            deadline = time.monotonic() + 10
            while (await http.get(f"/v1/events/{event_id}")).json()[
                    "markets"][0]["selections"][0]["price"] != "2.60":
                assert time.monotonic() < deadline, "the event read never showed the change"
                await asyncio.sleep(0.1)
            # the main application still documents every route, the stream included
            doc = (await http.get("/openapi.json")).json()
            assert "/v1/events/{event_id}/stream" in doc["paths"]
        finally:
            for stream in streams:
                await stream.aclose()
            try:
                ray.kill(ray.get_actor(actor_name(event_id), namespace=NAMESPACE))
            except ValueError:
                pass
