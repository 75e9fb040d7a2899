"""QoS maths: HLS viewer windows, receiver-report summaries, the fastest tier's latency."""

from __future__ import annotations

from domain.book import bet_delay_is_safe
from media.qos import (
    ReceiverReport,
    SlidingWindowViewers,
    fastest_tier_latency_ms,
    plausible_capture,
    summarize_reports,
)


def test_hls_viewers_are_distinct_clients_in_a_sliding_window() -> None:
    viewers = SlidingWindowViewers(window_s=10)
    viewers.saw("a", 0.0)
    viewers.saw("a", 1.0)
    viewers.saw("b", 2.0)
    assert viewers.count(5.0) == 2
    assert viewers.count(11.5) == 1  # a was last seen at 1.0
    viewers.saw("a", 12.0)
    assert viewers.count(12.0) == 2
    assert viewers.count(30.0) == 0


def test_receiver_reports_fold_into_rtt_jitter_and_loss() -> None:
    reports = [ReceiverReport(990, 10, 900.0, 90_000, 0.020),
               ReceiverReport(1000, 0, 1800.0, 90_000, 0.040),
               ReceiverReport(500, -1, 0.0, 90_000, None)]  # RFC 3550 allows negative loss
    summary = summarize_reports(reports)
    assert summary.rtt_ms is not None and abs(summary.rtt_ms - 30.0) < 1e-9
    assert summary.jitter_ms is not None and abs(summary.jitter_ms - 10.0) < 1e-9
    assert summary.loss_fraction is not None and abs(summary.loss_fraction - 10 / 2500) < 1e-12
    empty = summarize_reports([])
    assert (empty.rtt_ms, empty.jitter_ms, empty.loss_fraction) == (None, None, None)


def test_fastest_tier_latency_adds_half_the_rtt_to_the_egress_p95() -> None:
    egress = [0.010] * 95 + [0.100] * 5
    assert fastest_tier_latency_ms(egress, 20.0) == 10.0 + 10.0
    assert fastest_tier_latency_ms([], 20.0) is None
    latency = fastest_tier_latency_ms(egress, None)
    assert latency == 10.0
    assert bet_delay_is_safe(5.0, latency) and not bet_delay_is_safe(0.005, latency)


def test_a_stamp_read_from_a_concealed_picture_is_not_a_latency() -> None:
    now = 1_800_000_000.0
    assert plausible_capture(now, now - 0.040)
    assert plausible_capture(now, now)
    assert not plausible_capture(now, now + 5.0)  # from the future
    assert not plausible_capture(now, now - 3_600.0)  # an hour old: garbage bits
    assert not plausible_capture(now, 562_949_953.0)  # a stamp seen in a bench run
