"""One PyAV remux of the encoded H.264 stream into fMP4 (CMAF chunks) for LL-HLS, HLS and the
delayed tier. Never decodes: RTP payloads are depacketized into access units and muxed.

Fragments are cut every part target (and at every keyframe) by the mov muxer; each
moof+mdat becomes a part, parts are grouped into segments that start on keyframes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.codecs.h264 import h264_depayload

from media.playlist import (
    Part,
    PlaylistShape,
    Segment,
    Tier,
    playlist_has,
    render_delayed,
    render_low_latency,
    render_standard,
)
from media.rtp import H264_NAL_IDR, H264_NAL_SPS, capture_from_annexb, split_annexb

VIDEO_CLOCK = 90_000


@dataclass(frozen=True)
class AccessUnit:
    """One encoded picture in Annex-B form."""

    data: bytes
    pts: int  # 90 kHz
    keyframe: bool
    capture_time: float | None


@dataclass(frozen=True)
class HlsSettings:
    """Part/segment targets, the delayed tier's delay and how much to keep."""

    part_target: float = 0.2
    segment_target: float = 1.0
    delay: float = 30.0
    width: int = 640
    height: int = 360
    keep_segments: int = 12


class FrameAssembler:
    """RTP H.264 packets -> access units, released on the marker bit."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def push(self, payload: bytes, timestamp: int, marker: bool) -> AccessUnit | None:
        """Add one packet's payload; return the access unit it completes, if any."""
        with contextlib.suppress(ValueError):
            self._chunks.append(h264_depayload(payload))
        if not marker:
            return None
        data, self._chunks = b"".join(self._chunks), []
        nal_types = {unit[0] & 0x1F for unit in split_annexb(data) if unit}
        stamp = capture_from_annexb(data)
        keyframe = H264_NAL_IDR in nal_types or H264_NAL_SPS in nal_types
        return AccessUnit(data, timestamp, keyframe, stamp.capture_time if stamp else None)


def _parameter_sets(data: bytes) -> bytes:
    units = [u for u in split_annexb(data) if u and u[0] & 0x1F in (7, 8)]
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


def _trun_sample_count(moof: bytes) -> int:
    at = moof.find(b"trun")
    return int.from_bytes(moof[at + 8 : at + 12], "big") if at >= 0 else 0


class _BoxSink:
    """A write-only file for the muxer that splits its output into top-level MP4 boxes."""

    def __init__(self, on_box: Callable[[bytes, bytes], None]) -> None:
        self._buffer = bytearray()
        self._on_box = on_box

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) >= 8:
            size = int.from_bytes(self._buffer[:4], "big")
            if size < 8 or len(self._buffer) < size:
                break
            box = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._on_box(box[4:8], box)
        return len(data)


# the names this packager writes: parts ``part<msn>.<n>.m4s`` and segments ``seg<msn>.m4s``
_MEDIA_NAME = re.compile(r"part(\d{1,9})\.\d{1,4}\.m4s|seg(\d{1,9})\.m4s")


