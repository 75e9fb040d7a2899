"""Responsible-gambling limits and self-exclusion, as data and pure functions.

Limits are the player's own: decreases (tightening) bind at once, increases (loosening) only
after a cooling-off. Exclusion can be extended, never shortened.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.clock import DAY_MS, MS, ms, utc

# Far-future end (ms) standing for a permanent exclusion inside the scripts.
PERMANENT_UNTIL_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


class ExclusionPeriod(StrEnum):
    """Self-exclusion periods offered (BetStop: 3 months to lifetime)."""

    THREE_MONTHS = "3m"
    SIX_MONTHS = "6m"
    ONE_YEAR = "1y"
    FIVE_YEARS = "5y"
    PERMANENT = "permanent"


_PERIOD_MONTHS = {"3m": 3, "6m": 6, "1y": 12, "5y": 60}


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later, clamping the day (31 Jan + 1 month → 28/29 Feb)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def exclusion_end(period: ExclusionPeriod, start: datetime) -> datetime | None:
    """When an exclusion starting at ``start`` ends; ``None`` for permanent."""
    if period is ExclusionPeriod.PERMANENT:
        return None
    return add_months(start, _PERIOD_MONTHS[period.value])


def exclusion_end_ms(period: ExclusionPeriod, start_ms: int) -> int:
    """The exclusion end in ms as the scripts store it (far future for permanent)."""
    end = exclusion_end(period, utc(start_ms))
    return PERMANENT_UNTIL_MS if end is None else ms(end.timestamp())


class LimitName(StrEnum):
    """The player's own limits; deposit windows are rolling."""

    DEPOSIT_DAILY = "deposit_daily"
    DEPOSIT_WEEKLY = "deposit_weekly"
    DEPOSIT_MONTHLY = "deposit_monthly"
    LOSS_DAILY = "loss_daily"
    STAKE_MAX = "stake_max"


DEPOSIT_LIMITS = (LimitName.DEPOSIT_DAILY, LimitName.DEPOSIT_WEEKLY, LimitName.DEPOSIT_MONTHLY)

# Rolling windows (ms) of the windowed limits; a "month" is 30 days.
LIMIT_WINDOWS_MS: Mapping[LimitName, int] = {
    LimitName.DEPOSIT_DAILY: DAY_MS,
    LimitName.DEPOSIT_WEEKLY: 7 * DAY_MS,
    LimitName.DEPOSIT_MONTHLY: 30 * DAY_MS,
    LimitName.LOSS_DAILY: DAY_MS,
}


@dataclass(frozen=True)
class LimitState:
    """One limit as stored: the value in force plus an increase waiting for its cooling-off.

    ``None`` as a value means "no limit". ``pending_at_ms`` is set only when an increase waits.
    """

    current: int | None = None
    pending: int | None = None
    pending_at_ms: int | None = None

    def effective(self, now_ms: int) -> int | None:
        """The value that binds at ``now_ms``."""
        if self.pending_at_ms is not None and self.pending_at_ms <= now_ms:
            return self.pending
        return self.current


def _is_increase(requested: int | None, effective: int | None) -> bool:
    # removing a limit (None) loosens it, so it counts as an increase
    if effective is None:
        return False
    return requested is None or requested > effective


@dataclass(frozen=True)
class LimitChange:
    """The outcome of a requested change: the new stored state and when it binds."""

    name: LimitName
    state: LimitState
    requested: int | None
    effective_at_ms: int
    immediate: bool


def plan_limit_change(name: LimitName, state: LimitState, requested: int | None, now_ms: int,
                      cooling_off_s: int) -> LimitChange:
    """Decrease (tighten) at once; increase (loosen) only after ``cooling_off_s``.

    A tighter request also cancels any increase still waiting; a new increase restarts the
    cooling-off from now.
    """
    effective = state.effective(now_ms)
    if _is_increase(requested, effective):
        at = now_ms + cooling_off_s * MS
        new = LimitState(current=effective, pending=requested, pending_at_ms=at)
        return LimitChange(name, new, requested, at, immediate=False)
    return LimitChange(name, LimitState(current=requested), requested, now_ms, immediate=True)
