"""Hand probes of the contract, each a bug a new user or the API fuzz test once found.

The real app (``create_app``) over real services: a valkey-server from the fixtures, event
actors in Ray, and for media the region actor's call surface over a real in-process SFU.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import ray
from aiortc import RTCPeerConnection

from actors.event_actor import NAMESPACE, actor_name
from domain.identity import KycStatus, Role, TokenSigner
from serve_apps.app import create_app
from serve_apps.services import ApiServices
from tests.integration.test_media_routes import InProcessRegion
from tests.support.api import TOKEN_KEY, api_services

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

PROBLEM = "application/problem+json"
EVENT = {"name": "Home v Away", "sport": "soccer", "starts_at": "2026-11-27T20:00:00Z",
         "markets": [{"market_id": "mw", "name": "Match winner", "selections": [
             {"selection_id": "home", "name": "Home", "price": "2.50"},
             {"selection_id": "away", "name": "Away", "price": "2.80"}]}]}


class SlowRegion(InProcessRegion):
    """The in-process region, whose HLS files take the LL-HLS preload wait (3 s) to miss."""

    def __init__(self) -> None:
        super().__init__()

        async def late(event_id: str, name: str) -> None:
            await asyncio.sleep(3)

        self.hls_file = type(self.whip)(late)


@dataclass
class Api:
    svc: ApiServices
    http: httpx.AsyncClient
    events: list[str]

    def token(self, subject: str, role: Role = Role.PLAYER) -> dict[str, str]:
        return {"Authorization": f"Bearer {TokenSigner(TOKEN_KEY).issue(subject, role, 600).token}"}

    async def player(self) -> dict[str, str]:
        """A verified, funded player's auth header."""
        account = await self.svc.accounts.register(
            f"c{time.monotonic_ns() % 10**12}", "correct horse", "GB", "1990-01-01")
        await self.svc.reviews.decide_kyc(account.account_id, KycStatus.VERIFIED, "t", "op")
        await self.svc.wallet.wallet.deposit(account.account_id, "d1", "100")
        return self.token(account.account_id)

    async def create_event(self, **changes: Any) -> httpx.Response:
        event_id = f"contract-{time.monotonic_ns() % 10**9}"
        self.events.append(event_id)
        return await self.http.post("/v1/ops/events", json={**EVENT, "event_id": event_id,
                                                            **changes},
                                    headers=self.token("ops", Role.OPERATOR))


@pytest.fixture()
async def api(redis_url: str) -> AsyncIterator[Api]:
    svc = api_services(redis_url)
    svc.media._actor = SlowRegion()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                 base_url="http://api") as http:
        probe = Api(svc, http, [])
        yield probe
    for event_id in probe.events:
        try:
            ray.kill(ray.get_actor(actor_name(event_id), namespace=NAMESPACE))
        except ValueError:  # refused before it was made
            pass


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code


async def test_numeric_parameters_are_bounded(api: Api) -> None:
    player = await api.player()
    huge = await api.http.get("/v1/bets", params={"cursor": 2**63 - 1}, headers=player)
    _problem(huge, 422, "VALIDATION_ERROR")  # was 500: a cursor past what Redis takes
    for params in ({"limit": 0}, {"limit": 201}, {"cursor": -1}):
        _problem(await api.http.get("/v1/bets", params=params, headers=player),
                 422, "VALIDATION_ERROR")
    last = await api.http.get("/v1/bets", params={"cursor": 10**9}, headers=player)
    assert last.status_code == 200 and last.json()["items"] == []


async def test_times_are_rfc3339_or_refused(api: Api) -> None:
    for bad in ("not-a-date-at-all", "2026-11-27", "2026-11-27T20:00:00", "27/11/2026 20:00"):
        _problem(await api.create_event(starts_at=bad), 422, "VALIDATION_ERROR")
    for good in ("2026-11-27T20:00:00Z", "2026-11-27T21:00:00.5+01:00"):
        created = await api.create_event(starts_at=good)
        assert created.status_code == 201, created.text
        assert created.json()["starts_at"] == good


async def test_registration_takes_what_its_schema_says(api: Api) -> None:
    body = {"username": "newcomer", "password": "correct horse", "jurisdiction": "GB",
            "date_of_birth": "1990-01-31"}
    for field, bad in (("jurisdiction", "XX"), ("jurisdiction", "G1"),
                       ("date_of_birth", 0), ("date_of_birth", "1990-01-31T00:00:00"),
                       ("date_of_birth", "31/01/1990")):
        _problem(await api.http.post("/v1/accounts", json={**body, field: bad}),
                 422, "VALIDATION_ERROR")  # a number was taken as seconds since 1970
    created = await api.http.post("/v1/accounts", json={**body, "jurisdiction": "au"})
    assert created.status_code == 201, created.text
    account = await api.svc.accounts.get(created.json()["account_id"])
    assert account.jurisdiction == "AU"


