"""A football match model for in-play trading: a seeded simulation and its fair prices (pure).

The model
=========

Goals of each team arrive as a Poisson process whose intensity (goals per minute of *live*
play, see below) is a product of factors, the form of Dixon & Robinson (1998, "A birth process
model for association football matches", JRSS D 47) with Maher (1982) / Dixon & Coles (1997)
team ratings::

    λ_s(t) = base_s · g(t) · score_s · red_s

* ``base_s`` — the team's level rate, calibrated so that the pre-match expectation of the
  model (with everything below) equals ``league_goals_s × attack_s × defence_opponent``.
  ``league_goals`` are the league's average goals of a home and of an away team per match:
  1.55 and 1.22 by default (the top five European leagues of the 2010s score ~2.75 a match,
  the home side ~56 % of it). Home advantage is their ratio (~1.27). ``Team.attack`` and
  ``Team.defence`` are multiplicative ratings, 1.0 the league average (top-league teams run
  from ~0.6 to ~1.8 in attack and ~0.5 to ~1.6 in defence, where below 1 concedes less).
* ``g(t) = 1 + trend · (t − 45) / 45`` with ``t`` the match minute (stoppage time at the
  rate of the half's last minute): goals come more often as a match goes on (Dixon &
  Robinson's linear increase). ``trend`` 0.2 puts ~44 % of goals in the first half and makes
  the last quarter hour ~1.4× the first, as top-league minute tables show.
* ``score_s`` — a trailing team attacks more, a leading team less: ×(1 + 0.12) per goal
  behind and ×(1 − 0.10) per goal ahead, counted up to two (the order of the
  score-dependent effects Dixon & Robinson estimate).
* ``red_s`` — a side down to ten scores at ×0.67 of its rate and its opponent at ×1.25,
  per man of difference (Vecer, Kopriva & Ichiba 2009, "Estimating the effect of the red
  card in soccer", JQAS 5(1)).

Incidents
=========

Goals do not come out of nowhere. Every open-play goal ends a **dangerous attack** (a short
bet stop: the provider's "possible goal"); dangerous attacks arrive at rate
``λ_s · (1 − penalty_share) / attack_conversion`` and each ends in a goal with probability
``attack_conversion`` (0.10: ~25 such stops a match — "dangerous attack" is each
provider's own notion, so this is a choice of how often the feed stops, not a league
figure), so open-play goals are exactly the thinned process ``λ_s · (1 − penalty_share)``.
**Penalties** are awarded at ``λ_s · penalty_share / penalty_conversion`` and scored with
``penalty_conversion`` (0.76, the long-run conversion in top leagues), so 8 % of goals are
penalties (~0.29 awarded a match).
**Yellow cards** come at 1.9 per team per match, **red cards** at 0.04 straight reds per team
per match plus second yellows at 3 % of the yellow rate (≈0.1 reds per team); cards rise
steeply through a match (``card_trend`` 0.6: 35 % of cards in the first half). A side has at
most three players sent off.

A dangerous attack, a penalty (award to kick), a goal (celebration, check, kick-off) and a red
card stop play for a while (``*_pause_s``, uniform); no incident happens while play is
stopped, so intensities are per minute of live play, the clock runs on, and prices are not
offered (the stoppage is the bet stop's cause). Pricing accounts for the stoppages: with
``R`` the expected stopped minutes per live minute at ``g = 1``
(``Σ_s rate_s × mean pause``), a renewal argument gives the live share of clock time as
``1 / (1 + g(t)·R)`` (~0.91 with the defaults).

Each half lasts 45 minutes plus added time, announced at the 45th/90th minute:
``round(base + 0.5 × incidents of the half + N(0, 0.8))`` minutes with base 1 and 3 (each
goal, penalty and card "adds 30 seconds"), at least 1, and the referee's watch adds up to
45 s more. A half does not end while a dangerous attack or a penalty is being played out.
Half time lasts 15 minutes of the (accelerated) real time the simulation is stepped in.

Prices
======

Remaining goals of each team are independent Poisson variables with mean
``Λ_s = base_s · score_s · red_s · ∫ g(u) / (1 + g(u)·R) du`` over the remaining clock (the
expected added time until it is announced), i.e. the current score and men are held for the
rest of the match — the standard in-play Poisson approximation (the simulation itself lets the
score effect move with every goal, so the prices are the trader's model, not an oracle). The
distributions are truncated where the tail is below 1e-12 and renormalised. From them:

* ``mw`` — P(home ahead / level / away ahead at the end), by convolution with the score;
* ``ou15/25/35`` — the total is Poisson(``Λ_h + Λ_a``) on top of the goals scored;
* ``ng<k>`` — who scores goal *k*: with proportional intensities the next goal is the home
  side's with probability ``Λ_h / Λ`` whenever it comes, so home, none and away are
  ``(1 − e^−Λ)·Λ_h/Λ``, ``e^−Λ``, ``(1 − e^−Λ)·Λ_a/Λ`` (for a later goal, the chance of
  reaching it times the same shares: indicative only, the market opens at its turn).

A price is ``1 / (p × (1 + margin))`` (the margin, 5 % by default, applied proportionally),
rounded *down* onto the ladder (never a better price than the model's), and at most the
ladder's top. A market with an outcome so likely that its price falls below the ladder's 1.01
cannot be priced coherently and is suspended (``near_certain``); a market whose outcome is
decided is resulted at once (over 1.5 with two goals in, goal *k* when it is scored).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from random import Random
from typing import Any

from domain.ladder import LADDER, MAX_PRICE, MIN_PRICE, format_price

DEFAULT_MARGIN = 0.05
TAIL = 1e-12  # probability mass left out of a truncated Poisson distribution


class Side(StrEnum):
    HOME = "home"
    AWAY = "away"

    @property
    def other(self) -> Side:
        return Side.AWAY if self is Side.HOME else Side.HOME

    @property
    def slot(self) -> int:
        return 0 if self is Side.HOME else 1


class Phase(StrEnum):
    NOT_STARTED = "not_started"
    FIRST_HALF = "first_half"
    HALF_TIME = "half_time"
    SECOND_HALF = "second_half"
    ENDED = "ended"


class Stoppage(StrEnum):
    """Why play (and with it every market) is stopped; the value is the bet stop's cause."""

    DANGEROUS_ATTACK = "dangerous_attack"
    PENALTY = "penalty"
    GOAL = "goal"
    RED_CARD = "red_card"


