"""The forwarding SFU: WHIP ingest, WHEP egress, no decoding and no encoding.

One `SourceStream` per published kind (video, audio) keeps a packet history and fans each RTP
packet out to its outputs: WebRTC viewers (`ViewerOutput`, rewritten per viewer: SSRC, sequence
numbers, payload type, header extensions) and pipes to relay processes (`PipeOutput`, plain RTP
over UDP, the way mediasoup pipes routers). Keyframe requests from viewers are rate-limited
before they reach the publisher; NACKs are answered from the history; a viewer whose socket
backs up loses packets instead of delaying the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from domain import errors
from media import aiortc_adapter as adapter
from media.rtp import (
    KeyframeLimiter,
    PacketHistory,
    h264_is_keyframe_start,
    seq_add,
    vp8_is_keyframe_start,
)

SUPPORTED_MIME_TYPES = ("video/H264", "video/VP8", "audio/opus")


@dataclass(frozen=True)
class MediaSettings:
    """Deployment knobs of an SFU process."""

    public_ip: str | None = None  # announced instead of host addresses (1:1 NAT, like mediasoup)
    keyframe_min_interval_s: float = 0.5
    history_size: int = 1024
    max_pending_bytes: int = 256 * 1024  # per viewer socket, before we drop for that viewer
    # the media processes' CPU priority (Unix nice, 0-19): on a machine shared with bets the
    # scheduler serves the bet path first and video gets what is left (and all of it when
    # bets are quiet); 0 leaves them equal
    cpu_nice: int = 10


class NoPublisher(errors.MediaNotLive):
    """A viewer asked for an event that has no live publisher."""


class SessionNotFound(errors.MediaSessionNotFound):
    """A WHIP/WHEP session id that this SFU does not know."""


class BadOffer(errors.MediaBadOffer):
    """The SDP offer cannot be used (no supported codec, wrong direction)."""


class IdleTrack(MediaStreamTrack):
    """A track that never yields: it lets aiortc negotiate a sender whose RTP loop then waits
    forever, so no encoder is ever created (the SFU writes the packets itself)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.Event().wait()


class PacketSink(Protocol):
    """Something a SourceStream forwards packets to."""

    async def forward(self, packet: RtpPacket, is_keyframe_start: bool) -> None:
        """Take one packet of the source stream."""


def is_keyframe_start(codec: RTCRtpCodecParameters, payload: bytes) -> bool:
    """Whether a payload starts a decodable picture (audio: always)."""
    if codec.mimeType.lower() == "video/h264":
        return h264_is_keyframe_start(payload)
    if codec.mimeType.lower() == "video/vp8":
        return vp8_is_keyframe_start(payload)
    return True


@dataclass
class StreamCounters:
    """Forwarding counters of one source stream (transient, for QoS)."""

    packets: int = 0
    octets: int = 0
    frames: int = 0
    started: float = field(default_factory=time.monotonic)


class SourceStream:
    """One published stream (kind) and everything it is forwarded to."""

    def __init__(
        self,
        kind: str,
        codec: RTCRtpCodecParameters,
        request_keyframe: Callable[[], Awaitable[None]],
        settings: MediaSettings,
    ) -> None:
        self.kind = kind
        self.codec = codec
        self.history: PacketHistory[RtpPacket] = PacketHistory(settings.history_size)
        self.sinks: set[PacketSink] = set()
        self.counters = StreamCounters()
        self.last_ssrc: int | None = None
        self._request_keyframe = request_keyframe
        self._limiter = KeyframeLimiter(settings.keyframe_min_interval_s)
        self._deferred = False
        self._last_seq = 0
        self._tasks: set[asyncio.Future[None]] = set()
        # Called once a packet has gone to every sink (QoS: when a frame really left).
        self.on_forwarded: Callable[[RtpPacket], None] | None = None

    async def publish(self, packet: RtpPacket) -> None:
        """Forward one packet from the publisher (or upstream pipe) to every sink."""
        self.history.add(packet.sequence_number, packet)
        self.last_ssrc = packet.ssrc
        self._count(packet)
        keyframe = is_keyframe_start(self.codec, packet.payload)
        for sink in tuple(self.sinks):
            await sink.forward(packet, keyframe)
        if self.on_forwarded is not None:
            self.on_forwarded(packet)

    def history_last_seq(self) -> int:
        """Sequence number of the newest packet forwarded (for tests and NACK maths)."""
        return self._last_seq

    def _count(self, packet: RtpPacket) -> None:
        self._last_seq = packet.sequence_number
        self.counters.packets += 1
        self.counters.octets += len(packet.payload)
        self.counters.frames += packet.marker

    def keyframe_needed(self) -> None:
        """A viewer needs a keyframe: ask the publisher now, or once at the end of the current
        rate-limit window if one was asked for just now (so a late joiner is not forgotten)."""
        if self.kind != "video":
            return
        if self._limiter.allow():
            task = asyncio.ensure_future(self._request_keyframe())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif not self._deferred:
            self._deferred = True
            asyncio.get_running_loop().call_later(self._limiter.remaining(), self._fire_deferred)

    def _fire_deferred(self) -> None:
        self._deferred = False
        self.keyframe_needed()

    @property
    def suppressed_keyframe_requests(self) -> int:
        """Keyframe requests the rate limit absorbed."""
        return self._limiter.suppressed


