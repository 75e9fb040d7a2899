"""A synthetic match video for demos, tests and benchmarks.

Each frame shows a moving pattern, a match clock and a score, and carries its capture wall-clock
time twice: as a block of black/white squares (readable after decoding, by any player) and as
an H.264 SEI user-data-unregistered NAL (readable from RTP or MP4 without decoding). The track
encodes itself with libx264 and hands aiortc ready-made packets, so the publisher controls GOP,
latency tuning and the SEI.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.frame import PictureType

from media.rtp import CaptureStamp, build_capture_sei

VIDEO_CLOCK = 90_000
STAMP_BITS = 96  # 64-bit capture time in microseconds + 32-bit frame index
STAMP_BLOCK = 8  # pixels per bit square; aligned to H.264 8x8 transforms so it survives
STAMP_COLUMNS = 48

# 3x5 bitmap font for the clock and score.
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", ":": "000010000010000", "-": "000000111000000",
    " ": "000000000000000",
}


@dataclass(frozen=True)
class SyntheticSettings:
    """Picture size, rate and encoder settings of the synthetic source."""

    width: int = 640
    height: int = 360
    fps: int = 25
    bitrate: int = 1_500_000
    gop_frames: int = 25  # one keyframe a second: HLS segments and late joiners start on it


def _draw_text(image: np.ndarray, text: str, x: int, y: int, scale: int = 6) -> None:
    for i, char in enumerate(text):
        glyph = np.array([int(c) for c in _GLYPHS.get(char, _GLYPHS[" "])]).reshape(5, 3)
        block = np.kron(glyph, np.ones((scale, scale), dtype=np.uint8)) * 235
        left = x + i * 4 * scale
        region = image[y : y + 5 * scale, left : left + 3 * scale]
        region[...] = np.maximum(region, block[: region.shape[0], : region.shape[1]])


def stamp_bits(stamp: CaptureStamp) -> list[int]:
    """The 96 bits written into the pixel block, most significant first."""
    value = (round(stamp.capture_time * 1_000_000) << 32) | (stamp.frame_index & 0xFFFFFFFF)
    return [(value >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)]


def _draw_stamp(luma: np.ndarray, stamp: CaptureStamp) -> None:
    for i, bit in enumerate(stamp_bits(stamp)):
        row, col = divmod(i, STAMP_COLUMNS)
        y, x = row * STAMP_BLOCK, col * STAMP_BLOCK
        luma[y : y + STAMP_BLOCK, x : x + STAMP_BLOCK] = 235 if bit else 16


def read_pixel_stamp(luma: np.ndarray) -> CaptureStamp:
    """Read the capture stamp back from a decoded frame's luma plane (height x width)."""
    value = 0
    for i in range(STAMP_BITS):
        row, col = divmod(i, STAMP_COLUMNS)
        centre = luma[row * STAMP_BLOCK + STAMP_BLOCK // 2, col * STAMP_BLOCK + STAMP_BLOCK // 2]
        value = (value << 1) | int(centre > 128)
    return CaptureStamp((value >> 32) / 1_000_000, value & 0xFFFFFFFF)


def render_frame(settings: SyntheticSettings, stamp: CaptureStamp, score: str) -> np.ndarray:
    """A yuv420p picture (as the (h*3/2) x w array PyAV expects) for one frame."""
    w, h = settings.width, settings.height
    x = np.arange(w, dtype=np.int32)
    shift = stamp.frame_index * 4
    luma = np.tile(((x + shift) % 256 // 2 + 40).astype(np.uint8), (h, 1))
    ball = (stamp.frame_index * 7) % (w - 40)
    luma[h // 2 : h // 2 + 40, ball : ball + 40] = 235
    seconds = stamp.frame_index // settings.fps
    _draw_text(luma, f"{seconds // 60:02d}:{seconds % 60:02d}", 24, h - 60)
    _draw_text(luma, score, w - 200, h - 60)
    _draw_stamp(luma, stamp)
    chroma = np.full((h // 2, w), 128, dtype=np.uint8)
    chroma[: h // 4, :] = 110  # a little colour so the picture is not grey
    return np.vstack([luma, chroma])


class H264StampEncoder:
    """libx264 tuned for live (no B-frames, no lookahead) that prepends the capture SEI."""

    def __init__(self, settings: SyntheticSettings) -> None:
        self._settings = settings
        self._codec = av.CodecContext.create("libx264", "w")
        self._codec.width, self._codec.height = settings.width, settings.height
        self._codec.pix_fmt = "yuv420p"
        self._codec.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._codec.framerate = fractions.Fraction(settings.fps, 1)
        self._codec.bit_rate = settings.bitrate
        self._codec.gop_size = settings.gop_frames
        self._codec.options = {"preset": "ultrafast", "tune": "zerolatency",
                               "profile": "baseline", "repeat-headers": "1"}

    def encode(self, image: np.ndarray, stamp: CaptureStamp, keyframe: bool) -> bytes:
        """One Annex-B access unit: our SEI first, then what x264 produced."""
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = stamp.frame_index * VIDEO_CLOCK // self._settings.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        if keyframe:
            frame.pict_type = PictureType.I
        data = b"".join(bytes(p) for p in self._codec.encode(frame))
        return b"\x00\x00\x00\x01" + build_capture_sei(stamp) + data


class SyntheticVideoTrack(MediaStreamTrack):
    """An aiortc video track of pre-encoded H.264 packets from the synthetic match."""

    kind = "video"

    def __init__(
        self,
        settings: SyntheticSettings | None = None,
        *,
        frame_limit: int | None = None,
        start: asyncio.Event | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.settings = settings or SyntheticSettings()
        self._encoder = H264StampEncoder(self.settings)
        self._frame_limit = frame_limit
        self._start = start
        self._clock = clock
        self._index = 0
        self._next_due: float | None = None
        self._keyframe_requested = True
        self.keyframe_requests = 0
        self.sent: list[CaptureStamp] = []

    def request_keyframe(self) -> None:
        """Make the next frame a keyframe (a viewer joined or lost a picture)."""
        self._keyframe_requested = True
        self.keyframe_requests += 1

    def score(self) -> str:
        """A slowly changing score so the demo looks alive."""
        return f"{self._index // 750 % 10}-{self._index // 1125 % 10}"

    async def recv(self) -> av.Packet:
        if self._frame_limit is not None and self._index >= self._frame_limit:
            self.stop()
            raise MediaStreamError
        if self._start is not None:
            await self._start.wait()
        await self._pace()
        stamp = CaptureStamp(round(self._clock(), 6), self._index)
        keyframe, self._keyframe_requested = self._keyframe_requested, False
        image = render_frame(self.settings, stamp, self.score())
        # Encoding takes a few ms: keep it off the event loop that also sends RTP.
        data = await asyncio.to_thread(self._encoder.encode, image, stamp, keyframe)
        packet = av.Packet(data)
        packet.pts = stamp.frame_index * VIDEO_CLOCK // self.settings.fps
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.sent.append(stamp)
        self._index += 1
        return packet

    async def _pace(self) -> None:
        now = time.monotonic()
        if self._next_due is None:
            self._next_due = now
        if self._next_due > now:
            await asyncio.sleep(self._next_due - now)
        self._next_due += 1 / self.settings.fps
