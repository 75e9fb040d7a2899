"""Time as the domain sees it: an injected clock, and the units the scripts and the API use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# An injected clock: any zero-argument callable returning POSIX seconds (``time.time``).
Clock = Callable[[], float]

MS = 1000
DAY_MS = 86_400 * MS


class ManualClock:
    """A clock the test moves by hand: ``clock()`` reads it, ``advance(s)`` moves it."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.now += seconds


def ms(ts: float) -> int:
    """POSIX seconds → integer milliseconds, the time unit inside the scripts."""
    return int(ts * MS)


def utc(ts_ms: int) -> datetime:
    """Milliseconds → aware UTC datetime."""
    return datetime.fromtimestamp(ts_ms / MS, tz=UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, the API's time format."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def rfc3339_ms(ts: float | None) -> str | None:
    """POSIX seconds → RFC 3339 UTC with milliseconds (``None`` stays ``None``)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 date-time with a zone (``Z`` or ``±hh:mm``), or None for anything else."""
    if len(text) < 20 or text[10] not in "Tt ":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
