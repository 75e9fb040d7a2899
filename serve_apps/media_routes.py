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
from serve_apps.models import MediaStatsOut
from serve_apps.routes.auth_first import AuthFirstRoute
from serve_apps.services import MediaService, Principal
from serve_apps.views import json_response

SDP = "application/sdp"
HLS_PLAYLIST = "application/vnd.apple.mpegurl"
INIT_SEGMENT, MEDIA_SEGMENT = "video/mp4", "video/iso.segment"
# what a player may ask for under a tier: the playlist, the init segment, parts, segments
HLS_NAME = re.compile(r"index\.m3u8|init\.mp4|part\d{1,9}\.\d{1,4}\.m4s|seg\d{1,9}\.m4s")
# an SDP offer (RFC 8866) starts with its version line and has at least one media section
_OFFER = re.compile(r"v=0\r?\n.*^m=", re.DOTALL | re.MULTILINE)
_SDP_BODY = {"requestBody": {"required": True, "content": {SDP: {
    "schema": {"type": "string", "pattern": "^v=0\r?\n",
               "description": "the SDP offer, with at least one media (`m=`) section"},
    "example": "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
               "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n..."}}}}
_SDP_ANSWER = {201: "Created: the SDP answer; `Location` names the session (DELETE ends it)"}
_LOCATION = {"Location": {"description": "the session: `/v1/media/{event_id}/{whip|whep}/"
                                         "{session_id}`", "schema": {"type": "string"}}}
# refusals every signalling route shares: a bad path, a refused SDP body, the actor away
_SIGNAL = (*docs.INVALID, "PAYLOAD_TOO_LARGE", "MEDIA_NOT_SDP", "MEDIA_BAD_OFFER",
           "MEDIA_UNAVAILABLE")
_EVENT_ID = docs.path_id("event_id", "demo-match")
_SESSION_ID = docs.path_id("session_id")

router = APIRouter(prefix="/v1/media", tags=["media"], route_class=AuthFirstRoute)
publisher = require(Role.PUBLISHER)


async def _read_sdp(request: Request) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip() != SDP:
        raise errors.MediaNotSdp(f"send Content-Type: {SDP}")
    try:
        offer = (await request.body()).decode()
    except UnicodeDecodeError as exc:
        raise errors.MediaBadOffer("the SDP offer is not UTF-8") from exc
    if not _OFFER.match(offer):
        raise errors.MediaBadOffer("not an SDP offer: it starts with v=0 and has a media "
                                   "(m=) section")
    return offer


async def _negotiate(media: MediaService, event_id: str, kind: str, request: Request
                     ) -> Response:
    """WHIP/WHEP: the SDP offer in, 201 with the answer and the session's Location."""
    session_id, answer = await media.call(kind, event_id, await _read_sdp(request))
    location = f"/v1/media/{event_id}/{kind}/{session_id}"
    return Response(answer, 201, media_type=SDP, headers={"Location": location})


@router.post("/{event_id}/whip", status_code=201, openapi_extra=_SDP_BODY,
             response_class=Response,
             responses=docs.responses(201, *docs.ROLE, *_SIGNAL, media=(SDP,),
                                      headers=_LOCATION, descriptions=_SDP_ANSWER))
async def whip(request: Request, event_id: str = _EVENT_ID,
               _: Principal = Depends(publisher),
               media: MediaService = Depends(media_service)) -> Response:
    """Publish the event's stream (WHIP, RFC 9725): an SDP offer in, the answer out."""
    return await _negotiate(media, event_id, "whip", request)


async def _end(media: MediaService, event_id: str, session_id: str) -> Response:
    await media.call("end_session", event_id, session_id)
    return Response(status_code=200)


_ENDED = docs.responses(200, *docs.AUTH, *docs.INVALID, "MEDIA_SESSION_NOT_FOUND",
                        "MEDIA_UNAVAILABLE", descriptions={200: "Ended (no body)"})


@router.delete("/{event_id}/whip/{session_id}", response_class=Response,
               responses={**_ENDED, **docs.responses(*docs.ROLE)})
