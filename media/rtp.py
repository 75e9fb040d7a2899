"""RTP/RTCP wire helpers for the forwarding SFU: pure functions, no I/O, no aiortc.

Everything here works on bytes so that it can be unit-tested against captured packets and reused
by the SFU, the relays and the clients. The capture-time SEI lives here too because the SFU and
the latency probes must read it from RTP payloads without decoding a single frame.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
RTP_HEADER_SIZE = 12
SEQ_MODULO = 1 << 16
H264_NAL_SEI = 6
H264_NAL_IDR = 5
H264_NAL_SPS = 7
H264_NAL_STAP_A = 24
H264_NAL_FU_A = 28
SEI_USER_DATA_UNREGISTERED = 5
# Our own UUID: marks the user-data SEI that carries the capture wall-clock time.
CAPTURE_SEI_UUID = uuid.UUID("6f2c1a9e-4b1d-4c55-9b8e-1a2b3c4d5e6f").bytes
_CAPTURE_STRUCT = struct.Struct("!QI")  # capture time in microseconds since epoch, frame index


@dataclass(frozen=True)
class RtpHeader:
    """The fixed RTP header fields the SFU cares about."""

    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    payload_offset: int


@dataclass(frozen=True)
class CaptureStamp:
    """A capture wall-clock time (seconds) and frame index carried by a frame."""

    capture_time: float
    frame_index: int


def is_rtcp(data: bytes) -> bool:
    """True for RTCP (RFC 5761 demultiplexing: payload types 192..223 on the second byte)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_header(data: bytes) -> RtpHeader:
    """Parse the RTP fixed header, CSRCs and extension length; raise ValueError if malformed."""
    if len(data) < RTP_HEADER_SIZE or data[0] >> 6 != 2:
        raise ValueError("not an RTP packet")
    offset = RTP_HEADER_SIZE + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < offset + 4:
            raise ValueError("truncated RTP header extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    if offset > len(data):
        raise ValueError("truncated RTP packet")
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    return RtpHeader(data[1] & 0x7F, bool(data[1] & 0x80), seq, ts, ssrc, offset)


def rewrite_header(
    data: bytes, *, sequence_number: int, ssrc: int, payload_type: int | None = None
) -> bytes:
    """Return a copy of an RTP packet with a new sequence number, SSRC and payload type."""
    out = bytearray(data)
    if payload_type is not None:
        out[1] = (out[1] & 0x80) | (payload_type & 0x7F)
    struct.pack_into("!H", out, 2, sequence_number % SEQ_MODULO)
    struct.pack_into("!I", out, 8, ssrc)
    return bytes(out)


def seq_add(seq: int, delta: int) -> int:
    """Add to a 16-bit sequence number with wrap-around."""
    return (seq + delta) % SEQ_MODULO


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b between 16-bit sequence numbers, in (-32768, 32768]."""
    d = (a - b) % SEQ_MODULO
    return d - SEQ_MODULO if d > SEQ_MODULO // 2 else d


# --- H.264 payload inspection (RFC 6184) without decoding ---------------------------------


def h264_nal_units(payload: bytes) -> list[bytes]:
    """Whole NAL units carried in one RTP payload (single NAL or STAP-A); FU-A gives none."""
    if not payload:
        return []
    nal_type = payload[0] & 0x1F
    if 1 <= nal_type <= 23:
        return [payload]
    if nal_type != H264_NAL_STAP_A:
        return []
    units, pos = [], 1
    while pos + 2 <= len(payload):
        (size,) = struct.unpack_from("!H", payload, pos)
        units.append(payload[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return units


def h264_payload_nal_types(payload: bytes) -> list[int]:
    """NAL unit types that start in this payload (for FU-A, only on the first fragment)."""
    if payload and payload[0] & 0x1F == H264_NAL_FU_A:
        starts = len(payload) > 1 and payload[1] & 0x80
        return [payload[1] & 0x1F] if starts else []
    return [unit[0] & 0x1F for unit in h264_nal_units(payload) if unit]


def h264_is_keyframe_start(payload: bytes) -> bool:
    """True when the payload starts an IDR picture or carries an SPS (a decodable start)."""
    return any(t in (H264_NAL_IDR, H264_NAL_SPS) for t in h264_payload_nal_types(payload))


def vp8_is_keyframe_start(payload: bytes) -> bool:
    """True when a VP8 payload (RFC 7741) is the first packet of a key frame."""
    if not payload:
        return False
    pos, first = 1, payload[0]
    if not first & 0x10 or first & 0x07:  # S bit and partition index 0
        return False
    if first & 0x80:
        ext = payload[1]
        pos = 2 + bool(ext & 0x80) + bool(ext & 0x40) + bool(ext & 0x30)
        if ext & 0x80 and len(payload) > 2 and payload[2] & 0x80:
            pos += 1  # 15-bit picture id
    return len(payload) > pos and not payload[pos] & 0x01


# --- capture-time SEI (user data unregistered) ---------------------------------------------


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """Insert 0x03 after every 00 00 that precedes a byte <= 3 (H.264 7.4.1)."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def remove_emulation_prevention(ebsp: bytes) -> bytes:
    """Drop the 0x03 bytes inserted by add_emulation_prevention."""
    out, zeros = bytearray(), 0
    for byte in ebsp:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def build_capture_sei(stamp: CaptureStamp) -> bytes:
    """A SEI NAL unit (no start code) carrying the capture time and frame index."""
    body = CAPTURE_SEI_UUID + _CAPTURE_STRUCT.pack(
        round(stamp.capture_time * 1_000_000), stamp.frame_index
    )
    rbsp = bytes([SEI_USER_DATA_UNREGISTERED, len(body)]) + body + b"\x80"
    return bytes([H264_NAL_SEI]) + add_emulation_prevention(rbsp)


def parse_capture_sei(nal: bytes) -> CaptureStamp | None:
    """Read our capture stamp from a SEI NAL unit (no start code); None if it is not ours."""
    if not nal or nal[0] & 0x1F != H264_NAL_SEI:
        return None
    rbsp = remove_emulation_prevention(nal[1:])
    size = 16 + _CAPTURE_STRUCT.size
    if len(rbsp) < 2 + size or rbsp[0] != SEI_USER_DATA_UNREGISTERED or rbsp[1] != size:
        return None
    if rbsp[2:18] != CAPTURE_SEI_UUID:
        return None
    micros, index = _CAPTURE_STRUCT.unpack_from(rbsp, 18)
    return CaptureStamp(micros / 1_000_000, index)


def capture_from_rtp_payload(payload: bytes) -> CaptureStamp | None:
    """The capture stamp in an H.264 RTP payload, if this packet carries our SEI."""
    for unit in h264_nal_units(payload):
        stamp = parse_capture_sei(unit)
        if stamp is not None:
            return stamp
    return None


def capture_from_annexb(data: bytes) -> CaptureStamp | None:
    """The capture stamp in an Annex-B access unit (as stored in MP4 after remux or not)."""
    for unit in split_annexb(data):
        stamp = parse_capture_sei(unit)
        if stamp is not None:
            return stamp
    return None


def capture_from_avcc(data: bytes) -> CaptureStamp | None:
    """The capture stamp in a length-prefixed (AVCC/MP4) access unit."""
    pos = 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("!I", data, pos)
        stamp = parse_capture_sei(data[pos + 4 : pos + 4 + size])
        if stamp is not None:
            return stamp
        pos += 4 + size
    return None


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream, start codes removed."""
    units: list[bytes] = []
    for chunk in data.split(b"\x00\x00\x01"):
        chunk = chunk.rstrip(b"\x00") if chunk.endswith(b"\x00") else chunk
        if chunk:
            units.append(chunk)
    return units


# --- per-stream state kept by the SFU -------------------------------------------------------


class PacketHistory(Generic[T]):
    """The last `size` packets of one stream by sequence number, to answer NACKs."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._slots: list[tuple[int, T] | None] = [None] * size

    def add(self, sequence_number: int, packet: T) -> None:
        """Remember a packet (overwrites the one `size` sequence numbers older)."""
        self._slots[sequence_number % self._size] = (sequence_number, packet)

    def get(self, sequence_number: int) -> T | None:
        """The packet with this sequence number, or None if it fell out of the history."""
        slot = self._slots[sequence_number % self._size]
        return slot[1] if slot is not None and slot[0] == sequence_number else None


class KeyframeLimiter:
    """Lets at most one keyframe request through per `min_interval_s` (PLI storms from many
    viewers must not make the publisher send keyframes back to back)."""

    def __init__(self, min_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last: float | None = None
        self.suppressed = 0

    def allow(self) -> bool:
        """True if a request may go to the publisher now."""
        now = self._clock()
        if self._last is not None and now - self._last < self._min_interval_s:
            self.suppressed += 1
            return False
        self._last = now
        return True

    def remaining(self) -> float:
        """Seconds until a request would be let through."""
        if self._last is None:
            return 0.0
        return max(0.0, self._min_interval_s - (self._clock() - self._last))
