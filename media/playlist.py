"""HLS media playlists (RFC 8216bis with the Low-Latency extensions): pure rendering.

One list of segments (each with its parts) renders three ways: LL-HLS (parts, preload hint,
blocking reload), standard HLS (complete segments only) and a delayed tier (only segments at
least `delay` old). ffmpeg's hls muxer cannot write the LL tags, so this is ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Tier(StrEnum):
    """A way of watching, from fastest to slowest."""

    WEBRTC = "webrtc"
    LL_HLS = "ll-hls"
    HLS = "hls"
    DELAYED = "hls-delayed"


@dataclass(frozen=True)
class Part:
    """One LL-HLS partial segment (a CMAF chunk: one moof+mdat)."""

    uri: str
    duration: float
    independent: bool


@dataclass
class Segment:
    """A media segment; `complete` once the next one has started."""

    msn: int
    uri: str
    parts: list[Part] = field(default_factory=list)
    complete: bool = False
    available_at: float = 0.0  # capture time of its newest frame (wall clock)

    @property
    def duration(self) -> float:
        """Sum of its parts' durations."""
        return sum(p.duration for p in self.parts)


@dataclass(frozen=True)
class PlaylistShape:
    """Targets a playlist advertises."""

    part_target: float = 0.2
    segment_target: float = 1.0
    init_uri: str = "init.mp4"


def _header(shape: PlaylistShape, segments: list[Segment], low_latency: bool) -> list[str]:
    target = max([shape.segment_target, *(s.duration for s in segments if s.complete)])
    lines = ["#EXTM3U", "#EXT-X-VERSION:9" if low_latency else "#EXT-X-VERSION:7",
             f"#EXT-X-TARGETDURATION:{math.ceil(target)}"]
    if low_latency:
        lines.append("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
                     f"PART-HOLD-BACK={3 * shape.part_target:.3f}")
        lines.append(f"#EXT-X-PART-INF:PART-TARGET={shape.part_target:.3f}")
    first = segments[0].msn if segments else 0
    lines += [f"#EXT-X-MEDIA-SEQUENCE:{first}", f'#EXT-X-MAP:URI="{shape.init_uri}"']
    return lines


def _part_line(part: Part) -> str:
    independent = ",INDEPENDENT=YES" if part.independent else ""
    return f'#EXT-X-PART:DURATION={part.duration:.5f},URI="{part.uri}"{independent}'


def render_low_latency(shape: PlaylistShape, segments: list[Segment], next_part_uri: str,
                       part_window: int = 4) -> str:
    """LL-HLS: parts of the last `part_window` segments, the open segment's parts and a
    preload hint for the part being written now."""
    lines = _header(shape, segments, low_latency=True)
    recent = {s.msn for s in segments[-part_window:]}
    for segment in segments:
        if segment.msn in recent:
            lines += [_part_line(p) for p in segment.parts]
        if segment.complete:
            lines += [f"#EXTINF:{segment.duration:.5f},", segment.uri]
    lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{next_part_uri}"')
    return "\n".join(lines) + "\n"


def render_standard(shape: PlaylistShape, segments: list[Segment]) -> str:
    """Standard HLS: complete segments only."""
    done = [s for s in segments if s.complete]
    lines = _header(shape, done, low_latency=False)
    for segment in done:
        lines += [f"#EXTINF:{segment.duration:.5f},", segment.uri]
    return "\n".join(lines) + "\n"


def render_delayed(shape: PlaylistShape, segments: list[Segment], now: float, delay: float,
                   window: int = 6) -> str:
    """The delayed tier: complete segments whose newest frame is at least `delay` old."""
    ripe = [s for s in segments if s.complete and s.available_at + delay <= now]
    return render_standard(shape, ripe[-window:])


def playlist_has(segments: list[Segment], msn: int, part: int | None) -> bool:
    """Whether a blocking reload for (_HLS_msn, _HLS_part) can be answered now."""
    for index, segment in enumerate(segments):
        if segment.msn == msn:
            if part is None or len(segment.parts) > part:
                return segment.complete if part is None else True
            # A part index past the end of a finished segment means the next segment's first
            # part (what a client asks for after the last part it saw, as the hint suggests).
            later = segments[index + 1 :]
            return segment.complete and bool(later) and bool(later[0].parts)
        if segment.msn > msn:
            return True
    return False


def parse_playlist_tags(text: str) -> dict[str, list[str]]:
    """Tag name -> list of attribute strings (for validation in tests and clients)."""
    tags: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#EXT"):
            name, _, value = line.partition(":")
            tags.setdefault(name, []).append(value)
    return tags