async def whip_delete(event_id: str = _EVENT_ID, session_id: str = _SESSION_ID,
                      _: Principal = Depends(publisher),
                      media: MediaService = Depends(media_service)) -> Response:
    """End a publishing session."""
    return await _end(media, event_id, session_id)


@router.post("/{event_id}/whep", status_code=201, openapi_extra=_SDP_BODY,
             response_class=Response,
             responses=docs.responses(201, *docs.AUTH, *_SIGNAL, "MEDIA_TIER_FORBIDDEN",
                                      "MEDIA_NOT_LIVE", media=(SDP,), headers=_LOCATION,
                                      descriptions=_SDP_ANSWER))
async def whep(request: Request, event_id: str = _EVENT_ID,
               who: Principal = Depends(principal),
               media: MediaService = Depends(media_service)) -> Response:
    """Watch by WebRTC (WHEP), if the account's tier allows it."""
    await media.require_tier(who, Tier.WEBRTC)
    return await _negotiate(media, event_id, "whep", request)


@router.delete("/{event_id}/whep/{session_id}", response_class=Response, responses=_ENDED)
async def whep_delete(event_id: str = _EVENT_ID, session_id: str = _SESSION_ID,
                      _: Principal = Depends(principal),
                      media: MediaService = Depends(media_service)) -> Response:
    """End a viewing session."""
    return await _end(media, event_id, session_id)


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
    kind = INIT_SEGMENT if name.endswith(".mp4") else MEDIA_SEGMENT
    return Response(data, media_type=kind, headers={"Cache-Control": "public, max-age=60"})


def _small_int(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


_HLS = docs.responses(200, *docs.AUTH, *docs.INVALID, "MEDIA_TIER_FORBIDDEN", "MEDIA_NOT_LIVE",
                      "MEDIA_FILE_NOT_FOUND", "MEDIA_UNAVAILABLE",
                      media=(HLS_PLAYLIST, INIT_SEGMENT, MEDIA_SEGMENT),
                      descriptions={200: "The playlist (index.m3u8) or a media file "
                                         "(init.mp4, part<msn>.<n>.m4s, seg<msn>.m4s)"})
_HLS_NAME_PARAM = docs.path_id("name", "index.m3u8")


@router.get("/{event_id}/hls/{name}", response_class=Response, responses=_HLS)
async def hls_live(request: Request, event_id: str = _EVENT_ID,
                   name: str = _HLS_NAME_PARAM, who: Principal = Depends(principal),
                   media: MediaService = Depends(media_service)) -> Response:
    """The LL-HLS tier (standard players play it too; they ignore the part tags)."""
    return await _hls(media, event_id, name, Tier.LL_HLS, request, who)


@router.get("/{event_id}/hls-standard/{name}", response_class=Response, responses=_HLS)
async def hls_standard(request: Request, event_id: str = _EVENT_ID,
                       name: str = _HLS_NAME_PARAM, who: Principal = Depends(principal),
                       media: MediaService = Depends(media_service)) -> Response:
    """The standard HLS tier."""
    return await _hls(media, event_id, name, Tier.HLS, request, who)


@router.get("/{event_id}/hls-delayed/{name}", response_class=Response, responses=_HLS)
async def hls_delayed(request: Request, event_id: str = _EVENT_ID,
                      name: str = _HLS_NAME_PARAM, who: Principal = Depends(principal),
                      media: MediaService = Depends(media_service)) -> Response:
    """The delayed tier (what every account may watch)."""
    return await _hls(media, event_id, name, Tier.DELAYED, request, who)


@router.get("/{event_id}/stats", response_model=MediaStatsOut,
            responses=docs.responses(200, *docs.AUTH, *docs.INVALID, "MEDIA_UNAVAILABLE",
                                     ok=MediaStatsOut),
            summary="Viewers, bitrate, fps, RTT, jitter, loss and glass-to-glass latency per "
                    "tier; `fastest_tier_latency_ms` for the bet delay")
async def stats(event_id: str = _EVENT_ID, _: Principal = Depends(principal),
                media: MediaService = Depends(media_service)) -> Response:
    return json_response(await media.call("stats", event_id))
