"""QoS figures per tier: pure maths over counters and samples (no aiortc, no Ray)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rate(count: float, seconds: float) -> float:
    """count per second, 0 when no time has passed."""
    return count / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class TierStats:
    """What /v1/media/{event_id}/stats reports for one tier."""

    viewers: int
    bitrate_bps: float
    fps: float
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    loss_fraction: float | None = None
    glass_to_glass_p50_ms: float | None = None
    glass_to_glass_p95_ms: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready form."""
        return asdict(self)


def loss_fraction(lost: int, received: int) -> float | None:
    """Lost / expected from receiver reports; None when nothing was expected."""
    expected = lost + received
    return lost / expected if expected > 0 else None


def jitter_ms(jitter_units: float, clock_rate: int) -> float:
    """RTCP interarrival jitter (RTP clock units) in milliseconds."""
    return 1000 * jitter_units / clock_rate


def mean_or_none(values: Sequence[float]) -> float | None:
    """Arithmetic mean, None for no values."""
    return sum(values) / len(values) if values else None


def latency_summary(latencies_s: Sequence[float]) -> tuple[float | None, float | None]:
    """(p50, p95) in milliseconds of glass-to-glass samples in seconds."""
    ms = [1000 * x for x in latencies_s]
    return percentile(ms, 50), percentile(ms, 95)


def plausible_capture(now: float, capture_time: float, window_s: float = 60.0) -> bool:
    """A capture stamp read back from a picture is one of the last ``window_s`` seconds.

    A picture the decoder concealed after a loss can carry garbage where the stamp was; such
    a stamp is not a latency sample.
    """
    return 0.0 <= now - capture_time <= window_s


class SlidingWindowViewers:
    """Distinct clients seen within the last `window_s` seconds (HLS has no sessions: a viewer
    is whoever keeps reloading the playlist). Pure: the caller passes the time."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._last_seen: dict[str, float] = {}

    def saw(self, client: str, now: float) -> None:
        """A playlist request from `client` at `now`."""
        self._last_seen[client] = now
        if len(self._last_seen) > 1024 and len(self._last_seen) % 256 == 0:
            self._expire(now)

    def count(self, now: float) -> int:
        """Clients seen within the window ending at `now`."""
        self._expire(now)
        return len(self._last_seen)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        for client in [c for c, t in self._last_seen.items() if t < cutoff]:
            del self._last_seen[client]


@dataclass(frozen=True)
class ReceiverReport:
    """What one viewer's last RTCP receiver report said about one stream."""

    packets_received: int
    packets_lost: int
    jitter_units: float
    clock_rate: int
    rtt_s: float | None = None


@dataclass(frozen=True)
class ReportSummary:
    """Receiver reports of a tier folded into one figure each."""

    rtt_ms: float | None
    jitter_ms: float | None
    loss_fraction: float | None


def summarize_reports(reports: Sequence[ReceiverReport]) -> ReportSummary:
    """Mean RTT and jitter over viewers; loss as all lost over all expected packets."""
    rtts = [1000 * r.rtt_s for r in reports if r.rtt_s]
    jitters = [jitter_ms(r.jitter_units, r.clock_rate) for r in reports if r.clock_rate]
    return ReportSummary(
        mean_or_none(rtts), mean_or_none(jitters),
        loss_fraction(sum(max(r.packets_lost, 0) for r in reports),
                      sum(r.packets_received for r in reports)))


def fastest_tier_latency_ms(egress_latencies_s: Sequence[float],
                            rtt_ms: float | None) -> float | None:
    """p95 glass-to-glass of the WebRTC tier: capture -> the relay's send of the frame's last
    packet (measured from the capture time the frame carries), plus half the viewers' RTT for
    the last hop. None until a relay has forwarded a stamped frame."""
    _, p95 = latency_summary(egress_latencies_s)
    if p95 is None:
        return None
    return p95 + (rtt_ms or 0.0) / 2
