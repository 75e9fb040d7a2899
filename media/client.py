"""WHIP publisher and WHEP viewer clients (aiortc), for the demo, tests and benchmarks.

Viewers release each frame on the RTP marker bit, as browsers do, instead of going through
aiortc's jitter buffer (which holds a frame until the next one starts: +1 frame per hop). A
viewer either reads the capture time from the SEI without decoding (cheap: load generation) or
decodes with PyAV and reads the pixel block (what a real player shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import av
import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs.h264 import h264_depayload
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media import aiortc_adapter as adapter
from media.qos import plausible_capture
from media.rtp import CaptureStamp, capture_from_rtp_payload
from media.synthetic import SyntheticVideoTrack, read_pixel_stamp

Signal = Callable[[str], Awaitable[str]]  # offer SDP -> answer SDP


@dataclass(frozen=True)
class FrameArrival:
    """A frame a viewer completed, with its embedded capture stamp and the arrival time."""

    stamp: CaptureStamp
    arrival: float

    @property
    def latency(self) -> float:
        """Glass-to-glass seconds (capture clock and viewer clock are the same host clock)."""
        return self.arrival - self.stamp.capture_time


def http_signal(url: str, token: str | None = None, timeout: float = 10.0) -> Signal:
    """Signal over WHIP/WHEP HTTP: POST application/sdp, expect 201 with an SDP answer."""

    async def signal(offer: str) -> str:
        headers = {"Content-Type": "application/sdp"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, content=offer, headers=headers)
        response.raise_for_status()
        return response.text

    return signal


def _h264_preferences() -> list[RTCRtpCodecCapability]:
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in caps if c.mimeType == "video/H264"
            and c.parameters.get("profile-level-id") == "42e01f"]


class WhipPublisher:
    """Publishes a synthetic (pre-encoded H.264) track by WHIP."""

    def __init__(self, track: SyntheticVideoTrack) -> None:
        self.track = track
        self.pc = RTCPeerConnection()

    async def start(self, signal: Signal) -> None:
        """Offer, signal, and apply the answer; media flows once ICE/DTLS connect."""
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        transceiver.setCodecPreferences(_h264_preferences())
        adapter.on_sender_keyframe_request(transceiver.sender, self.track.request_keyframe)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await signal(self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def close(self) -> None:
        """Stop publishing."""
        await self.pc.close()


class WhepViewer:
    """Receives by WHEP and records each completed frame's capture stamp and arrival time."""

    def __init__(self, *, decode: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.decode = decode
        self.frames: list[FrameArrival] = []
        self.packets = 0
        self.reconnects = 0
        self.corrupt_frames = 0  # decoded pictures whose stamp could not be read
        self.pc: RTCPeerConnection | None = None
        self._clock = clock
        self._payloads: list[bytes] = []
        self._stamp: CaptureStamp | None = None
        self._decoder: av.VideoCodecContext | None = None
        self._last_packet = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self, signal: Signal) -> None:
        """Connect once."""
        self.pc = RTCPeerConnection()
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        adapter.intercept_receiver(transceiver.receiver, self._on_packet)
        self._decoder = av.VideoCodecContext.create("h264", "r") if self.decode else None
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await signal(self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        self._last_packet = time.monotonic()

    def keep_alive(self, signal: Signal, stall_timeout: float = 1.5) -> None:
        """Reconnect (a new WHEP request) whenever no packet arrived for `stall_timeout` s:
        this is how viewers of a dead relay come back."""
        self._watchdog = asyncio.ensure_future(self._watch(signal, stall_timeout))

    async def _watch(self, signal: Signal, stall_timeout: float) -> None:
        while True:
            await asyncio.sleep(stall_timeout / 3)
            if time.monotonic() - self._last_packet < stall_timeout:
                continue
            with contextlib.suppress(Exception):
                if self.pc is not None:
                    await self.pc.close()
                self.reconnects += 1
                await self.start(signal)

    async def _on_packet(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        self.packets += 1
        self._last_packet = time.monotonic()
        if self._stamp is None:
            self._stamp = capture_from_rtp_payload(packet.payload)
        if self.decode:
            self._payloads.append(packet.payload)
        if packet.marker:  # the frame is complete: release it now, not when the next starts
            self._complete_frame()

    def _complete_frame(self) -> None:
        stamp, self._stamp = self._stamp, None
        payloads, self._payloads = self._payloads, []
        if self._decoder is not None:
            stamp = self._decode(payloads)
        if stamp is not None:
            self.frames.append(FrameArrival(stamp, self._clock()))

    def _decode(self, payloads: list[bytes]) -> CaptureStamp | None:
        assert self._decoder is not None
        data = b"".join(h264_depayload(p) for p in payloads if p)
        try:
            frames = self._decoder.decode(av.Packet(data))
        except av.FFmpegError:
            return None
        stamps = [read_pixel_stamp(f.to_ndarray(format="gray")) for f in frames]
        if not stamps:
            return None
        if not plausible_capture(self._clock(), stamps[-1].capture_time):
            self.corrupt_frames += 1
            return None
        return stamps[-1]

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.pc is not None:
            await self.pc.close()