class IncidentKind(StrEnum):
    KICK_OFF = "kick_off"
    DANGEROUS_ATTACK = "dangerous_attack"
    ATTACK_OVER = "attack_over"  # a dangerous attack that did not end in a goal
    PENALTY_AWARDED = "penalty_awarded"
    PENALTY_MISSED = "penalty_missed"
    GOAL = "goal"  # detail: "open_play" or "penalty"
    YELLOW_CARD = "yellow_card"
    RED_CARD = "red_card"  # detail: "straight" or "second_yellow"
    PLAY_RESUMED = "play_resumed"  # after a goal's or a red card's stoppage
    ADDED_TIME = "added_time"  # detail: the announced minutes
    HALF_TIME = "half_time"
    SECOND_HALF = "second_half"
    FULL_TIME = "full_time"


class QuoteStatus(StrEnum):
    OFFERED = "offered"
    SUSPENDED = "suspended"
    RESULTED = "resulted"


# causes of a suspension that are not a stoppage of play
CAUSE_NOT_YET = "awaiting_previous_goal"  # goal k's market waits for goal k-1
CAUSE_NEAR_CERTAIN = "near_certain"  # an outcome too likely to price on the ladder


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True, slots=True)
class Team:
    """A team and its multiplicative ratings (1.0: the league average).

    ``attack`` scales the goals it scores, ``defence`` the goals it concedes (below 1 is a
    better defence).
    """

    name: str
    attack: float = 1.0
    defence: float = 1.0


@dataclass(frozen=True, slots=True)
class ModelParams:
    """The model's constants; the defaults are typical top-league figures (module docstring).

    Rates are "per team per match" and are turned into per-live-minute intensities by the
    calibration (``MatchModel.calibrated``); pauses are seconds, drawn uniformly in the range.
    """

    home_goals: float = 1.55  # league goals of a home team per match
    away_goals: float = 1.22  # ... of an away team (home advantage: the ratio)
    time_trend: float = 0.20  # g(t) = 1 + trend·(t − 45)/45 for goals
    card_trend: float = 0.60  # the same for cards
    trailing_boost: float = 0.12  # per goal behind (up to two)
    leading_damp: float = 0.10  # per goal ahead (up to two)
    red_card_own: float = 0.67  # a side a man down scores at this share of its rate
    red_card_opponent: float = 1.25  # ... and its opponent at this multiple
    penalty_share: float = 0.08  # share of goals that are penalties
    penalty_conversion: float = 0.76
    attack_conversion: float = 0.10  # share of dangerous attacks that end in a goal
    yellows_per_team: float = 1.9
    straight_reds_per_team: float = 0.04
    second_yellow_share: float = 0.03  # share of yellows that are a player's second
    max_reds: int = 3  # a side keeps at least eight players
    attack_pause_s: tuple[float, float] = (6.0, 14.0)
    penalty_pause_s: tuple[float, float] = (60.0, 150.0)  # award, check, kick
    goal_pause_s: tuple[float, float] = (50.0, 100.0)  # celebration, check, kick-off
    red_card_pause_s: tuple[float, float] = (40.0, 90.0)
    added_base_min: tuple[float, float] = (1.0, 3.0)  # first and second half
    added_per_incident_min: float = 0.5  # per goal, penalty and card of the half
    added_sd_min: float = 0.8
    added_extra_s: float = 45.0  # the referee's watch: up to this past the announced time
    half_time_break_s: float = 900.0


def _mean(bounds: tuple[float, float]) -> float:
    return (bounds[0] + bounds[1]) / 2


