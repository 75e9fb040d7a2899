"""Plain-RTP pipes between the region's media actor and its relays (a cascading SFU, like
mediasoup's PipeTransport): one UDP socket per (relay, event, kind); the relay sends b"PLI"
back up when one of its viewers needs a keyframe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media.sfu import SourceStream

KEYFRAME_REQUEST = b"PLI"
_NO_EXTENSIONS = HeaderExtensionsMap()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # a dead relay: ICMP unreachable
        pass


class PipeOutput:
    """A sink of a region SourceStream that sends every packet to one relay."""

    def __init__(self, stream: SourceStream, address: tuple[str, int]) -> None:
        self.stream = stream
        self.address = address
        self.sent = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self) -> None:
        """Create the sending socket (it also receives the relay's keyframe requests)."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_feedback), remote_addr=self.address)

    def _on_feedback(self, data: bytes, addr: tuple[str, int]) -> None:
        if data == KEYFRAME_REQUEST:
            self.stream.keyframe_needed()

    async def forward(self, packet: RtpPacket, is_keyframe_start: bool) -> None:
        """Send the packet as-is (publisher SSRC and payload type, no extensions)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(packet.serialize(_NO_EXTENSIONS))
            self.sent += 1

    def close(self) -> None:
        """Stop sending."""
        self.stream.sinks.discard(self)
        if self._transport is not None:
            self._transport.close()


class PipeInput:
    """The relay end of a pipe: feeds received packets into the relay's SourceStream."""

    def __init__(self, publish: Callable[[RtpPacket], Awaitable[None]]) -> None:
        self._publish = publish
        self._transport: asyncio.DatagramTransport | None = None
        self._upstream: tuple[str, int] | None = None
        self._queue: asyncio.Queue[RtpPacket] = asyncio.Queue(maxsize=2048)
        self._task: asyncio.Task[None] | None = None

    async def open(self, host: str) -> tuple[str, int]:
        """Listen on an ephemeral UDP port; return its address."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_datagram), local_addr=(host, 0))
        self._task = asyncio.ensure_future(self._pump())
        address: tuple[str, int] = self._transport.get_extra_info("sockname")[:2]
        return address

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self._upstream = addr
        try:
            self._queue.put_nowait(RtpPacket.parse(data, _NO_EXTENSIONS))
        except (ValueError, asyncio.QueueFull):
            pass

    async def _pump(self) -> None:
        while True:
            await self._publish(await self._queue.get())

    async def request_keyframe(self) -> None:
        """Ask the region actor for a keyframe."""
        if self._transport is not None and self._upstream is not None:
            self._transport.sendto(KEYFRAME_REQUEST, self._upstream)

    def close(self) -> None:
        """Stop receiving."""
        if self._task is not None:
            self._task.cancel()
        if self._transport is not None:
            self._transport.close()