async def test_authentication_comes_first(api: Api) -> None:
    bet = {"event_id": "e", "market_id": "m", "selection_id": "s", "stake": "1",
           "price": "2.5"}
    json_type = {"Content-Type": "application/json"}
    for path in ("/v1/bets", "/v1/wallet/deposits"):
        # no token and no Idempotency-Key: 401, not 422
        _problem(await api.http.post(path, json=bet), 401, "UNAUTHENTICATED")
        # no token and a body FastAPI cannot parse: 401, not 422/400
        for body in (b"{not json", b"\xff\xfe{"):
            _problem(await api.http.post(path, content=body, headers=json_type),
                     401, "UNAUTHENTICATED")
    operator = {**api.token("ops", Role.OPERATOR), **json_type}
    _problem(await api.http.post("/v1/wallet/deposits", content=b"{", headers=operator),
             403, "FORBIDDEN")
    # with the right token the body's own refusal is what comes back
    player = {**await api.player(), **json_type, "Idempotency-Key": "k"}
    _problem(await api.http.post("/v1/wallet/deposits", content=b"{", headers=player),
             422, "VALIDATION_ERROR")
    _problem(await api.http.post("/v1/wallet/deposits", content=b"\xff", headers=player),
             400, "HTTP_ERROR")
    # an operator's result with a broken body: the token first, then the body
    path = "/v1/ops/events/e1/markets/mw/result"
    _problem(await api.http.post(path, content=b"{", headers=json_type), 401,
             "UNAUTHENTICATED")
    _problem(await api.http.post(path, content=b"{", headers={**operator, **json_type}), 422,
             "VALIDATION_ERROR")


async def test_405_names_every_method_the_path_takes(api: Api) -> None:
    for method, path, allow in (("OPTIONS", "/v1/bets", "GET, HEAD, POST"),
                                ("DELETE", "/v1/bets", "GET, HEAD, POST"),
                                ("PUT", "/livez", "GET, HEAD"),
                                ("GET", "/v1/accounts", "POST"),
                                ("PATCH", "/v1/media/e1/whip/s1", "DELETE")):
        answer = await api.http.request(method, path)
        _problem(answer, 405, "METHOD_NOT_ALLOWED")
        assert answer.headers["allow"] == allow, (method, path)


async def test_head_works_wherever_get_does(api: Api) -> None:
    player = await api.player()
    for path, headers in (("/livez", {}), ("/v1/events", {}), ("/", {}),
                          ("/static/app.js", {}), ("/v1/wallet", player),
                          ("/openapi.json", {})):
        got = await api.http.get(path, headers=headers)
        head = await api.http.head(path, headers=headers)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == str(len(got.content)), path
    refused = await api.http.head("/v1/wallet")
    assert (refused.status_code, refused.content) == (401, b"")


async def test_static_and_hls_misses_are_problems_at_once(api: Api) -> None:
    for path in ("/static/nope.js", "/static/package.json", "/static/../pyproject.toml",
                 "/static/.hidden"):
        _problem(await api.http.get(path), 404, "NOT_FOUND")
    _problem(await api.http.get("/nope"), 404, "NOT_FOUND")
    viewer = api.token("viewer")
    for name in ("nope.txt", "index.m3u", "seg1.mp4", "part1.m4s"):
        started = time.monotonic()
        answer = await api.http.get(f"/v1/media/e1/hls-delayed/{name}", headers=viewer)
        _problem(answer, 404, "MEDIA_FILE_NOT_FOUND")
        assert time.monotonic() - started < 1.0, name  # not after the 3 s preload wait


async def _offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_a_bad_offer_is_refused_and_leaves_the_live_publisher_alone(api: Api) -> None:
    publisher = {**api.token("cam", Role.PUBLISHER), "Content-Type": "application/sdp"}
    live = await api.http.post("/v1/media/e1/whip", content=await _offer(), headers=publisher)
    assert live.status_code == 201, live.text
    region = api.svc.media._actor
    assert isinstance(region, InProcessRegion)
    publisher_id = region.sfu.publisher_id
    for bad in ("{}", "v=0\r\ns=-\r\n", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n..."):
        answer = await api.http.post("/v1/media/e1/whip", content=bad, headers=publisher)
        _problem(answer, 400, "MEDIA_BAD_OFFER")  # was 201 for "{}", 503 for the last
    assert region.sfu.publisher_id == publisher_id
    _problem(await api.http.post("/v1/media/e1/whip", content=await _offer(),
                                 headers={**publisher, "Content-Type": "text/plain"}),
             415, "MEDIA_NOT_SDP")
