"""Media signalling routes (WHIP/WHEP, HLS, stats) as a FastAPI router factory.

Media itself never passes through Serve: these routes only exchange SDP and serve playlists
and CMAF chunks fetched from the region's media actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from media.entitlements import EntitlementStore
from media.playlist import Tier
from media.sfu import BadOffer, NoPublisher, SessionNotFound

PROBLEM = "application/problem+json"
SDP = "application/sdp"
RegionActorGetter = Callable[[str], Awaitable[Any]]  # event id -> region media actor handle


class MediaProblem(Exception):
    """An RFC 9457 problem raised by a media route."""

    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail

    def response(self) -> Response:
        """The problem+json response."""
        import json

        body = {"type": f"https://inplay.dev/problems/{self.code.lower()}", "title": self.title,
                "status": self.status, "code": self.code, "detail": self.detail}
        return Response(json.dumps(body), status_code=self.status, media_type=PROBLEM)


def _map_error(exc: Exception, event_id: str) -> MediaProblem:
    if isinstance(exc, MediaProblem):
        return exc
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, NoPublisher) or "NoPublisher" in repr(exc):
        return MediaProblem(404, "MEDIA_NOT_LIVE", "No live stream",
                            f"event {event_id} has no publisher")
    if isinstance(cause, SessionNotFound) or "SessionNotFound" in repr(exc):
        return MediaProblem(404, "MEDIA_SESSION_NOT_FOUND", "Unknown session", str(cause))
    if isinstance(cause, BadOffer) or "BadOffer" in repr(exc):
        return MediaProblem(400, "MEDIA_BAD_OFFER", "Unusable SDP offer", str(cause))
    return MediaProblem(503, "MEDIA_UNAVAILABLE", "Media unavailable", type(exc).__name__)


def build_media_router(principal_dep: Callable[..., Any], entitlements: EntitlementStore,
                       get_region_actor: RegionActorGetter) -> APIRouter:
    """Routes of API.md "Media"; `principal_dep` yields `.account_id` and `.role`."""
    router = APIRouter(prefix="/v1/media")

    async def require_tier(principal: Any, tier: Tier) -> None:
        if principal.role == "operator":
            return
        if principal.role != "player" or not await entitlements.allows(principal.account_id, tier):
            raise MediaProblem(403, "MEDIA_TIER_FORBIDDEN", "Tier not allowed",
                               f"account {principal.account_id} may not use tier {tier.value}")

    async def read_sdp(request: Request) -> str:
        if request.headers.get("content-type", "").split(";")[0].strip() != SDP:
            raise MediaProblem(415, "MEDIA_NOT_SDP", "Unsupported media type",
                               f"send Content-Type: {SDP}")
        return (await request.body()).decode()

    async def call(event_id: str, method: str, *args: Any) -> Any:
        try:
            actor = await get_region_actor(event_id)
            return await getattr(actor, method).remote(event_id, *args)
        except Exception as exc:
            raise _map_error(exc, event_id) from exc

    def guarded(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        # Problems are mapped here rather than by an app-wide handler so the router is
        # self-contained when mounted in someone else's app.
        import functools

        @functools.wraps(handler)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                return await handler(*args, **kwargs)
            except MediaProblem as problem:
                return problem.response()

        return wrapper

    async def negotiate(event_id: str, kind: str, request: Request) -> Response:
        """WHIP/WHEP: the SDP offer in, 201 with the answer and the session's Location."""
        session_id, answer = await call(event_id, kind, await read_sdp(request))
        location = f"/v1/media/{event_id}/{kind}/{session_id}"
        return Response(answer, 201, media_type=SDP, headers={"Location": location})

    @router.post("/{event_id}/whip", status_code=201)
    @guarded
    async def whip(event_id: str, request: Request,
                   principal: Any = Depends(principal_dep)) -> Response:
        if principal.role != "publisher":
            raise MediaProblem(403, "MEDIA_PUBLISHER_ONLY", "Publishers only",
                               f"role {principal.role} may not publish")
        return await negotiate(event_id, "whip", request)

    @router.delete("/{event_id}/whip/{session_id}")
    @guarded
    async def whip_delete(event_id: str, session_id: str,
                          principal: Any = Depends(principal_dep)) -> Response:
        if principal.role != "publisher":
            raise MediaProblem(403, "MEDIA_PUBLISHER_ONLY", "Publishers only", "not a publisher")
        await call(event_id, "end_session", session_id)
        return Response(status_code=200)

    @router.post("/{event_id}/whep", status_code=201)
    @guarded
    async def whep(event_id: str, request: Request,
                   principal: Any = Depends(principal_dep)) -> Response:
        await require_tier(principal, Tier.WEBRTC)
        return await negotiate(event_id, "whep", request)

    @router.delete("/{event_id}/whep/{session_id}")
    @guarded
    async def whep_delete(event_id: str, session_id: str,
                          principal: Any = Depends(principal_dep)) -> Response:
        await call(event_id, "end_session", session_id)
        return Response(status_code=200)

    async def hls(event_id: str, name: str, tier: Tier, request: Request,
                  principal: Any) -> Response:
        await require_tier(principal, tier)
        if name == "index.m3u8":
            msn, part = request.query_params.get("_HLS_msn"), request.query_params.get("_HLS_part")
            # HLS has no sessions: a viewer is an account (and address) that keeps reloading.
            host = request.client.host if request.client else "-"
            text = await call(event_id, "hls_playlist", tier.value,
                              int(msn) if msn else None, int(part) if part else None,
                              f"{principal.account_id}@{host}")
            if text is None:
                raise MediaProblem(404, "MEDIA_NOT_LIVE", "No HLS yet", f"event {event_id}")
            return Response(text, media_type="application/vnd.apple.mpegurl",
                            headers={"Cache-Control": "max-age=1"})
        data = await call(event_id, "hls_file", name)
        if data is None:
            raise MediaProblem(404, "MEDIA_FILE_NOT_FOUND", "No such file", name)
        # Parts and segments never change once written: a CDN may keep them.
        kind = "video/mp4" if name.endswith(".mp4") else "video/iso.segment"
        return Response(data, media_type=kind,
                        headers={"Cache-Control": "public, max-age=60"})

    @router.get("/{event_id}/hls/{name}")
    @guarded
    async def hls_live(event_id: str, name: str, request: Request,
                       principal: Any = Depends(principal_dep)) -> Response:
        # LL-HLS playlists play in standard players too (they ignore the part tags).
        return await hls(event_id, name, Tier.LL_HLS, request, principal)

    @router.get("/{event_id}/hls-standard/{name}")
    @guarded
    async def hls_standard(event_id: str, name: str, request: Request,
                           principal: Any = Depends(principal_dep)) -> Response:
        return await hls(event_id, name, Tier.HLS, request, principal)

    @router.get("/{event_id}/hls-delayed/{name}")
    @guarded
    async def hls_delayed(event_id: str, name: str, request: Request,
                          principal: Any = Depends(principal_dep)) -> Response:
        return await hls(event_id, name, Tier.DELAYED, request, principal)

    @router.get("/{event_id}/stats", summary="Viewers, bitrate, fps, RTT, jitter, loss and "
                "glass-to-glass latency per tier; `fastest_tier_latency_ms` for the bet delay")
    @guarded
    async def stats(event_id: str, principal: Any = Depends(principal_dep)) -> Response:
        import json

        return Response(json.dumps(await call(event_id, "stats")), media_type="application/json")

    return router