class HlsPackager:
    """Turns access units into an init segment, parts and segments, and serves playlists."""

    def __init__(self, settings: HlsSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or HlsSettings()
        self.shape = PlaylistShape(self.settings.part_target, self.settings.segment_target)
        self.init: bytes | None = None
        self.segments: deque[Segment] = deque()
        self.files: dict[str, bytes] = {}
        self._clock = clock
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._pending: deque[AccessUnit] = deque()  # muxed, not yet emitted in a part
        self._moof: bytes | None = None
        self._init_boxes: list[bytes] = []
        self._changed = asyncio.Condition()
        self._last_pts: int | None = None

    def push(self, unit: AccessUnit) -> None:
        """Mux one access unit (waits for the first keyframe)."""
        if self._container is None:
            if not unit.keyframe:
                return
            self._open(unit)
        assert self._container is not None and self._stream is not None
        if self._last_pts is not None and unit.pts <= self._last_pts:
            return  # a repeated or reordered frame would break the muxer
        self._last_pts = unit.pts
        packet = av.Packet(unit.data)
        packet.pts = packet.dts = unit.pts
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        packet.stream = self._stream
        packet.is_keyframe = unit.keyframe
        self._pending.append(unit)
        self._container.mux(packet)

    def _open(self, unit: AccessUnit) -> None:
        options = {
            "movflags": "empty_moov+default_base_moof+frag_keyframe+cmaf",
            "frag_duration": str(int(self.settings.part_target * 1_000_000)),
            "flush_packets": "1",
        }
        self._container = av.open(_BoxSink(self._on_box), "w", format="mp4", options=options)
        stream = self._container.add_stream("h264", rate=25)
        stream.width, stream.height = self.settings.width, self.settings.height
        stream.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        stream.codec_context.extradata = _parameter_sets(unit.data)
        self._stream = stream

    def _on_box(self, kind: bytes, box: bytes) -> None:
        if kind in (b"ftyp", b"moov"):
            self._init_boxes.append(box)
            if kind == b"moov":
                self.init = b"".join(self._init_boxes)
                self.files[self.shape.init_uri] = self.init
        elif kind == b"moof":
            self._moof = box
        elif kind == b"mdat" and self._moof is not None:
            self._add_part(self._moof + box, _trun_sample_count(self._moof))
            self._moof = None

    def _add_part(self, data: bytes, samples: int) -> None:
        units = [self._pending.popleft() for _ in range(min(samples, len(self._pending)))]
        if not units:
            return
        end = self._pending[0].pts if self._pending else units[-1].pts + VIDEO_CLOCK // 25
        duration = (end - units[0].pts) / VIDEO_CLOCK
        segment = self._segment_for(units[0].keyframe)
        uri = f"part{segment.msn}.{len(segment.parts)}.m4s"
        segment.parts.append(Part(uri, duration, units[0].keyframe))
        self.files[uri] = data
        self.files[segment.uri] = self.files.get(segment.uri, b"") + data
        captured = [u.capture_time for u in units if u.capture_time is not None]
        segment.available_at = max(captured) if captured else self._clock()
        self._notify()

    def _segment_for(self, keyframe: bool) -> Segment:
        current = self.segments[-1] if self.segments else None
        if current is None or (keyframe and current.duration >= self.settings.segment_target * 0.9):
            if current is not None:
                current.complete = True
            current = Segment(current.msn + 1 if current else 0, "")
            current.uri = f"seg{current.msn}.m4s"
            self.segments.append(current)
            self._expire()
        return current

    def _expire(self) -> None:
        keep = self.settings.keep_segments + int(self.settings.delay / self.settings.segment_target)
        while len(self.segments) > keep:
            old = self.segments.popleft()
            self.files.pop(old.uri, None)
            for part in old.parts:
                self.files.pop(part.uri, None)

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):  # no running loop (pure use in unit tests)
            asyncio.get_running_loop().create_task(wake())

    def next_part_uri(self) -> str:
        """The part being written now (for EXT-X-PRELOAD-HINT)."""
        if not self.segments:
            return "part0.0.m4s"
        last = self.segments[-1]
        return f"part{last.msn}.{len(last.parts)}.m4s"

    def playlist(self, tier: Tier) -> str:
        """The media playlist of a tier right now."""
        segments = list(self.segments)
        if tier == Tier.LL_HLS:
            return render_low_latency(self.shape, segments, self.next_part_uri())
        if tier == Tier.DELAYED:
            return render_delayed(self.shape, segments, self._clock(), self.settings.delay)
        return render_standard(self.shape, segments)

    async def blocking_playlist(self, msn: int, part: int | None, wait_s: float = 3.0) -> str:
        """LL-HLS blocking reload: answer once segment `msn` (part `part`) exists."""
        async def ready() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: playlist_has(list(self.segments), msn, part))

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready(), wait_s)
        return self.playlist(Tier.LL_HLS)

    def may_appear(self, name: str) -> bool:
        """Whether ``name`` is a part or segment still to be written (worth waiting for).

        Anything else (a name this packager never makes, one already dropped from the
        window) is answered at once rather than after the wait.
        """
        found = _MEDIA_NAME.fullmatch(name)
        if found is None:
            return False
        newest = self.segments[-1].msn if self.segments else 0
        return int(found.group(1) or found.group(2)) >= newest

    async def wait_for_file(self, name: str, wait_s: float = 3.0) -> bytes | None:
        """A part or segment; waits for a preload-hinted part that is being written."""
        if name in self.files or not self.may_appear(name):
            return self.files.get(name)

        async def ready() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: name in self.files)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready(), wait_s)
        return self.files.get(name)

    def close(self) -> None:
        """Stop muxing (the last partial fragment is dropped)."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