def matching_capabilities(codec: RTCRtpCodecParameters) -> list[RTCRtpCodecCapability]:
    """aiortc codec capabilities equal to the published codec, for a viewer's answer: the SFU
    cannot transcode, so a viewer gets exactly what the publisher sends or nothing."""
    keys = ("packetization-mode", "profile-level-id")
    matches = [
        cap for cap in RTCRtpSender.getCapabilities(codec.mimeType.split("/")[0]).codecs
        if cap.mimeType.lower() == codec.mimeType.lower()
        and all(str(cap.parameters.get(k)) == str(codec.parameters.get(k)) for k in keys
                if k in codec.parameters)
    ]
    if not matches:
        raise BadOffer(f"no capability matches the published codec {codec.mimeType}")
    return matches


class _Renderer:
    """Serializes a source packet once per distinct viewer profile (payload type, extension
    map, mid): most viewers share one, so a packet is serialized once, not once per viewer."""

    def __init__(self) -> None:
        self._packet: RtpPacket | None = None
        self._cache: dict[tuple[object, ...], bytes] = {}

    def render(self, packet: RtpPacket, profile: tuple[object, ...],
               extensions: HeaderExtensionsMap, payload_type: int, mid: str | None) -> bytes:
        if packet is not self._packet:
            self._packet, self._cache = packet, {}
        data = self._cache.get(profile)
        if data is None:
            out = RtpPacket(payload_type, packet.marker, packet.sequence_number,
                            packet.timestamp, 0, packet.payload)
            out.extensions.mid = mid
            out.extensions.abs_send_time = (current_ntp_time() >> 14) & 0x00FFFFFF
            out.extensions.audio_level = packet.extensions.audio_level
            data = self._cache[profile] = out.serialize(extensions)
        return data