# ---------------------------------------------------------------- the state of a match


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything prices depend on: phase, clock, score, cards, added time, a stoppage.

    ``minute`` is the match clock (continuous; 45.0 through half time; over 45/90 in added
    time); ``added`` the current half's announced added minutes (None before the
    announcement); ``half_incidents`` the goals, penalties and cards of the current half.
    Pairs are (home, away).
    """

    phase: Phase = Phase.NOT_STARTED
    minute: float = 0.0
    goals: tuple[Side, ...] = ()
    reds: tuple[int, int] = (0, 0)
    yellows: tuple[int, int] = (0, 0)
    added: float | None = None
    half_incidents: int = 0
    stoppage: Stoppage | None = None

    @property
    def half(self) -> int:
        return 1 if self.phase in (Phase.NOT_STARTED, Phase.FIRST_HALF) else 2

    @property
    def score(self) -> tuple[int, int]:
        home = sum(1 for s in self.goals if s is Side.HOME)
        return home, len(self.goals) - home

    @property
    def score_text(self) -> str:
        home, away = self.score
        return f"{home}-{away}"

    @property
    def in_play(self) -> bool:
        return self.phase in (Phase.FIRST_HALF, Phase.SECOND_HALF)


@dataclass(frozen=True, slots=True)
class Incident:
    """Something that happened: at ``at_s`` seconds after kick-off (half time included), by
    ``side`` (None for the referee's), with the situation right after it."""

    kind: IncidentKind
    at_s: float
    side: Side | None
    after: Situation
    detail: str = ""


# ---------------------------------------------------------------- the calibrated model


def profile(minute: float, half: int, trend: float) -> float:
    """g(t): the time profile of an intensity, mean 1 over the 90 minutes; added time is
    played at the rate of the half's last minute."""
    return 1.0 + trend * (min(minute, 45.0 * half) - 45.0) / 45.0


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of remaining clock, all in one half and on one side of its 45th/90th
    minute (so every profile is linear on it)."""

    start: float
    end: float
    half: int

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True, slots=True)
class LevelRates:
    """Per-live-minute intensities of one side at g = 1 in the current situation."""

    goals: float
    attacks: float
    penalties: float
    yellows: float
    straight_reds: float
    second_yellows: float

    @property
    def reds(self) -> float:
        return self.straight_reds + self.second_yellows


@dataclass(frozen=True, slots=True)
class MatchModel:
    """Two teams, the parameters and the calibrated level intensities (per live minute at
    g = 1, level score, eleven against eleven)."""

    home: Team
    away: Team
    params: ModelParams
    home_rate: float
    away_rate: float
    yellow_rate: float
    red_rate: float

    @classmethod
    def calibrated(cls, home: Team, away: Team, params: ModelParams | None = None
                   ) -> MatchModel:
        """The model whose pre-match expectations are the teams' target goals and the
        league's card counts (a fixed point: stoppages and added time depend on the rates;
        it converges ~10× an iteration). Memoised: values in, value out."""
        return _calibrate(home, away, params or ModelParams())

    # ----------------------------------------------------------- intensities

    def level_rates(self, sit: Situation, side: Side) -> LevelRates:
        """The side's intensities at g = 1, with the score and red-card effects."""
        return self.side_rates(sit)[side.slot]

    def side_rates(self, sit: Situation) -> tuple[LevelRates, LevelRates]:
        """(home, away) level rates in ``sit``."""
        home, away = sit.score
        (red_h, red_a) = sit.reds
        return (self._level(self.home_rate, home - away, red_a - red_h, red_h),
                self._level(self.away_rate, away - home, red_h - red_a, red_a))

    def _level(self, base: float, lead: int, men_up: int, reds: int) -> LevelRates:
        p = self.params
        goals = base * self.score_factor(lead) * self.red_factor(men_up)
        can_be_sent_off = reds < p.max_reds
        return LevelRates(
            goals=goals,
            attacks=goals * (1 - p.penalty_share) / p.attack_conversion,
            penalties=goals * p.penalty_share / p.penalty_conversion,
            yellows=self.yellow_rate,
            straight_reds=self.red_rate if can_be_sent_off else 0.0,
            second_yellows=self.yellow_rate * p.second_yellow_share if can_be_sent_off
            else 0.0)

    def score_factor(self, lead: int) -> float:
        """×(1 + trailing_boost) per goal behind, ×(1 − leading_damp) per goal ahead (≤ 2)."""
        if lead < 0:
            return float((1 + self.params.trailing_boost) ** min(-lead, 2))
        return float((1 - self.params.leading_damp) ** min(lead, 2))

    def red_factor(self, men_up: int) -> float:
        """×red_card_own per man down, ×red_card_opponent per man up."""
        if men_up < 0:
            return float(self.params.red_card_own ** -men_up)
        return float(self.params.red_card_opponent ** men_up)

    def goal_rates(self, sit: Situation) -> tuple[float, float]:
        """(home, away) goals per live minute now: the level rates times g(minute)."""
        g = profile(sit.minute, sit.half, self.params.time_trend)
        home, away = self.side_rates(sit)
        return home.goals * g, away.goals * g

    def pause_load(self, rates: Sequence[LevelRates]) -> float:
        """R: expected stopped minutes per live minute at g = 1 (live share 1 / (1 + g·R))."""
        p = self.params
        return sum(r.attacks * _mean(p.attack_pause_s) + r.goals * _mean(p.goal_pause_s)
                   + r.penalties * _mean(p.penalty_pause_s) + r.reds * _mean(p.red_card_pause_s)
                   for r in rates) / 60.0

    # ----------------------------------------------------------- the remaining clock

    def expected_added(self, sit: Situation, half: int, rates: Sequence[LevelRates]) -> float:
        """Expected added minutes of ``half`` (the referee's watch included): announced,
        or its base plus 30 s per incident so far and per incident still expected (goals,
        penalties and cards, at g = 1)."""
        p = self.params
        extra = p.added_extra_s / 2 / 60
        if sit.half == half and sit.added is not None:
            return sit.added + extra
        current = sit.half == half and sit.in_play
        known = sit.half_incidents if current else 0
        rest = max(0.0, 45.0 * half - (sit.minute if current else 45.0 * (half - 1)))
        per_minute = sum(r.goals + r.penalties + r.yellows + r.reds for r in rates)
        return (p.added_base_min[half - 1] + p.added_per_incident_min
                * (known + per_minute * rest) + extra)

    def remaining(self, sit: Situation, rates: Sequence[LevelRates] | None = None
                  ) -> tuple[Segment, ...]:
        """The clock still to play (the expected added time), split at the regulation ends."""
        if sit.phase is Phase.ENDED:
            return ()
        rates = self.side_rates(sit) if rates is None else rates
        second = self._half_segments(sit, 2, 45.0, rates)
        if sit.phase is Phase.NOT_STARTED:
            return self._half_segments(sit, 1, 0.0, rates) + second
        if sit.phase is Phase.FIRST_HALF:
            return self._half_segments(sit, 1, sit.minute, rates) + second
        if sit.phase is Phase.HALF_TIME:
            return second
        return self._half_segments(sit, 2, sit.minute, rates)

    def _half_segments(self, sit: Situation, half: int, start: float,
                       rates: Sequence[LevelRates]) -> tuple[Segment, ...]:
        regulation_end = 45.0 * half
        end = regulation_end + self.expected_added(sit, half, rates)
        if start >= regulation_end:
            return (Segment(start, max(start, end), half),)
        return (Segment(start, regulation_end, half), Segment(regulation_end, end, half))

    def exposure(self, sit: Situation, rates: Sequence[LevelRates] | None = None) -> float:
        """∫ g(u) / (1 + g(u)·R) du over the remaining clock: remaining goals are
        ``level rate × exposure``."""
        rates = self.side_rates(sit) if rates is None else rates
        load = self.pause_load(rates)
        trend = self.params.time_trend
        return sum(_live_integral(profile(s.start, s.half, trend), profile(s.end, s.half, trend),
                                  s.length, load) for s in self.remaining(sit, rates))

    def exposures(self, sit: Situation) -> tuple[float, float]:
        """The goals' exposure and the cards' (their own profile, the live share of the
        clock taken at its average over the rest of the match)."""
        rates = self.side_rates(sit)
        trend, card_trend = self.params.time_trend, self.params.card_trend
        segments = self.remaining(sit, rates)
        goals = self.exposure(sit, rates)
        plain = sum(s.length * (profile(s.start, s.half, trend) + profile(s.end, s.half, trend))
                    / 2 for s in segments)
        cards = sum(s.length * (profile(s.start, s.half, card_trend)
                                + profile(s.end, s.half, card_trend)) / 2 for s in segments)
        return goals, cards * goals / plain if plain > 0 else 0.0

    def expected_remaining(self, sit: Situation) -> tuple[float, float]:
        """(Λ_home, Λ_away): expected goals of each side over the rest of the match."""
        home, away = rates = self.side_rates(sit)
        exposure = self.exposure(sit, rates)
        return home.goals * exposure, away.goals * exposure

    def expected_goals(self) -> tuple[float, float]:
        """The pre-match expectation (the calibration's targets)."""
        return self.expected_remaining(Situation())


