"""Pure RTP/SEI helpers, the adapter's version guard, QoS maths and entitlement policy."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.book import bet_delay_is_safe
from media import aiortc_adapter
from media.entitlements import tier_allowed
from media.playlist import Tier
from media.qos import latency_summary, percentile
from media.rtp import (
    CaptureStamp,
    KeyframeLimiter,
    PacketHistory,
    add_emulation_prevention,
    build_capture_sei,
    capture_from_rtp_payload,
    h264_is_keyframe_start,
    parse_capture_sei,
    parse_header,
    remove_emulation_prevention,
    rewrite_header,
    seq_diff,
)

# A captured aiortc H.264 packet header: V=2, X=1, M=1, PT=102, seq 0x1234, one-byte ext.
PACKET = bytes.fromhex("90e61234000003e8deadbeef" + "bede0001" + "10300000") + b"\x65abc"


def test_parse_header_finds_payload_after_extension() -> None:
    header = parse_header(PACKET)
    assert (header.payload_type, header.marker, header.sequence_number) == (102, True, 0x1234)
    assert header.ssrc == 0xDEADBEEF and PACKET[header.payload_offset:] == b"\x65abc"


def test_rewrite_header_changes_only_seq_ssrc_pt() -> None:
    out = rewrite_header(PACKET, sequence_number=70000, ssrc=7, payload_type=96)
    header = parse_header(out)
    assert (header.sequence_number, header.ssrc, header.payload_type) == (70000 % 65536, 7, 96)
    assert header.marker and out[4:8] == PACKET[4:8] and out[12:] == PACKET[12:]


@given(st.floats(min_value=1e9, max_value=4e9), st.integers(0, 2**32 - 1))
def test_capture_sei_round_trips(t: float, index: int) -> None:
    stamp = CaptureStamp(round(t, 6), index)
    nal = build_capture_sei(stamp)
    back = parse_capture_sei(nal)
    assert back is not None and back.frame_index == index
    assert abs(back.capture_time - stamp.capture_time) < 2e-6
    assert b"\x00\x00\x00" not in nal and b"\x00\x00\x01" not in nal


@given(st.binary(max_size=64))
def test_emulation_prevention_is_reversible(data: bytes) -> None:
    assert remove_emulation_prevention(add_emulation_prevention(data)) == data


def test_capture_found_in_stap_a_and_keyframe_detected() -> None:
    sei = build_capture_sei(CaptureStamp(1.5e9, 3))
    sps = b"\x67\x42\xe0\x1f"
    stap = b"\x18" + struct.pack("!H", len(sei)) + sei + struct.pack("!H", len(sps)) + sps
    assert capture_from_rtp_payload(stap) == CaptureStamp(1.5e9, 3)
    assert h264_is_keyframe_start(stap)
    fu_a_middle = bytes([0x7C, 0x05]) + b"x"
    assert not h264_is_keyframe_start(fu_a_middle)
    assert h264_is_keyframe_start(bytes([0x7C, 0x85]) + b"x")


def test_packet_history_and_seq_maths() -> None:
    history: PacketHistory[str] = PacketHistory(4)
    for seq in range(10):
        history.add(seq, f"p{seq}")
    assert history.get(9) == "p9" and history.get(5) is None
    assert seq_diff(2, 65534) == 4 and seq_diff(65534, 2) == -4


def test_keyframe_limiter_rate_limits_with_injected_clock() -> None:
    now = [0.0]
    limiter = KeyframeLimiter(0.5, clock=lambda: now[0])
    assert limiter.allow() and not limiter.allow()
    assert limiter.remaining() == 0.5
    now[0] = 0.6
    assert limiter.allow() and limiter.suppressed == 1


def test_adapter_guard_fails_loudly_on_other_versions() -> None:
    with pytest.raises(aiortc_adapter.AiortcAdapterError, match=r"1\.16\.0"):
        aiortc_adapter.check_aiortc("1.17.0")


def test_adapter_guard_fails_when_an_internal_disappears(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc import RTCDtlsTransport

    monkeypatch.delattr(RTCDtlsTransport, "_send_rtp")
    with pytest.raises(aiortc_adapter.AiortcAdapterError, match="_send_rtp"):
        aiortc_adapter.check_aiortc()


def test_entitlement_policy() -> None:
    assert tier_allowed(Tier.WEBRTC, Tier.LL_HLS)
    assert not tier_allowed(Tier.HLS, Tier.WEBRTC)
    assert tier_allowed(None, Tier.DELAYED) and not tier_allowed(None, Tier.HLS)


def test_qos_maths() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([], 95) is None
    assert latency_summary([0.01, 0.02, 0.03]) == (20, 30)
    assert bet_delay_is_safe(2.0, 150.0) and not bet_delay_is_safe(0.1, 150.0)
