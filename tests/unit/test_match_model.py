"""The football match model (domain/match.py): pure, no Ray, no Redis."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ladder import LADDER, MAX_PRICE, is_on_ladder
from domain.match import (
    CAUSE_NEAR_CERTAIN,
    CAUSE_NOT_YET,
    MARKET_IDS,
    MARKETS,
    Incident,
    IncidentKind,
    Match,
    MatchModel,
    Phase,
    Quote,
    QuoteStatus,
    Side,
    Situation,
    Stoppage,
    Team,
    event_definition,
    fair_probabilities,
    poisson_pmf,
    price_market,
    quotes,
)
from serve_apps.models import EventIn

HOME, AWAY = Team("Home"), Team("Away")
MODEL = MatchModel.calibrated(HOME, AWAY)
FULL_MATCH_S = 10_000.0  # more than any match lasts, half time included


def incidents_of(match: Match, steps: list[float]) -> list[Incident]:
    out: list[Incident] = []
    for seconds in steps:
        out += match.step(seconds)
    return out


def fingerprint(incidents: list[Incident]) -> list[tuple[str, float, str | None, str, str]]:
    return [(i.kind.value, round(i.at_s, 6), i.side and i.side.value, i.detail,
             i.after.score_text) for i in incidents]


def next_up(price: Decimal) -> Decimal | None:
    """The ladder's next price above ``price`` (None at the top)."""
    i = LADDER.index(price)
    return LADDER[i + 1] if i + 1 < len(LADDER) else None


def assert_coherent(quote: Quote, margin: float) -> None:
    """Every price on the ladder; Σ 1/price is 1 + margin up to the ladder's rounding:
    the prices were rounded down, so Σ 1/price ≥ 1 + margin > Σ 1/(next price up)."""
    assert quote.status is QuoteStatus.OFFERED
    prices = [p for _, p in quote.prices]
    assert all(is_on_ladder(p) for p in prices), quote
    book = sum(1 / float(p) for p in prices)
    ceiling = sum(0.0 if (up := next_up(p)) is None else 1 / float(up) for p in prices)
    assert book >= 1 + margin - 1e-9, quote
    assert ceiling < 1 + margin + 1e-9, quote
    assert book >= 1.0


def situation(phase: Phase, minute: float, goals: tuple[Side, ...] = (),
              reds: tuple[int, int] = (0, 0), *, added: float | None = None,
              stoppage: Stoppage | None = None) -> Situation:
    return Situation(phase=phase, minute=minute, goals=goals, reds=reds, added=added,
                     stoppage=stoppage)


# ---------------------------------------------------------------- reproducibility


def test_the_same_seed_gives_the_same_match_and_prices() -> None:
    a, b = Match(HOME, AWAY, seed=11), Match(HOME, AWAY, seed=11)
    for _ in range(300):
        assert fingerprint(a.step(30)) == fingerprint(b.step(30))
        assert a.quotes() == b.quotes()
    assert a.finished and b.finished


def test_different_seeds_give_different_matches() -> None:
    runs = {tuple(fingerprint(Match(HOME, AWAY, seed=s).step(FULL_MATCH_S))) for s in range(5)}
    assert len(runs) == 5


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32),
       steps=st.lists(st.floats(0, 900, allow_nan=False), min_size=1, max_size=40))
def test_how_time_is_cut_into_steps_changes_nothing(seed: int, steps: list[float]) -> None:
    whole = Match(HOME, AWAY, seed=seed)
    cut = Match(HOME, AWAY, seed=seed)
    done = sum(steps)
    assert fingerprint(incidents_of(cut, steps)) == fingerprint(whole.step(done))
    assert cut.situation == whole.situation
    assert fingerprint(cut.step(FULL_MATCH_S)) == fingerprint(whole.step(FULL_MATCH_S))


def test_a_step_is_never_negative() -> None:
    with pytest.raises(ValueError):
        Match(HOME, AWAY, seed=1).step(-1)