@lru_cache(maxsize=1024)
def _calibrate(home: Team, away: Team, p: ModelParams) -> MatchModel:
    target_h = p.home_goals * home.attack * away.defence
    target_a = p.away_goals * away.attack * home.defence
    model = MatchModel(home, away, p, target_h / 95, target_a / 95, p.yellows_per_team / 95,
                       p.straight_reds_per_team / 95)
    start = Situation()
    for _ in range(50):
        goal_exposure, card_exposure = model.exposures(start)
        previous = model.home_rate
        model = replace(model, home_rate=target_h / goal_exposure,
                        away_rate=target_a / goal_exposure,
                        yellow_rate=p.yellows_per_team / card_exposure,
                        red_rate=p.straight_reds_per_team / card_exposure)
        if abs(model.home_rate - previous) <= 1e-12 * previous:
            break
    return model


def _live_integral(g0: float, g1: float, length: float, load: float) -> float:
    """∫ g/(1 + R·g) du over ``length`` minutes where g runs linearly from g0 to g1:
    ``(L/R)·(1 − ln((1 + R·g1)/(1 + R·g0)) / (R·(g1 − g0)))``."""
    if length <= 0:
        return 0.0
    if load < 1e-12:
        return length * (g0 + g1) / 2
    dg = g1 - g0
    if abs(dg) < 1e-9:
        return length * g0 / (1 + load * g0)
    return length / load * (1 - math.log((1 + load * g1) / (1 + load * g0)) / (load * dg))


# ---------------------------------------------------------------- markets


@dataclass(frozen=True, slots=True)
class MarketDef:
    """One market of the event: ``kind`` "mw", "ou" (``line`` goals) or "ng" (goal ``line``)."""

    market_id: str
    kind: str
    line: int
    selections: tuple[str, ...]


