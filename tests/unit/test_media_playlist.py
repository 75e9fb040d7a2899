"""LL-HLS / HLS / delayed playlist rendering and the remux, without network or Ray."""

from __future__ import annotations

import io

import av

from media.hls import AccessUnit, HlsPackager, HlsSettings
from media.playlist import (
    Part,
    PlaylistShape,
    Segment,
    Tier,
    parse_playlist_tags,
    playlist_has,
    render_delayed,
    render_low_latency,
)
from media.rtp import CaptureStamp, capture_from_avcc
from media.synthetic import H264StampEncoder, SyntheticSettings, render_frame


def _segments() -> list[Segment]:
    parts = [Part(f"part0.{i}.m4s", 0.2, i == 0) for i in range(5)]
    done = Segment(0, "seg0.m4s", parts, True, 100.0)
    open_ = Segment(1, "seg1.m4s", [Part("part1.0.m4s", 0.2, True)], False, 101.2)
    return [done, open_]


def test_low_latency_playlist_has_parts_hint_and_server_control() -> None:
    text = render_low_latency(PlaylistShape(), _segments(), "part1.1.m4s")
    tags = parse_playlist_tags(text)
    assert tags["#EXT-X-SERVER-CONTROL"] == ["CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600"]
    assert tags["#EXT-X-PART-INF"] == ["PART-TARGET=0.200"]
    assert len(tags["#EXT-X-PART"]) == 6 and tags["#EXTINF"] == ["1.00000,"]
    assert tags["#EXT-X-PRELOAD-HINT"] == ['TYPE=PART,URI="part1.1.m4s"']
    assert text.index("part1.0.m4s") > text.index("seg0.m4s")


def test_blocking_reload_condition() -> None:
    segments = _segments()
    assert playlist_has(segments, 1, 0) and not playlist_has(segments, 1, 1)
    assert playlist_has(segments, 0, None) and not playlist_has(segments, 1, None)
    assert not playlist_has(segments, 2, 0)


def test_blocking_reload_past_a_finished_segment_waits_only_for_the_next_part() -> None:
    # A client that saw part 0.4 asks for 0.5 (the hint it was given); segment 0 ended at 5
    # parts, so 1.0 answers it. Without this the request hangs until the server's timeout.
    segments = _segments()
    assert playlist_has(segments, 0, 5)
    assert not playlist_has([segments[0]], 0, 5)
    open_ = Segment(0, "seg0.m4s", list(segments[0].parts), False, 100.0)
    assert not playlist_has([open_], 0, 5)


def test_delayed_tier_lists_only_old_enough_segments() -> None:
    segments = _segments()
    assert "seg0.m4s" not in render_delayed(PlaylistShape(), segments, now=120.0, delay=30.0)
    assert "seg0.m4s" in render_delayed(PlaylistShape(), segments, now=130.0, delay=30.0)


def test_packager_remuxes_into_playable_parts_with_capture_times() -> None:
    settings = SyntheticSettings()
    encoder = H264StampEncoder(settings)
    packager = HlsPackager(HlsSettings(delay=0.0), clock=lambda: 1e10)
    for i in range(60):
        stamp = CaptureStamp(1.7e9 + i / 25, i)
        data = encoder.encode(render_frame(settings, stamp, "0-0"), stamp, i % 25 == 0)
        packager.push(AccessUnit(data, i * 3600, i % 25 == 0, stamp.capture_time))
    assert packager.init is not None
    assert [len(s.parts) for s in list(packager.segments)[:2]] == [5, 5]
    ll = packager.playlist(Tier.LL_HLS)
    assert "INDEPENDENT=YES" in ll and "seg1.m4s" in ll
    container = av.open(io.BytesIO(packager.init + packager.files["seg1.m4s"]), "r")
    packets = [p for p in container.demux(video=0) if p.size]
    stamps = [capture_from_avcc(bytes(p)) for p in packets]
    assert [s.frame_index for s in stamps if s] == list(range(25, 50))
    assert "seg1.m4s" in packager.playlist(Tier.DELAYED)