# ---------------------------------------------------------------- the course of a match


def test_a_match_runs_kick_off_to_full_time_with_added_time() -> None:
    match = Match(HOME, AWAY, seed=3)
    incidents = match.step(FULL_MATCH_S)
    kinds = [i.kind for i in incidents]
    order = [k for k in kinds if k in (IncidentKind.KICK_OFF, IncidentKind.ADDED_TIME,
                                       IncidentKind.HALF_TIME, IncidentKind.SECOND_HALF,
                                       IncidentKind.FULL_TIME)]
    assert order == [IncidentKind.KICK_OFF, IncidentKind.ADDED_TIME, IncidentKind.HALF_TIME,
                     IncidentKind.SECOND_HALF, IncidentKind.ADDED_TIME, IncidentKind.FULL_TIME]
    first_end = next(i for i in incidents if i.kind is IncidentKind.HALF_TIME)
    second = next(i for i in incidents if i.kind is IncidentKind.SECOND_HALF)
    assert second.at_s - first_end.at_s == pytest.approx(900.0)  # half time
    added = [float(i.detail) for i in incidents if i.kind is IncidentKind.ADDED_TIME]
    assert all(a >= 1 for a in added)
    assert 90 + added[1] <= match.situation.minute <= 90 + added[1] + 3  # the watch, a chance
    assert match.finished and kinds[-1] is IncidentKind.FULL_TIME


def test_every_goal_ends_a_stoppage_and_play_resumes_after_it() -> None:
    for seed in range(20):
        incidents = Match(HOME, AWAY, seed=seed).step(FULL_MATCH_S)
        previous: Incident | None = None
        for incident in incidents:
            if incident.kind is IncidentKind.GOAL:
                assert previous is not None
                assert previous.kind in (IncidentKind.DANGEROUS_ATTACK,
                                         IncidentKind.PENALTY_AWARDED)
                assert previous.side is incident.side
                assert incident.after.stoppage is Stoppage.GOAL
                assert incident.detail == ("penalty" if previous.kind
                                           is IncidentKind.PENALTY_AWARDED else "open_play")
            previous = incident


def test_no_incident_happens_while_play_is_stopped() -> None:
    for seed in range(20):
        stopped = False
        for incident in Match(HOME, AWAY, seed=seed).step(FULL_MATCH_S):
            if stopped:
                assert incident.kind in (IncidentKind.GOAL, IncidentKind.ATTACK_OVER,
                                         IncidentKind.PENALTY_MISSED, IncidentKind.PLAY_RESUMED,
                                         IncidentKind.ADDED_TIME, IncidentKind.HALF_TIME,
                                         IncidentKind.FULL_TIME), incident
            stopped = incident.after.stoppage is not None


# ---------------------------------------------------------------- rates


def test_goal_rates_rise_through_the_match_and_favour_the_home_side() -> None:
    early = MODEL.goal_rates(situation(Phase.FIRST_HALF, 5.0))
    late = MODEL.goal_rates(situation(Phase.SECOND_HALF, 85.0))
    assert late[0] > early[0] and late[1] > early[1]
    assert early[0] > early[1]  # equal teams: home advantage
    home, away = MODEL.expected_goals()
    assert home == pytest.approx(1.55) and away == pytest.approx(1.22)


def test_team_strengths_move_the_expected_goals() -> None:
    strong = MatchModel.calibrated(Team("S", attack=1.4, defence=0.8), Team("W", 0.8, 1.2))
    home, away = strong.expected_goals()
    assert home == pytest.approx(1.55 * 1.4 * 1.2) and away == pytest.approx(1.22 * 0.8 * 0.8)