OU_LINES = (1, 2, 3)  # over/under 1.5, 2.5, 3.5
NEXT_GOALS = (1, 2, 3, 4, 5)
MARKETS: tuple[MarketDef, ...] = (
    MarketDef("mw", "mw", 0, ("home", "draw", "away")),
    *(MarketDef(f"ou{n}5", "ou", n, ("over", "under")) for n in OU_LINES),
    *(MarketDef(f"ng{k}", "ng", k, ("home", "none", "away")) for k in NEXT_GOALS),
)
MARKET_IDS: tuple[str, ...] = tuple(m.market_id for m in MARKETS)


def market_name(market: MarketDef) -> str:
    if market.kind == "mw":
        return "Match result"
    if market.kind == "ou":
        return f"Over/under {market.line}.5 goals"
    return f"Goal {market.line}"


def selection_name(market: MarketDef, selection_id: str, home: str, away: str) -> str:
    if selection_id in ("home", "away"):
        return home if selection_id == "home" else away
    if selection_id == "draw":
        return "Draw"
    if selection_id in ("over", "under"):
        return f"{selection_id.title()} {market.line}.5"
    return f"No goal {market.line}"


def winners(market: MarketDef, sit: Situation) -> tuple[str, ...] | None:
    """The market's winning selection once it is decided (always at full time), else None."""
    home, away = sit.score
    total = home + away
    ended = sit.phase is Phase.ENDED
    if market.kind == "mw":
        if not ended:
            return None
        return ("home",) if home > away else ("away",) if away > home else ("draw",)
    if market.kind == "ou":
        if total > market.line:
            return ("over",)
        return ("under",) if ended else None
    if total >= market.line:
        return (sit.goals[market.line - 1].value,)
    return ("none",) if ended else None


# ---------------------------------------------------------------- probabilities


def poisson_pmf(mean: float) -> tuple[float, ...]:
    """P(N = 0..n) for N ~ Poisson(mean), cut where the tail is below TAIL, renormalised."""
    if mean <= 0:
        return (1.0,)
    p = math.exp(-mean)
    probs = [p]
    total, k = p, 0
    while (k < mean or 1 - total > TAIL) and k < 60:
        k += 1
        p *= mean / k
        probs.append(p)
        total += p
    return tuple(x / total for x in probs)


def _cdf(pmf: Sequence[float], k: int) -> float:
    """P(N ≤ k)."""
    if k < 0:
        return 0.0
    return min(1.0, sum(pmf[: k + 1]))


def _result_probs(home: Sequence[float], away: Sequence[float], lead: int
                  ) -> dict[str, float]:
    """Home/draw/away at the end given the home side's current ``lead``."""
    cum, acc = [], 0.0
    for p in away:
        acc += p
        cum.append(acc)
    win = draw = 0.0
    for i, p in enumerate(home):
        k = lead + i  # home's final margin before the away side's remaining goals
        if k > 0:
            win += p * (cum[min(k - 1, len(cum) - 1)])
        if 0 <= k < len(away):
            draw += p * away[k]
    win, draw = min(win, 1.0), min(draw, 1.0)
    return {"home": win, "draw": draw, "away": max(0.0, 1.0 - win - draw)}


def fair_probabilities(model: MatchModel, sit: Situation) -> dict[str, dict[str, float]]:
    """The model's probabilities of every market not yet decided (goal markets after the
    next one included, as the chance of reaching that goal times the sides' shares)."""
    lam_h, lam_a = model.expected_remaining(sit)
    lam = lam_h + lam_a
    total_pmf = poisson_pmf(lam)
    home, away = sit.score
    scored = home + away
    share = lam_h / lam if lam > 0 else 0.5
    out: dict[str, dict[str, float]] = {}
    for market in MARKETS:
        if winners(market, sit) is not None:
            continue
        if market.kind == "mw":
            out[market.market_id] = _result_probs(poisson_pmf(lam_h), poisson_pmf(lam_a),
                                                   home - away)
        elif market.kind == "ou":
            under = _cdf(total_pmf, market.line - scored)
            out[market.market_id] = {"over": 1.0 - under, "under": under}
        else:
            reach = 1.0 - _cdf(total_pmf, market.line - scored - 1)
            out[market.market_id] = {"home": reach * share, "none": 1.0 - reach,
                                     "away": reach * (1.0 - share)}
    return out


# ---------------------------------------------------------------- prices


Prices = tuple[tuple[str, Decimal], ...]
_FLOAT_LADDER = tuple(float(p) for p in LADDER)


def ladder_floor(raw: float) -> Decimal | None:
    """The highest ladder price at or below ``raw`` (the top of the ladder above it), or None
    when ``raw`` is below the ladder's first price."""
    if raw >= float(MAX_PRICE):
        return MAX_PRICE
    index = bisect_right(_FLOAT_LADDER, raw) - 1
    if index >= 0 and Decimal(raw) < LADDER[index]:  # the float of a price may round up
        index -= 1
    return LADDER[index] if index >= 0 else None


def price_market(probs: Mapping[str, float], margin: float) -> Prices | None:
    """Prices ``1 / (p·(1 + margin))`` rounded down onto the ladder, or None when one of
    them falls below its first price (the market cannot be priced coherently)."""
    prices = []
    for selection_id, p in sorted(probs.items()):
        implied = p * (1 + margin)
        price = MAX_PRICE if implied <= 0 else ladder_floor(1 / implied)
        if price is None:
            return None
        prices.append((selection_id, price))
    return tuple(prices)