class ViewerOutput:
    """One viewer's sender for one stream: rewrites and sends each packet, answers NACKs."""

    def __init__(self, stream: SourceStream, sender: RTCRtpSender, renderer: _Renderer,
                 settings: MediaSettings) -> None:
        self.stream = stream
        self.sender = sender
        self.sent_packets = 0
        self.sent_octets = 0
        self.dropped = 0
        self.retransmitted = 0
        self._renderer = renderer
        self._settings = settings
        self._seq_offset = random.randrange(1 << 15)  # viewers must not learn our numbering
        self._ready = False
        self._waiting_keyframe = stream.kind == "video"
        self._payload_type = 0
        self._mid: str | None = None
        self._extensions = HeaderExtensionsMap()
        self._profile: tuple[object, ...] = ()
        adapter.intercept_sender(sender, adapter.SenderHooks(
            self._on_ready, self._on_nack, stream.keyframe_needed))

    def _on_ready(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        self._payload_type = codec.payloadType or 0
        self._mid = parameters.muxId or None
        self._extensions = adapter.header_extensions_map(parameters)
        ext_ids = tuple((e.id, e.uri) for e in parameters.headerExtensions)
        self._profile = (self._payload_type, ext_ids, self._mid)
        self._ready = True
        self.stream.keyframe_needed()

    async def forward(self, packet: RtpPacket, is_keyframe_start: bool) -> None:
        """Send one packet to this viewer unless it is not ready, waits for a keyframe or is
        backed up (then drop it: one slow viewer must never slow the others)."""
        if not self._ready or self.sender.transport.state != "connected":
            return
        if self._waiting_keyframe:
            if not is_keyframe_start:
                return
            self._waiting_keyframe = False
        if adapter.pending_send_bytes(self.sender.transport) > self._settings.max_pending_bytes:
            self.dropped += 1
            return
        await self._send(packet)
        if packet.marker:
            adapter.update_sender_report(self.sender, current_ntp_time(), packet.timestamp,
                                         self.sent_packets, self.sent_octets)

    async def _send(self, packet: RtpPacket) -> None:
        data = self._renderer.render(packet, self._profile, self._extensions,
                                     self._payload_type, self._mid)
        out = bytearray(data)
        seq = seq_add(packet.sequence_number, self._seq_offset)
        out[2:4] = seq.to_bytes(2, "big")
        out[8:12] = self.sender._ssrc.to_bytes(4, "big")
        with contextlib.suppress(ConnectionError):
            await adapter.send_rtp(self.sender.transport, bytes(out))
        self.sent_packets += 1
        self.sent_octets += len(packet.payload)

    async def _on_nack(self, lost: list[int]) -> None:
        for seq in lost:
            packet = self.stream.history.get(seq_add(seq, -self._seq_offset))
            if packet is not None:
                self.retransmitted += 1
                await self._send(packet)


class PeerSession:
    """A WHIP or WHEP peer connection and the outputs it owns."""

    def __init__(self, session_id: str, pc: RTCPeerConnection, role: str) -> None:
        self.session_id = session_id
        self.pc = pc
        self.role = role
        self.outputs: list[ViewerOutput] = []
        self.created = time.time()


def offered_kinds(sdp: str) -> list[str]:
    """Media kinds of the m= lines of an SDP, in order."""
    return [line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")]


def announce_address(sdp: str, public_ip: str | None) -> str:
    """Replace host candidate addresses (and c= lines) by the configured public address."""
    if not public_ip:
        return sdp
    sdp = re.sub(r"(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)", rf"\g<1>{public_ip}\3", sdp)
    return re.sub(r"c=IN IP4 \S+", f"c=IN IP4 {public_ip}", sdp)


class ForwardingSfu:
    """A WHIP/WHEP SFU for one event in one process."""

    def __init__(self, settings: MediaSettings | None = None) -> None:
        self.settings = settings or MediaSettings()
        self.streams: dict[str, SourceStream] = {}
        self.sessions: dict[str, PeerSession] = {}
        self.publisher_id: str | None = None
        self.stream_listeners: list[Callable[[SourceStream], None]] = []
        self._renderers: dict[str, _Renderer] = {}

    # --- ingest ------------------------------------------------------------------------------

    async def publish(self, offer_sdp: str) -> tuple[str, str]:
        """WHIP: accept a publisher's offer; return (session id, answer SDP).

        An unusable offer is refused (``BadOffer``) before the live publisher is replaced.
        """
        pc = RTCPeerConnection()
        session = PeerSession(uuid.uuid4().hex, pc, "publisher")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except Exception as exc:  # aiortc raises OperationError/ValueError on unusable offers
            await pc.close()
            raise BadOffer(f"unusable offer: {exc}") from exc
        if self.publisher_id is not None:
            await self.close_session(self.publisher_id)
        for transceiver in pc.getTransceivers():
            transceiver.direction = "recvonly"
            receiver = transceiver.receiver

            async def on_packet(packet: RtpPacket, codec: RTCRtpCodecParameters,
                                kind: str = transceiver.kind,
                                receiver: RTCRtpReceiver = receiver) -> None:
                await self._ingest(kind, packet, codec, receiver)

            adapter.intercept_receiver(receiver, on_packet)
        answer = await self._answer(pc)
        for transceiver in pc.getTransceivers():
            self._attach_publisher_stream(transceiver.kind, transceiver.receiver,
                                          adapter.negotiated_codecs(transceiver))
        self._watch(session)
        self.sessions[session.session_id] = session
        self.publisher_id = session.session_id
        return session.session_id, answer

    def _attach_publisher_stream(self, kind: str, receiver: RTCRtpReceiver,
                                 codecs: list[RTCRtpCodecParameters]) -> SourceStream | None:
        media = [c for c in codecs if c.mimeType in SUPPORTED_MIME_TYPES]
        if not media:
            return None

        async def pli() -> None:
            ssrc = self.streams[kind].last_ssrc
            if ssrc is not None:
                await adapter.request_keyframe(receiver, ssrc)

        return self.attach_source(kind, media[0], pli)

    async def _ingest(self, kind: str, packet: RtpPacket, codec: RTCRtpCodecParameters,
                      receiver: RTCRtpReceiver) -> None:
        stream = self.streams.get(kind)
        if stream is None or stream.codec.mimeType != codec.mimeType:
            stream = self._attach_publisher_stream(kind, receiver, [codec])
        if stream is not None:
            await stream.publish(packet)

    def attach_source(self, kind: str, codec: RTCRtpCodecParameters,
                      request_keyframe: Callable[[], Awaitable[None]]) -> SourceStream:
        """Create (or replace) the source stream of a kind; viewers re-bind to it."""
        old = self.streams.get(kind)
        stream = SourceStream(kind, codec, request_keyframe, self.settings)
        if old is not None:
            stream.sinks = old.sinks
            for sink in stream.sinks:
                if isinstance(sink, ViewerOutput):
                    sink.stream = stream
        if old is not None:
            stream.on_forwarded = old.on_forwarded
        self.streams[kind] = stream
        for listener in self.stream_listeners:
            listener(stream)
        return stream

    # --- egress ------------------------------------------------------------------------------

    async def subscribe(self, offer_sdp: str) -> tuple[str, str]:
        """WHEP: accept a viewer's recvonly offer; return (session id, answer SDP)."""
        if not self.streams:
            raise NoPublisher("no stream is being published")
        pc = RTCPeerConnection()
        session = PeerSession(uuid.uuid4().hex, pc, "viewer")
        for kind in offered_kinds(offer_sdp):
            stream = self.streams.get(kind)
            if stream is None:
                continue
            # Preferences must be set before the offer is applied: that is when aiortc
            # negotiates, and a viewer must get exactly the publisher's codec.
            transceiver = pc.addTransceiver(IdleTrack(kind), direction="sendonly")
            transceiver.setCodecPreferences(matching_capabilities(stream.codec))
            renderer = self._renderers.setdefault(kind, _Renderer())
            session.outputs.append(ViewerOutput(stream, transceiver.sender, renderer,
                                                self.settings))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except Exception as exc:  # aiortc raises OperationError/ValueError on unusable offers
            await pc.close()
            raise BadOffer(f"unusable offer: {exc}") from exc
        if not session.outputs:
            await pc.close()
            raise BadOffer("the offer has no media this event publishes")
        answer = await self._answer(pc)
        for output in session.outputs:
            output.stream.sinks.add(output)
        self._watch(session)
        self.sessions[session.session_id] = session
        return session.session_id, answer

    async def _answer(self, pc: RTCPeerConnection) -> str:
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, RuntimeError) as exc:
            await pc.close()
            raise BadOffer(str(exc)) from exc
        return announce_address(pc.localDescription.sdp, self.settings.public_ip)

    def _watch(self, session: PeerSession) -> None:
        @session.pc.on("connectionstatechange")
        async def on_state() -> None:
            if session.pc.connectionState in ("failed", "closed"):
                await self.close_session(session.session_id)

    async def close_session(self, session_id: str) -> None:
        """End a WHIP or WHEP session (DELETE on its Location)."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            raise SessionNotFound(session_id)
        for output in session.outputs:
            output.stream.sinks.discard(output)
        if session_id == self.publisher_id:
            self.publisher_id = None
        await session.pc.close()

    async def close(self) -> None:
        """Close every session."""
        for session_id in list(self.sessions):
            with contextlib.suppress(SessionNotFound):
                await self.close_session(session_id)

    def viewer_outputs(self) -> list[ViewerOutput]:
        """All WebRTC viewer outputs currently attached."""
        return [o for s in self.sessions.values() for o in s.outputs]

    @property
    def viewer_count(self) -> int:
        """Number of WHEP sessions."""
        return sum(1 for s in self.sessions.values() if s.role == "viewer")
