"""The one place that touches aiortc internals.

aiortc has no public API to forward already-encoded RTP: its receivers always feed a decoder and
its senders always pull frames from an encoder. The SFU therefore
- replaces a receiver's packet handler so packets are handed over instead of depacketized,
  jitter-buffered (which holds each frame until the next one starts) and decoded;
- writes rewritten RTP straight into a DTLS transport's SRTP session;
- intercepts a sender's RTCP so NACK/PLI/FIR reach the SFU instead of a (non-existent) encoder.

All of it depends on private names of aiortc 1.16.0, so the version and every name are checked
at import time and each hook fails with `AiortcAdapterError` rather than silently misbehaving.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from importlib.metadata import version as package_version
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    unwrap_rtx,
)

REQUIRED_AIORTC_VERSION = "1.16.0"

# (class, attribute) pairs: methods we call or replace on instances.
_REQUIRED_METHODS: tuple[tuple[type, str], ...] = (
    (RTCRtpReceiver, "_handle_rtp_packet"),
    (RTCRtpReceiver, "_send_rtcp_nack"),
    (RTCRtpReceiver, "_send_rtcp_pli"),
    (RTCRtpReceiver, "_RTCRtpReceiver__stop_decoder"),
    (RTCRtpReceiver, "receive"),
    (RTCRtpSender, "_handle_rtcp_packet"),
    (RTCRtpSender, "_send_keyframe"),
    (RTCRtpSender, "send"),
    (RTCDtlsTransport, "_send_rtp"),
)
# (function, private instance attribute assigned in it): state we read or write.
_REQUIRED_STATE: tuple[tuple[Callable[..., Any], str], ...] = (
    (RTCRtpReceiver.__init__, "self.__codecs"),
    (RTCRtpReceiver.__init__, "self.__remote_streams"),
    (RTCRtpReceiver.__init__, "self.__rtx_ssrc"),
    (RTCRtpReceiver.__init__, "self.__active_ssrc"),
    (RTCRtpSender.__init__, "self.__ntp_timestamp"),
    (RTCRtpSender.__init__, "self.__rtp_timestamp"),
    (RTCRtpSender.__init__, "self.__packet_count"),
    (RTCRtpSender.__init__, "self.__octet_count"),
    (RTCRtpTransceiver.__init__, "self._codecs"),
)

RtpHandler = Callable[[RtpPacket, RTCRtpCodecParameters], Awaitable[None]]


class AiortcAdapterError(RuntimeError):
    """aiortc is not the version, or lacks the internals, that the forwarding SFU relies on."""


def check_aiortc(installed: str | None = None) -> None:
    """Raise AiortcAdapterError unless aiortc is exactly 1.16.0 with every private name we use."""
    found = installed if installed is not None else package_version("aiortc")
    if found != REQUIRED_AIORTC_VERSION:
        raise AiortcAdapterError(
            f"media.aiortc_adapter needs aiortc=={REQUIRED_AIORTC_VERSION} (found {found}); "
            "it reaches into aiortc internals: re-check the adapter before upgrading"
        )
    for owner, name in _REQUIRED_METHODS:
        if not callable(getattr(owner, name, None)):
            raise AiortcAdapterError(f"aiortc {found}: {owner.__name__}.{name} is missing")
    for function, assignment in _REQUIRED_STATE:
        if not re.search(re.escape(assignment) + r"\s*[:=]", inspect.getsource(function)):
            raise AiortcAdapterError(f"aiortc {found}: {function.__qualname__} no longer sets "
                                     f"{assignment}")


check_aiortc()


def _private(obj: object, cls: type, name: str) -> Any:
    try:
        return getattr(obj, f"_{cls.__name__}__{name}")
    except AttributeError as exc:  # an instance of an unexpected shape: fail loudly
        raise AiortcAdapterError(f"{cls.__name__}.__{name} missing on {obj!r}") from exc


class _ForwardingReceiver:
    """Stands in for RTCRtpReceiver._handle_rtp_packet: keeps aiortc's RTCP statistics and
    NACK generation, unwraps RTX, then hands each packet over — no depacketizing, no jitter
    buffer (releasing frames on the marker bit is the consumer's business), no decoder."""

    def __init__(self, receiver: RTCRtpReceiver, on_packet: RtpHandler) -> None:
        self._receiver = receiver
        self._on_packet = on_packet
        self._codecs: dict[int, RTCRtpCodecParameters] = _private(
            receiver, RTCRtpReceiver, "codecs")
        self._streams: dict[int, StreamStatistics] = _private(
            receiver, RTCRtpReceiver, "remote_streams"
        )
        self._rtx_ssrc: dict[int, int] = _private(receiver, RTCRtpReceiver, "rtx_ssrc")
        self._nacks = NackGenerator()

    async def __call__(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            unwrapped = self._unwrap(packet, codec)
            if unwrapped is None:
                return
            packet, codec = unwrapped
        if codec.mimeType.startswith("video/") and self._nacks.add(packet):
            await self._receiver._send_rtcp_nack(packet.ssrc, sorted(self._nacks.missing))
        await self._on_packet(packet, codec)

    def _unwrap(
        self, packet: RtpPacket, codec: RTCRtpCodecParameters
    ) -> tuple[RtpPacket, RTCRtpCodecParameters] | None:
        original_ssrc = self._rtx_ssrc.get(packet.ssrc)
        apt = codec.parameters.get("apt")
        if original_ssrc is None or not isinstance(apt, int) or apt not in self._codecs:
            return None
        if len(packet.payload) < 2:
            return None
        return unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc), self._codecs[apt]


def intercept_receiver(receiver: RTCRtpReceiver, on_packet: RtpHandler) -> None:
    """Route a receiver's RTP packets to `on_packet` and stop its decoder thread once started.

    Call before the connection is established (right after setRemoteDescription)."""
    receiver._handle_rtp_packet = _ForwardingReceiver(receiver, on_packet)  # type: ignore[method-assign]
    original_receive = receiver.receive

    async def receive_without_decoder(parameters: Any) -> None:
        await original_receive(parameters)
        # The decoder thread only builds a decoder when handed a frame, which never happens
        # now; stopping it frees the thread and ends the (unused) remote track.
        receiver._RTCRtpReceiver__stop_decoder()  # type: ignore[attr-defined]

    receiver.receive = receive_without_decoder  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI for `media_ssrc` from this receiver to its remote sender."""
    await receiver._send_rtcp_pli(media_ssrc)


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """Codecs agreed for a transceiver, preferred first (aiortc keeps them privately)."""
    codecs: list[RTCRtpCodecParameters] = list(transceiver._codecs)
    return codecs


class SenderHooks:
    """Callbacks a forwarding output registers on an aiortc sender."""

    def __init__(
        self,
        on_ready: Callable[[RTCRtpSendParameters], None],
        on_nack: Callable[[list[int]], Awaitable[None]],
        on_keyframe_request: Callable[[], None],
    ) -> None:
        self.on_ready = on_ready
        self.on_nack = on_nack
        self.on_keyframe_request = on_keyframe_request


def intercept_sender(sender: RTCRtpSender, hooks: SenderHooks) -> None:
    """Capture a sender's negotiated parameters and divert its NACK/PLI/FIR to `hooks`;
    receiver reports still reach aiortc so that RTT statistics keep working."""
    original_send = sender.send
    original_rtcp = sender._handle_rtcp_packet

    async def send(parameters: RTCRtpSendParameters) -> None:
        await original_send(parameters)
        hooks.on_ready(parameters)

    async def handle_rtcp(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            await hooks.on_nack(list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            hooks.on_keyframe_request()
        else:
            await original_rtcp(packet)

    sender.send = send  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]


def on_sender_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when the remote peer asks this sender for a keyframe (for publishers
    that send pre-encoded packets, which aiortc cannot force to a keyframe itself)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def header_extensions_map(parameters: RTCRtpSendParameters) -> HeaderExtensionsMap:
    """The header-extension id map negotiated for a sender."""
    extensions = HeaderExtensionsMap()
    extensions.configure(parameters)
    return extensions


def update_sender_report(
    sender: RTCRtpSender, ntp_time: int, rtp_timestamp: int, packets: int, octets: int
) -> None:
    """Feed aiortc's sender-report loop the counters of packets we sent behind its back."""
    sender._RTCRtpSender__ntp_timestamp = ntp_time  # type: ignore[attr-defined]
    sender._RTCRtpSender__rtp_timestamp = rtp_timestamp  # type: ignore[attr-defined]
    sender._RTCRtpSender__packet_count = packets  # type: ignore[attr-defined]
    sender._RTCRtpSender__octet_count = octets  # type: ignore[attr-defined]


async def send_rtp(transport: RTCDtlsTransport, data: bytes) -> None:
    """Protect and send one serialized RTP or RTCP packet on a connected DTLS transport."""
    await transport._send_rtp(data)


def pending_send_bytes(transport: RTCDtlsTransport) -> int:
    """Bytes queued in user space on the viewer's UDP socket (a slow or blocked viewer).

    asyncio buffers datagrams without bound when the socket is full, so the SFU reads this to
    drop packets for that viewer instead of growing memory and delaying everyone."""
    connection = getattr(transport.transport, "_connection", None)
    pair = getattr(connection, "_nominated", {}).get(1)
    udp = getattr(getattr(pair, "protocol", None), "transport", None)
    size = getattr(udp, "get_write_buffer_size", None)
    return int(size()) if callable(size) else 0