def test_a_red_card_lowers_the_side_s_rate_and_raises_the_opponent_s() -> None:
    level = situation(Phase.SECOND_HALF, 60.0)
    home_down = situation(Phase.SECOND_HALF, 60.0, reds=(1, 0))
    before, after = MODEL.goal_rates(level), MODEL.goal_rates(home_down)
    assert after[0] == pytest.approx(before[0] * 0.67)
    assert after[1] == pytest.approx(before[1] * 1.25)
    both = MODEL.goal_rates(situation(Phase.SECOND_HALF, 60.0, reds=(1, 1)))
    assert both == pytest.approx(before)


def test_the_score_moves_the_rates_a_trailing_side_attacks_more() -> None:
    level = MODEL.goal_rates(situation(Phase.SECOND_HALF, 60.0))
    home_ahead = MODEL.goal_rates(situation(Phase.SECOND_HALF, 60.0, goals=(Side.HOME,)))
    assert home_ahead[0] == pytest.approx(level[0] * 0.90)
    assert home_ahead[1] == pytest.approx(level[1] * 1.12)
    two_ahead = MODEL.goal_rates(situation(Phase.SECOND_HALF, 60.0,
                                           goals=(Side.HOME, Side.HOME)))
    assert two_ahead[0] < home_ahead[0] and two_ahead[1] > home_ahead[1]


def test_expected_remaining_goals_run_down_with_the_clock() -> None:
    totals = [sum(MODEL.expected_remaining(situation(Phase.SECOND_HALF, m)))
              for m in (45.0, 60.0, 75.0, 89.0)]
    assert all(a > b for a, b in itertools.pairwise(totals))
    half_time = sum(MODEL.expected_remaining(situation(Phase.HALF_TIME, 45.0)))
    assert half_time == pytest.approx(totals[0])
    assert sum(MODEL.expected_remaining(situation(Phase.ENDED, 95.0))) == 0


# ---------------------------------------------------------------- probabilities and prices


def test_probabilities_match_a_brute_force_poisson_model() -> None:
    sit = situation(Phase.SECOND_HALF, 60.0, goals=(Side.AWAY,))
    lam_h, lam_a = MODEL.expected_remaining(sit)
    probs = fair_probabilities(MODEL, sit)
    ph, pa = poisson_pmf(lam_h), poisson_pmf(lam_a)
    home = sum(ph[i] * pa[j] for i in range(len(ph)) for j in range(len(pa)) if i > 1 + j)
    draw = sum(ph[i] * pa[j] for i in range(len(ph)) for j in range(len(pa)) if i == 1 + j)
    assert probs["mw"]["home"] == pytest.approx(home, abs=1e-9)
    assert probs["mw"]["draw"] == pytest.approx(draw, abs=1e-9)
    lam = lam_h + lam_a
    assert probs["ou25"]["under"] == pytest.approx(math.exp(-lam) * (1 + lam))  # ≤ 1 more
    assert probs["ng2"]["none"] == pytest.approx(math.exp(-lam))
    assert probs["ng2"]["home"] == pytest.approx((1 - math.exp(-lam)) * lam_h / lam)
    for market in probs.values():
        assert sum(market.values()) == pytest.approx(1.0)


def test_prices_are_rounded_down_onto_the_ladder() -> None:
    prices = dict(price_market({"a": 0.5, "b": 0.5}, 0.05) or ())
    assert prices == {"a": Decimal("1.90"), "b": Decimal("1.90")}  # 1/0.525 = 1.9047...
    assert price_market({"a": 0.97, "b": 0.03}, 0.05) is None  # 1.0 / 1.0185 < 1.01
    longshot = dict(price_market({"a": 0.9, "b": 0.00001}, 0.0) or ())
    assert longshot["b"] == MAX_PRICE


side_st = st.sampled_from([Side.HOME, Side.AWAY])
team_st = st.builds(Team, st.just("T"), st.floats(0.5, 1.8), st.floats(0.5, 1.6))