def indicative_prices(probs: Mapping[str, float], margin: float) -> Prices:
    """``price_market`` with prices below the ladder raised to its first price: for a
    market that is not offered but must name prices (an event's definition)."""
    prices = []
    for selection_id, p in sorted(probs.items()):
        implied = p * (1 + margin)
        price = MAX_PRICE if implied <= 0 else ladder_floor(1 / implied)
        prices.append((selection_id, MIN_PRICE if price is None else price))
    return tuple(prices)


@dataclass(frozen=True, slots=True)
class Quote:
    """What the book should show of one market: prices offered, a suspension and its
    cause, or the result."""

    market_id: str
    status: QuoteStatus
    prices: Prices = ()
    cause: str = ""
    winners: tuple[str, ...] = ()


def quotes(model: MatchModel, sit: Situation, margin: float = DEFAULT_MARGIN
           ) -> dict[str, Quote]:
    """Every market's quote in ``sit``. Precedence: a decided market is resulted; goal *k*'s
    market waits for goal *k − 1*; a stoppage suspends the rest; a market that cannot be
    priced coherently is suspended; the others are offered."""
    probs = fair_probabilities(model, sit) if sit.phase is not Phase.ENDED else {}
    out: dict[str, Quote] = {}
    for market in MARKETS:
        out[market.market_id] = _quote(market, sit, probs, margin)
    return out


def _quote(market: MarketDef, sit: Situation, probs: Mapping[str, Mapping[str, float]],
           margin: float) -> Quote:
    mid = market.market_id
    won = winners(market, sit)
    if won is not None:
        return Quote(mid, QuoteStatus.RESULTED, winners=won)
    if market.kind == "ng" and len(sit.goals) < market.line - 1:
        return Quote(mid, QuoteStatus.SUSPENDED, cause=CAUSE_NOT_YET)
    if sit.stoppage is not None:
        return Quote(mid, QuoteStatus.SUSPENDED, cause=sit.stoppage.value)
    prices = price_market(probs[mid], margin)
    if prices is None:
        return Quote(mid, QuoteStatus.SUSPENDED, cause=CAUSE_NEAR_CERTAIN)
    return Quote(mid, QuoteStatus.OFFERED, prices=prices)


def event_definition(model: MatchModel, event_id: str, starts_at: str, *,
                     margin: float = DEFAULT_MARGIN, in_play_delay_s: float = 5.0
                     ) -> dict[str, Any]:
    """The body of ``POST /v1/ops/events`` for the match: every market with its pre-match
    prices (indicative ones for the markets not offered before kick-off)."""
    home, away = model.home.name, model.away.name
    probs = fair_probabilities(model, Situation())
    markets = []
    for market in MARKETS:
        prices = dict(indicative_prices(probs[market.market_id], margin))
        markets.append({
            "market_id": market.market_id, "name": market_name(market),
            "in_play_delay_s": in_play_delay_s,
            "selections": [{"selection_id": s, "name": selection_name(market, s, home, away),
                            "price": format_price(prices[s])} for s in market.selections],
        })
    return {"event_id": event_id, "name": f"{home} v {away}", "sport": "soccer",
            "starts_at": starts_at, "markets": markets}


# ---------------------------------------------------------------- teams


_TOWNS = ("Ashford", "Belmont", "Carrow", "Dunmore", "Eastvale", "Fairhaven", "Glenbrook",
          "Harrowgate", "Ironbridge", "Kingsmere", "Lowfield", "Marlow", "Northam", "Oakridge",
          "Portland", "Queensbury", "Riverside", "Stonehill", "Thornbury", "Westwood")
_SUFFIXES = ("United", "City", "Rovers", "Athletic", "Town", "Wanderers", "Albion", "FC")


def random_fixture(rng: Random) -> tuple[Team, Team]:
    """Two distinct teams with log-normal ratings of mean 1 (σ 0.22 attack, 0.18 defence:
    the spread of a top league)."""
    towns = rng.sample(_TOWNS, 2)
    teams = []
    for town in towns:
        attack = math.exp(rng.gauss(-0.22**2 / 2, 0.22))
        defence = math.exp(rng.gauss(-0.18**2 / 2, 0.18))
        teams.append(Team(f"{town} {rng.choice(_SUFFIXES)}", round(attack, 3),
                          round(defence, 3)))
    return teams[0], teams[1]


# ---------------------------------------------------------------- the simulation


