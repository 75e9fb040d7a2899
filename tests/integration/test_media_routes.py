"""The media routes in the real app: WHIP/WHEP signalling against a real SFU, entitlements
in the real store, refusals from the app's one error map.

The region's media actor is replaced by an in-process stand-in with the same call surface
over a real ``ForwardingSfu`` (the Ray actor itself is tested in test_media_actors.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from aiortc import RTCPeerConnection
from fastapi.testclient import TestClient

from domain.identity import Role, TokenSigner
from media.playlist import Tier
from media.sfu import ForwardingSfu
from serve_apps.app import create_app
from storage.keys import acct_key
from tests.support.api import TOKEN_KEY, api_services


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

        async def nothing(event: str, *args: Any) -> None:
            return None

        self.hls_playlist = _Remote(nothing)
        self.hls_file = _Remote(nothing)


def _offer(direction: str) -> str:
    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def test_whip_whep_signalling_and_entitlements(redis_url: str) -> None:
    svc = api_services(redis_url)
    svc.media._actor = InProcessRegion()
    signer = TokenSigner(TOKEN_KEY)

    def auth(account: str, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.issue(account, role, 600).token}"}

    with TestClient(create_app(svc)) as client:
        sdp = {"Content-Type": "application/sdp"}
        refused = client.post("/v1/media/e1/whip", content=_offer("sendonly"),
                              headers={**sdp, **auth("p1", Role.PLAYER)})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "FORBIDDEN"
        publisher = auth("cam", Role.PUBLISHER)
        published = client.post("/v1/media/e1/whip", content=_offer("sendonly"),
                                headers={**sdp, **publisher})
        assert published.status_code == 201, published.text
        assert published.text.startswith("v=0") and "a=recvonly" in published.text
        location = published.headers["Location"]

        viewer = {**sdp, **auth("p2", Role.PLAYER)}
        forbidden = client.post("/v1/media/e1/whep", content=_offer("recvonly"), headers=viewer)
        assert forbidden.status_code == 403
        body = forbidden.json()
        assert body["code"] == "MEDIA_TIER_FORBIDDEN"
        assert body["type"] == "https://inplay.dev/problems/media-tier-forbidden"
        assert set(body) == {"type", "title", "status", "code", "detail"}

        # the TestClient's loop owns the app's connections: write with a client of our own
        redis.Redis.from_url(redis_url).set(acct_key("p2", "media_tier"), Tier.WEBRTC.value)
        allowed = client.post("/v1/media/e1/whep", content=_offer("recvonly"), headers=viewer)
        assert allowed.status_code == 201 and "a=sendonly" in allowed.text
        not_sdp = client.post("/v1/media/e1/whep", content="x",
                              headers={**viewer, "Content-Type": "text/plain"})
        assert not_sdp.status_code == 415 and not_sdp.json()["code"] == "MEDIA_NOT_SDP"
        # an HLS name the packager never makes answers at once, as problem+json
        unknown = client.get("/v1/media/e1/hls-delayed/../../etc", headers=viewer)
        assert unknown.status_code == 404
        odd = client.get("/v1/media/e1/hls-delayed/whatever.ts", headers=viewer)
        assert odd.status_code == 404 and odd.json()["code"] == "MEDIA_FILE_NOT_FOUND"
        gone = client.delete(location, headers=publisher)
        assert gone.status_code == 200
        again = client.delete(location, headers=publisher)
        assert again.status_code == 404 and again.json()["code"] == "MEDIA_SESSION_NOT_FOUND"
