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


def bet_delay_is_safe(bet_delay_s: float, fastest_tier_p95_ms: float | None) -> bool:
    """The in-play bet delay must exceed what the fastest viewer sees (else courtsiding)."""
    return fastest_tier_p95_ms is None or bet_delay_s * 1000 > fastest_tier_p95_ms