class Match:
    """One match, simulated: ``step(seconds)`` plays on and returns what happened.

    Time is seconds since kick-off (half time included); the first step kicks off. The
    simulation is event-driven (next incident by thinning against a bound on the
    intensities, redrawn at every change), so the same seed gives the same incidents at the
    same times however the time is cut into steps.
    """

    def __init__(self, home: Team, away: Team, seed: int, *,
                 params: ModelParams | None = None, margin: float = DEFAULT_MARGIN) -> None:
        self.model = MatchModel.calibrated(home, away, params)
        self.params = self.model.params
        self.margin = margin
        self.seed = seed
        self._rng = Random(seed)
        self._sit = Situation()
        self._time = 0.0
        self._half_start = 0.0
        self._half_end: float | None = None  # once the added time is announced
        self._second_half_at: float | None = None
        self._candidate: float | None = None  # the next candidate incident (thinning)
        self._bound = 0.0  # the intensity bound it was drawn with
        self._resume_at: float | None = None  # the end of the current stoppage
        self._stopped_by: Side | None = None  # whose attack or penalty it is
        # the level rates of the current score and cards (they only change with them)
        self._levels: tuple[tuple[int, tuple[int, int]], tuple[LevelRates, LevelRates]] | None
        self._levels = None
        self._bounds: tuple[tuple[int, tuple[int, int], int] | None, float] = (None, 0.0)

    @property
    def situation(self) -> Situation:
        """The state now (``_sit`` keeps everything but the running clock)."""
        sit, minute = self._sit, self._minute()
        if minute == sit.minute:
            return sit
        return Situation(sit.phase, minute, sit.goals, sit.reds, sit.yellows, sit.added,
                         sit.half_incidents, sit.stoppage)  # replace(), 2× faster

    @property
    def time_s(self) -> float:
        return self._time

    @property
    def finished(self) -> bool:
        return self._sit.phase is Phase.ENDED

    def quotes(self) -> dict[str, Quote]:
        return quotes(self.model, self.situation, self.margin)

    def probabilities(self) -> dict[str, dict[str, float]]:
        return fair_probabilities(self.model, self.situation)

    # ----------------------------------------------------------- stepping

    def step(self, seconds: float) -> list[Incident]:
        """Play ``seconds`` on; the incidents in order (kick-off on the first step)."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("a step is a finite, non-negative number of seconds")
        out: list[Incident] = []
        end = self._time + seconds
        if self._sit.phase is Phase.NOT_STARTED:
            self._kick_off(out)
        while not self.finished:
            happening = self._next_happening()
            if happening is None or happening[0] > end:
                break
            self._time = happening[0]
            happening[2](out)
        self._time = max(end, self._time)
        return out

    def _next_happening(self) -> tuple[float, int, Callable[[list[Incident]], None]] | None:
        """The earliest scheduled happening: (time, tie-break order, action)."""
        sit = self._sit
        options: list[tuple[float, int, Callable[[list[Incident]], None]]] = []
        if sit.phase is Phase.HALF_TIME and self._second_half_at is not None:
            options.append((self._second_half_at, 0, self._start_second_half))
        if sit.in_play:
            if self._resume_at is not None:
                options.append((self._resume_at, 0, self._resolve))
            elif self._candidate is not None:
                options.append((self._candidate, 2, self._try_incident))
            if sit.added is None:
                options.append((self._half_start + 2700.0, 1, self._announce))
            elif self._half_end is not None and sit.stoppage not in (
                    Stoppage.DANGEROUS_ATTACK, Stoppage.PENALTY):
                options.append((max(self._half_end, self._time), 3, self._end_half))
        return min(options, key=lambda o: (o[0], o[1])) if options else None

    def _minute(self) -> float:
        """The match clock: it runs in the halves, and stands before, between and after."""
        if self._sit.phase is Phase.FIRST_HALF:
            return self._time / 60.0
        if self._sit.phase is Phase.SECOND_HALF:
            return 45.0 + (self._time - self._half_start) / 60.0
        return self._sit.minute

    def _emit(self, out: list[Incident], kind: IncidentKind, side: Side | None = None,
              detail: str = "") -> None:
        out.append(Incident(kind, self._time, side, self.situation, detail))

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return self._rng.uniform(bounds[0], bounds[1])

    # ----------------------------------------------------------- live play

    def _go_live(self) -> None:
        """Play is live: draw the next candidate against the bound of the half."""
        if self._sit.stoppage is not None:
            self._sit = replace(self._sit, stoppage=None)
        self._resume_at = self._stopped_by = None
        key = (len(self._sit.goals), self._sit.reds, self._sit.half)
        if self._bounds[0] != key:
            self._bounds = (key, sum(rate for _, _, rate, _ in self._rates(bound=True)))
        self._bound = self._bounds[1]
        gap_min = self._rng.expovariate(self._bound) if self._bound > 0 else math.inf
        self._candidate = self._time + gap_min * 60.0

    def _rates(self, bound: bool = False) -> list[tuple[IncidentKind, Side, float, str]]:
        """Incident intensities per minute now (or their bound over the rest of the half)."""
        sit, p = self._sit, self.params
        minute = 45.0 * sit.half if bound else self._minute()
        g = profile(minute, sit.half, p.time_trend)
        g_card = profile(minute, sit.half, p.card_trend)
        key = (len(sit.goals), sit.reds)
        if self._levels is None or self._levels[0] != key:
            self._levels = (key, self.model.side_rates(sit))
        out = []
        for side, r in zip(Side, self._levels[1], strict=True):
            out += [(IncidentKind.DANGEROUS_ATTACK, side, r.attacks * g, ""),
                    (IncidentKind.PENALTY_AWARDED, side, r.penalties * g, ""),
                    (IncidentKind.YELLOW_CARD, side, r.yellows * g_card, ""),
                    (IncidentKind.RED_CARD, side, r.straight_reds * g_card, "straight"),
                    (IncidentKind.RED_CARD, side, r.second_yellows * g_card, "second_yellow")]
        return out

    def _try_incident(self, out: list[Incident]) -> None:
        """A candidate: accepted with probability rate/bound, the kind by its share."""
        u = self._rng.random() * self._bound
        for kind, side, rate, detail in self._rates():
            if u < rate:
                self._incident(kind, side, detail, out)
                return
            u -= rate
        self._go_live()  # rejected: draw again

    def _incident(self, kind: IncidentKind, side: Side, detail: str,
                  out: list[Incident]) -> None:
        if kind is IncidentKind.DANGEROUS_ATTACK:
            self._stop(Stoppage.DANGEROUS_ATTACK, side, self.params.attack_pause_s)
            self._emit(out, kind, side)
        elif kind is IncidentKind.PENALTY_AWARDED:
            self._count()
            self._stop(Stoppage.PENALTY, side, self.params.penalty_pause_s)
            self._emit(out, kind, side)
        elif kind is IncidentKind.YELLOW_CARD:
            self._yellow(side, out)
        else:
            self._red(side, detail, out)

    def _stop(self, cause: Stoppage, side: Side, pause: tuple[float, float]) -> None:
        self._sit = replace(self._sit, stoppage=cause)
        self._candidate = None
        self._stopped_by = side
        self._resume_at = self._time + self._uniform(pause)

    def _count(self) -> None:
        self._sit = replace(self._sit, half_incidents=self._sit.half_incidents + 1)

    def _yellow(self, side: Side, out: list[Incident]) -> None:
        self._sit = replace(self._sit, yellows=_plus(self._sit.yellows, side))
        self._count()
        self._emit(out, IncidentKind.YELLOW_CARD, side)
        self._go_live()

    def _red(self, side: Side, detail: str, out: list[Incident]) -> None:
        """A sending-off (a second yellow counts as a yellow too); play stops."""
        if detail == "second_yellow":
            self._sit = replace(self._sit, yellows=_plus(self._sit.yellows, side))
        self._sit = replace(self._sit, reds=_plus(self._sit.reds, side))
        self._count()
        self._stop(Stoppage.RED_CARD, side, self.params.red_card_pause_s)
        self._emit(out, IncidentKind.RED_CARD, side, detail)

    def _resolve(self, out: list[Incident]) -> None:
        """The end of a stoppage: an attack or a penalty is decided; play resumes."""
        cause, side = self._sit.stoppage, self._stopped_by
        assert side is not None
        if cause is Stoppage.DANGEROUS_ATTACK:
            if self._rng.random() < self.params.attack_conversion:
                self._goal(side, "open_play", out)
                return
            self._go_live()
            self._emit(out, IncidentKind.ATTACK_OVER, side)
        elif cause is Stoppage.PENALTY:
            if self._rng.random() < self.params.penalty_conversion:
                self._goal(side, "penalty", out)
                return
            self._go_live()
            self._emit(out, IncidentKind.PENALTY_MISSED, side)
        else:
            self._go_live()
            self._emit(out, IncidentKind.PLAY_RESUMED, side)

    def _goal(self, side: Side, detail: str, out: list[Incident]) -> None:
        self._sit = replace(self._sit, goals=(*self._sit.goals, side))
        self._count()
        self._stop(Stoppage.GOAL, side, self.params.goal_pause_s)
        self._emit(out, IncidentKind.GOAL, side, detail)

    # ----------------------------------------------------------- the referee's clock

    def _kick_off(self, out: list[Incident]) -> None:
        self._sit = replace(self._sit, phase=Phase.FIRST_HALF, minute=0.0)
        self._half_start = self._time
        self._emit(out, IncidentKind.KICK_OFF)
        self._go_live()

    def _announce(self, out: list[Incident]) -> None:
        """Added time at the 45th/90th minute: base + 30 s per incident + noise, ≥ 1."""
        p, sit = self.params, self._sit
        mean = p.added_base_min[sit.half - 1] + p.added_per_incident_min * sit.half_incidents
        added = float(max(1, round(mean + self._rng.gauss(0.0, p.added_sd_min))))
        self._half_end = (self._half_start + (45.0 + added) * 60.0
                          + self._rng.uniform(0.0, p.added_extra_s))
        self._sit = replace(sit, added=added)
        self._emit(out, IncidentKind.ADDED_TIME, detail=f"{added:g}")

    def _end_half(self, out: list[Incident]) -> None:
        first = self._sit.phase is Phase.FIRST_HALF
        self._candidate = self._resume_at = self._stopped_by = None
        self._half_end = None
        if first:
            self._second_half_at = self._time + self.params.half_time_break_s
            self._sit = replace(self._sit, phase=Phase.HALF_TIME, minute=45.0, stoppage=None,
                                added=None)
            self._emit(out, IncidentKind.HALF_TIME)
        else:
            self._sit = replace(self._sit, phase=Phase.ENDED, minute=self._minute(),
                                stoppage=None)
            self._emit(out, IncidentKind.FULL_TIME)

    def _start_second_half(self, out: list[Incident]) -> None:
        self._half_start = self._time
        self._second_half_at = None
        self._sit = replace(self._sit, phase=Phase.SECOND_HALF, minute=45.0, added=None,
                            half_incidents=0)
        self._emit(out, IncidentKind.SECOND_HALF)
        self._go_live()


def _plus(pair: tuple[int, int], side: Side) -> tuple[int, int]:
    return (pair[0] + 1, pair[1]) if side is Side.HOME else (pair[0], pair[1] + 1)