@settings(max_examples=150, deadline=None)
@given(home=team_st, away=team_st,
       phase=st.sampled_from([Phase.NOT_STARTED, Phase.FIRST_HALF, Phase.HALF_TIME,
                              Phase.SECOND_HALF]),
       minute=st.floats(0, 99), goals=st.lists(side_st, max_size=7),
       reds=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       added=st.none() | st.floats(1, 8), margin=st.floats(0.0, 0.15))
def test_every_offered_market_is_priced_coherently(
        home: Team, away: Team, phase: Phase, minute: float, goals: list[Side],
        reds: tuple[int, int], added: float | None, margin: float) -> None:
    model = MatchModel.calibrated(home, away)
    if phase is Phase.FIRST_HALF:
        minute = min(minute, 50.0)
    elif phase is Phase.SECOND_HALF:
        minute = max(minute, 45.0)
    else:
        minute, added = (0.0 if phase is Phase.NOT_STARTED else 45.0), None
    sit = situation(phase, minute, tuple(goals), reds, added=added)
    quoted = quotes(model, sit, margin)
    assert set(quoted) == set(MARKET_IDS)
    for quote in quoted.values():
        if quote.status is QuoteStatus.OFFERED:
            assert_coherent(quote, margin)
        elif quote.status is QuoteStatus.SUSPENDED:
            assert quote.cause in (CAUSE_NEAR_CERTAIN, CAUSE_NOT_YET)
            assert not quote.prices


def test_prices_stay_coherent_through_whole_matches() -> None:
    for seed in range(4):
        match = Match(HOME, AWAY, seed=seed)
        while not match.finished:
            match.step(20)
            for quote in match.quotes().values():
                if quote.status is QuoteStatus.OFFERED:
                    assert_coherent(quote, match.margin)
                    assert match.situation.stoppage is None


def test_a_stoppage_suspends_every_open_market_with_its_cause() -> None:
    sit = situation(Phase.FIRST_HALF, 30.0, stoppage=Stoppage.PENALTY)
    quoted = quotes(MODEL, sit)
    assert quoted["mw"] == Quote("mw", QuoteStatus.SUSPENDED, cause="penalty")
    assert quoted["ng1"].cause == "penalty"
    assert quoted["ng2"].cause == CAUSE_NOT_YET  # not its turn anyway


def test_goal_markets_open_one_at_a_time() -> None:
    for scored in range(6):
        goals = tuple([Side.HOME, Side.AWAY] * 3)[:scored]
        quoted = quotes(MODEL, situation(Phase.FIRST_HALF, 20.0, goals))
        for k in range(1, 6):
            quote = quoted[f"ng{k}"]
            if k <= scored:
                assert quote.status is QuoteStatus.RESULTED
                assert quote.winners == (goals[k - 1].value,)
            elif k == scored + 1:
                assert quote.status is QuoteStatus.OFFERED
            else:
                assert (quote.status, quote.cause) == (QuoteStatus.SUSPENDED, CAUSE_NOT_YET)


def test_decided_markets_are_resulted_early_and_near_certain_ones_suspended() -> None:
    two = situation(Phase.FIRST_HALF, 20.0, (Side.HOME, Side.HOME))
    quoted = quotes(MODEL, two)
    assert quoted["ou15"] == Quote("ou15", QuoteStatus.RESULTED, winners=("over",))
    assert quoted["ou25"].status is QuoteStatus.OFFERED
    late = situation(Phase.SECOND_HALF, 93.0, (Side.HOME, Side.HOME, Side.HOME), added=4.0)
    quoted = quotes(MODEL, late)
    assert (quoted["mw"].status, quoted["mw"].cause) == (QuoteStatus.SUSPENDED,
                                                         CAUSE_NEAR_CERTAIN)
    assert quoted["ou35"].status is QuoteStatus.SUSPENDED  # under 3.5: near certain


# ---------------------------------------------------------------- results and averages


def final_quotes(match: Match) -> dict[str, Quote]:
    match.step(FULL_MATCH_S)
    assert match.finished
    return match.quotes()


