"""The media router in a FastAPI app: WHIP/WHEP signalling against a real SFU, entitlements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from media.entitlements import EntitlementStore
from media.playlist import Tier
from media.sfu import ForwardingSfu
from serve_apps.media_routes import build_media_router


@dataclass
class Principal:
    account_id: str
    role: str


class DictRedis:
    """In-memory stand-in for redis.asyncio GET/SET (the store's contract is two calls)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        self.data[key] = value.encode()


class _Remote:
    def __init__(self, fn: Any) -> None:
        self.remote = fn


class InProcessRegion:
    """The region actor's call surface over a real in-process SFU (no Ray)."""

    def __init__(self) -> None:
        self.sfu = ForwardingSfu()
        self.whip = _Remote(lambda event, offer: self.sfu.publish(offer))
        self.whep = _Remote(lambda event, offer: self.sfu.subscribe(offer))
        self.end_session = _Remote(lambda event, sid: self.sfu.close_session(sid))


def _app(region: InProcessRegion, store: EntitlementStore) -> FastAPI:
    async def principal(x_account: str = Header(), x_role: str = Header()) -> Principal:
        return Principal(x_account, x_role)

    async def get_region(event_id: str) -> InProcessRegion:
        return region

    app = FastAPI()
    app.include_router(build_media_router(principal, store, get_region))
    return app


def _offer(direction: str) -> str:
    import asyncio

    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def test_whip_whep_signalling_and_entitlements() -> None:
    redis = DictRedis()
    store = EntitlementStore(redis)
    region = InProcessRegion()
    with TestClient(_app(region, store)) as client:
        sdp = {"Content-Type": "application/sdp"}
        refused = client.post("/v1/media/e1/whip", content=_offer("sendonly"),
                              headers={**sdp, "X-Account": "p1", "X-Role": "player"})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        published = client.post("/v1/media/e1/whip", content=_offer("sendonly"),
                                headers={**sdp, "X-Account": "cam", "X-Role": "publisher"})
        assert published.status_code == 201, published.text
        assert published.text.startswith("v=0") and "a=recvonly" in published.text
        location = published.headers["Location"]

        viewer = {**sdp, "X-Account": "p2", "X-Role": "player"}
        forbidden = client.post("/v1/media/e1/whep", content=_offer("recvonly"), headers=viewer)
        assert forbidden.status_code == 403
        assert forbidden.json()["code"] == "MEDIA_TIER_FORBIDDEN"
        assert set(forbidden.json()) == {"type", "title", "status", "code", "detail"}

        import asyncio

        asyncio.run(store.set("p2", Tier.WEBRTC))
        allowed = client.post("/v1/media/e1/whep", content=_offer("recvonly"), headers=viewer)
        assert allowed.status_code == 201 and "a=sendonly" in allowed.text
        not_sdp = client.post("/v1/media/e1/whep", content="x",
                              headers={"Content-Type": "text/plain", "X-Account": "p2",
                                       "X-Role": "player"})
        assert not_sdp.status_code == 415
        gone = client.delete(location, headers={"X-Account": "cam", "X-Role": "publisher"})
        assert gone.status_code == 200
        again = client.delete(location, headers={"X-Account": "cam", "X-Role": "publisher"})
        assert again.status_code == 404
