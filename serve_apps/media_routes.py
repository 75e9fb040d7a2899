"""Media signalling routes (WHIP/WHEP, HLS, stats).

Media itself never passes through Serve: these routes only exchange SDP and serve playlists
and CMAF chunks fetched from the region's media actor. Refusals are domain errors, answered
as problem+json by the app's one error map, like every other route.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response

from domain import errors
from domain.identity import Role
from media.playlist import Tier
from serve_apps import docs
from serve_apps.deps import media_service, principal, require
from serve_apps.services import MediaService, Principal
from serve_apps.views import json_response

SDP = "application/sdp"
HLS_PLAYLIST = "application/vnd.apple.mpegurl"
# what a player may ask for under a tier: the playlist, the init segment, parts, segments
HLS_NAME = re.compile(r"index\.m3u8|init\.mp4|part\d{1,9}\.\d{1,4}\.m4s|seg\d{1,9}\.m4s")
_SDP_BODY = {"requestBody": {"required": True, "content": {SDP: {
    "schema": {"type": "string"},
    "example": "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n..."}}}}
_SDP_ANSWER = {201: "Created: the SDP answer; `Location` names the session (DELETE ends it)"}

router = APIRouter(prefix="/v1/media", tags=["media"])
publisher = require(Role.PUBLISHER)


async def _read_sdp(request: Request) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip() != SDP:
        raise errors.MediaNotSdp(f"send Content-Type: {SDP}")
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError as exc:
        raise errors.MediaBadOffer("the SDP offer is not UTF-8") from exc


async def _negotiate(media: MediaService, event_id: str, kind: str, request: Request
                     ) -> Response:
    """WHIP/WHEP: the SDP offer in, 201 with the answer and the session's Location."""
    session_id, answer = await media.call(kind, event_id, await _read_sdp(request))
    location = f"/v1/media/{event_id}/{kind}/{session_id}"
    return Response(answer, 201, media_type=SDP, headers={"Location": location})


@router.post("/{event_id}/whip", status_code=201, openapi_extra=_SDP_BODY,
             responses=docs.responses(201, 400, 401, 403, 415, 422, 503, content_type=SDP,
                                      descriptions=_SDP_ANSWER))
async def whip(request: Request, event_id: str = docs.path_id("event_id"),
               _: Principal = Depends(publisher),
               media: MediaService = Depends(media_service)) -> Response:
    """Publish the event's stream (WHIP, RFC 9725): an SDP offer in, the answer out."""
    return await _negotiate(media, event_id, "whip", request)


@router.delete("/{event_id}/whip/{session_id}",
               responses=docs.responses(200, 401, 403, 404, 422, 503))
async def whip_delete(event_id: str = docs.path_id("event_id"),
                      session_id: str = docs.path_id("session_id"),
                      _: Principal = Depends(publisher),
                      media: MediaService = Depends(media_service)) -> Response:
    """End a publishing session."""
    await media.call("end_session", event_id, session_id)
    return Response(status_code=200)


@router.post("/{event_id}/whep", status_code=201, openapi_extra=_SDP_BODY,
             responses=docs.responses(201, 400, 401, 403, 404, 415, 422, 503,
                                      content_type=SDP, descriptions=_SDP_ANSWER))
async def whep(request: Request, event_id: str = docs.path_id("event_id"),
               who: Principal = Depends(principal),
               media: MediaService = Depends(media_service)) -> Response:
    """Watch by WebRTC (WHEP), if the account's tier allows it."""
    await media.require_tier(who, Tier.WEBRTC)
    return await _negotiate(media, event_id, "whep", request)


@router.delete("/{event_id}/whep/{session_id}",
               responses=docs.responses(200, 401, 404, 422, 503))
async def whep_delete(event_id: str = docs.path_id("event_id"),
                      session_id: str = docs.path_id("session_id"),
                      _: Principal = Depends(principal),
                      media: MediaService = Depends(media_service)) -> Response:
    """End a viewing session."""
    await media.call("end_session", event_id, session_id)
    return Response(status_code=200)


async def _hls(media: MediaService, event_id: str, name: str, tier: Tier, request: Request,
               who: Principal) -> Response:
    await media.require_tier(who, tier)
    if not HLS_NAME.fullmatch(name):
        raise errors.MediaFileNotFound(f"no HLS file {name}")
    if name == "index.m3u8":
        msn, part = request.query_params.get("_HLS_msn"), request.query_params.get("_HLS_part")
        # HLS has no sessions: a viewer is an account (and address) that keeps reloading.
        host = request.client.host if request.client else "-"
        text = await media.call("hls_playlist", event_id, tier.value, _small_int(msn),
                                _small_int(part), f"{who.account_id}@{host}")
        if text is None:
            raise errors.MediaNotLive(f"event {event_id} has no HLS stream yet")
        return Response(text, media_type=HLS_PLAYLIST, headers={"Cache-Control": "max-age=1"})
    data = await media.call("hls_file", event_id, name)
    if data is None:
        raise errors.MediaFileNotFound(f"no HLS file {name}")
    # parts and segments never change once written: a CDN may keep them
    kind = "video/mp4" if name.endswith(".mp4") else "video/iso.segment"
    return Response(data, media_type=kind, headers={"Cache-Control": "public, max-age=60"})


def _small_int(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


_HLS = docs.responses(200, 401, 403, 404, 422, 503, content_type=HLS_PLAYLIST,
                      descriptions={200: "The playlist (index.m3u8) or a media file "
                                         "(init.mp4, part<msn>.<n>.m4s, seg<msn>.m4s)"})
_HLS_NAME_PARAM = docs.path_id("name")


@router.get("/{event_id}/hls/{name}", responses=_HLS)
async def hls_live(request: Request, event_id: str = docs.path_id("event_id"),
                   name: str = _HLS_NAME_PARAM, who: Principal = Depends(principal),
                   media: MediaService = Depends(media_service)) -> Response:
    """The LL-HLS tier (standard players play it too; they ignore the part tags)."""
    return await _hls(media, event_id, name, Tier.LL_HLS, request, who)


@router.get("/{event_id}/hls-standard/{name}", responses=_HLS)
async def hls_standard(request: Request, event_id: str = docs.path_id("event_id"),
                       name: str = _HLS_NAME_PARAM, who: Principal = Depends(principal),
                       media: MediaService = Depends(media_service)) -> Response:
    """The standard HLS tier."""
    return await _hls(media, event_id, name, Tier.HLS, request, who)


@router.get("/{event_id}/hls-delayed/{name}", responses=_HLS)
async def hls_delayed(request: Request, event_id: str = docs.path_id("event_id"),
                      name: str = _HLS_NAME_PARAM, who: Principal = Depends(principal),
                      media: MediaService = Depends(media_service)) -> Response:
    """The delayed tier (what every account may watch)."""
    return await _hls(media, event_id, name, Tier.DELAYED, request, who)


@router.get("/{event_id}/stats", responses=docs.responses(200, 401, 422, 503),
            summary="Viewers, bitrate, fps, RTT, jitter, loss and glass-to-glass latency per "
                    "tier; `fastest_tier_latency_ms` for the bet delay")
async def stats(event_id: str = docs.path_id("event_id"), _: Principal = Depends(principal),
                media: MediaService = Depends(media_service)) -> Response:
    return json_response(await media.call("stats", event_id))