@pytest.mark.parametrize("seed", range(12))
def test_results_at_full_time_follow_the_final_score(seed: int) -> None:
    match = Match(HOME, AWAY, seed=seed)
    quoted = final_quotes(match)
    home, away = match.situation.score
    goals = match.situation.goals
    assert all(q.status is QuoteStatus.RESULTED for q in quoted.values())
    assert quoted["mw"].winners == (("home",) if home > away else ("away",) if away > home
                                    else ("draw",))
    for n in (1, 2, 3):
        assert quoted[f"ou{n}5"].winners == (("over",) if home + away > n else ("under",))
    for k in range(1, 6):
        assert quoted[f"ng{k}"].winners == ((goals[k - 1].value,) if k <= len(goals)
                                            else ("none",))


def test_long_run_averages_are_those_of_a_top_league() -> None:
    matches = 500
    outcomes: Counter[str] = Counter()
    kinds: Counter[IncidentKind] = Counter()
    goals = first_half_goals = 0
    for seed in range(matches):
        match = Match(HOME, AWAY, seed=10_000 + seed)
        incidents = match.step(FULL_MATCH_S)
        kinds.update(i.kind for i in incidents)
        home, away = match.situation.score
        goals += home + away
        first_half_goals += sum(1 for i in incidents if i.kind is IncidentKind.GOAL
                                and i.after.phase is Phase.FIRST_HALF)
        outcomes["home" if home > away else "away" if away > home else "draw"] += 1
    assert 2.3 <= goals / matches <= 3.1
    assert outcomes["home"] > outcomes["away"]
    assert 0.20 <= outcomes["draw"] / matches <= 0.33
    assert 0.38 <= first_half_goals / goals <= 0.5  # goals come later in a match
    awarded = kinds[IncidentKind.PENALTY_AWARDED]
    assert 0.15 <= awarded / matches <= 0.45
    assert 0.70 <= 1 - kinds[IncidentKind.PENALTY_MISSED] / awarded <= 0.82
    assert 3.0 <= kinds[IncidentKind.YELLOW_CARD] / matches <= 5.0
    assert 0.08 <= kinds[IncidentKind.RED_CARD] / matches <= 0.35
    assert 15 <= kinds[IncidentKind.DANGEROUS_ATTACK] / matches <= 40


# ---------------------------------------------------------------- the event definition


def test_the_event_definition_is_what_the_operator_api_takes() -> None:
    model = MatchModel.calibrated(Team("Lions", 1.2, 0.9), Team("Tigers", 0.9, 1.1))
    body = event_definition(model, "sim-1-1", "2026-11-27T15:00:00Z")
    EventIn.model_validate(body)  # the API's own validation
    assert body["name"] == "Lions v Tigers" and body["sport"] == "soccer"
    markets = {m["market_id"]: m for m in body["markets"]}
    assert list(markets) == [m.market_id for m in MARKETS]
    assert markets["mw"]["name"] == "Match result"
    assert [s["name"] for s in markets["mw"]["selections"]] == ["Lions", "Draw", "Tigers"]
    assert markets["ou25"]["name"] == "Over/under 2.5 goals"
    assert [s["selection_id"] for s in markets["ng3"]["selections"]] == ["home", "none",
                                                                         "away"]
    assert markets["ng1"]["name"] == "Goal 1"
    pre_match = quotes(model, Situation())
    for market_id, quote in pre_match.items():
        if quote.status is QuoteStatus.OFFERED:
            shown = {s["selection_id"]: Decimal(s["price"])
                     for s in markets[market_id]["selections"]}
            assert shown == dict(quote.prices)
    # the later goals are less likely to come at all
    none_prices = [Decimal(markets[f"ng{k}"]["selections"][1]["price"]) for k in range(1, 6)]
    assert none_prices == sorted(none_prices, reverse=True)
