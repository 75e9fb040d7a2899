"""Settlement maths: what an accepted bet pays under a market result, as pure functions.

The rules follow how sportsbooks settle from a results feed (Sportradar-style):

* A ``MarketResult`` names the winning selections, a ``void_factor`` (0: no refund, 1/2: half
  the stake refunded, 1: all of it) and an optional ``dead_heat_factor`` (the share of a
  winning stake that is paid when selections tie: 1/2 for two, 1/3 for three, ...).
* ``settle`` gives the payout (what the wallet credits: the returned stake included):

  ============================  ===============================  ==========
  case                          payout                           status
  ============================  ===============================  ==========
  void_factor 1                 stake (whatever the winners)     void
  win, void 0                   stake × price                    won
  lose, void 0                  0                                lost
  win, void 1/2                 stake/2 + stake/2 × price        half_won
  lose, void 1/2                stake/2                          half_lost
  win, void 0, dead heat f      stake × f × price                won (``dead_heat=True``)
  ============================  ===============================  ==========

* **One rounding rule, applied once, at the end**: the exact amount (computed with
  ``fractions.Fraction``, so nothing is rounded on the way) is rounded DOWN to the cent
  (``round_down_to_cent``). A payout never exceeds the exact amount and is less than a cent
  below it; a refunded stake comes back to the cent.
* Resettlement moves the wallet by the difference only (``adjustment``, ``resettle``); a
  rollback takes back the previous payout (``rollback``).
* Cash-out quotes (``cashout_value``, ``fair_cashout_value``) use the same rounding rule.

Invalid money (a stake or payout that is not a positive / non-negative Decimal with at most two
places) raises ``InvalidAmount``; every other invalid input (prices, factors, versions,
margins, probabilities, windows) raises ``ValidationFailed`` with a ``field`` fact.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from domain.errors import InvalidAmount, ValidationFailed
from domain.events import BetStatus
from domain.money import to_cents

VOID_FACTORS: frozenset[Decimal] = frozenset({Decimal("0"), Decimal("0.5"), Decimal("1")})
SETTLED_STATUSES: frozenset[BetStatus] = frozenset({
    BetStatus.WON, BetStatus.LOST, BetStatus.VOID, BetStatus.HALF_WON, BetStatus.HALF_LOST,
    BetStatus.CASHED_OUT,
})
_HALF = Fraction(1, 2)


# --- validation helpers -------------------------------------------------------------------


def _decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationFailed(f"{field} must be a finite Decimal, got {value!r}", field=field)
    return value


def _price(value: object, field: str) -> Fraction:
    price = _decimal(value, field)
    if price <= 1:
        raise ValidationFailed(f"{field} must be a decimal price above 1, got {price}",
                               field=field)
    return Fraction(price)


def _stake(value: Decimal) -> Fraction:
    """A stake: positive, at most 2 places, not a float (``InvalidAmount`` otherwise)."""
    return Fraction(to_cents(value), 100)


def _amount_cents(value: object, field: str) -> int:
    """Non-negative money with at most 2 places → integer cents (``InvalidAmount``)."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidAmount(f"{field} must be a non-negative Decimal, got {value!r}",
                            amount=str(value), field=field)
    cents = Fraction(value) * 100
    if cents.denominator != 1:
        raise InvalidAmount(f"{field} has more than 2 decimal places: {value}",
                            amount=str(value), field=field)
    return int(cents)


def _from_cents(cents: int) -> Decimal:
    """Integer cents → a Decimal with exactly two places (exact: built from text)."""
    return Decimal(f"{cents}E-2")


def _version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationFailed(f"result_version must be an int >= 1, got {value!r}",
                               field="result_version")
    return value


def round_down_to_cent(exact: Decimal | Fraction) -> Decimal:
    """The one rounding rule: a non-negative exact amount, rounded DOWN to the cent.

    The result never exceeds ``exact`` and is less than 0.01 below it. Negative amounts are
    refused (``ValidationFailed``): payouts and quotes are never negative.
    """
    if isinstance(exact, Decimal):
        exact = Fraction(_decimal(exact, "amount"))
    if exact < 0:
        raise ValidationFailed(f"cannot round a negative amount: {exact}", field="amount")
    return _from_cents(math.floor(exact * 100))


# --- results and outcomes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketResult:
    """The result of one market, as the feed gives it (validated on construction).

    * ``winners``: the winning selection ids; no duplicates, no empty ids. It must not be
      empty unless the market is fully void (``void_factor`` 1): a market nobody won is
      settled void, or its result names the winner. With ``void_factor`` 1 the winners are
      ignored.
    * ``void_factor``: ``Decimal`` 0, 0.5 or 1 (the refunded share of every stake).
      0.5 is the Asian-handicap quarter line: winners are half won, losers half lost.
    * ``dead_heat_factor``: ``None`` (no tie) or a ``Decimal`` in (0, 1], the share of each
      winning stake paid at full price. It applies to every winner of this result and only
      with ``void_factor`` 0 (a tie on a half-void line is refused as ambiguous). A market
      where only some winners tied is settled as one result per factor.
    * ``result_version``: int >= 1; a corrected result carries a higher version.
    """

    winners: tuple[str, ...]
    void_factor: Decimal = Decimal("0")
    dead_heat_factor: Decimal | None = None
    result_version: int = 1

    def __post_init__(self) -> None:
        winners: object = self.winners
        if isinstance(winners, str | bytes) or not isinstance(winners, Iterable):
            raise ValidationFailed(f"winners must be a collection of selection ids, "
                                   f"got {winners!r}", field="winners")
        ids = tuple(winners)
        object.__setattr__(self, "winners", ids)
        if any(not isinstance(sid, str) or not sid for sid in ids):
            raise ValidationFailed(f"winners must be non-empty strings, got {ids!r}",
                                   field="winners")
        if len(set(ids)) != len(ids):
            raise ValidationFailed(f"duplicate winners: {ids!r}", field="winners")
        void = _decimal(self.void_factor, "void_factor")
        if void not in VOID_FACTORS:
            raise ValidationFailed(f"void_factor must be 0, 0.5 or 1, got {void}",
                                   field="void_factor")
        if void < 1 and not ids:
            raise ValidationFailed("a result that is not fully void must name its winners",
                                   field="winners")
        if self.dead_heat_factor is not None:
            dead_heat = _decimal(self.dead_heat_factor, "dead_heat_factor")
            if not 0 < dead_heat <= 1:
                raise ValidationFailed(f"dead_heat_factor must be in (0, 1], got {dead_heat}",
                                       field="dead_heat_factor")
            if void != 0:
                raise ValidationFailed("dead_heat_factor only applies with void_factor 0",
                                       field="dead_heat_factor")
        _version(self.result_version)


@dataclass(frozen=True, slots=True)
class SettlementOutcome:
    """How a bet is settled: its status, what it pays (two places) and the result version.

    A dead-heat winner is ``won`` with ``dead_heat=True``: its selection did win (it tied for
    the place), and the reduced payout is the dead-heat rule, not a partial loss; there is no
    dead-heat status to report. Its payout can be below the stake (1/3 at 2.00 pays 0.67 per
    unit), so the flag is what tells the bettor why.
    """

    status: BetStatus
    payout: Decimal
    result_version: int
    dead_heat: bool = False

    def __post_init__(self) -> None:
        if self.status not in SETTLED_STATUSES:
            raise ValidationFailed(f"not a settlement status: {self.status!r}", field="status")
        object.__setattr__(self, "payout", _from_cents(_amount_cents(self.payout, "payout")))
        _version(self.result_version)
        if self.dead_heat and self.status is not BetStatus.WON:
            raise ValidationFailed("only a won bet can be a dead heat", field="dead_heat")


def settle(stake: Decimal, price: Decimal, selection_id: str,
           result: MarketResult) -> SettlementOutcome:
    """What an accepted bet (stake at decimal ``price`` on ``selection_id``) pays under
    ``result``, rounded down to the cent once, at the end (see the module's table)."""
    exact_stake = _stake(stake)
    odds = _price(price, "price")
    if not isinstance(selection_id, str) or not selection_id:
        raise ValidationFailed(f"selection_id must be a non-empty string, got {selection_id!r}",
                               field="selection_id")
    won = selection_id in result.winners
    dead_heat = False
    if result.void_factor == 1:
        status, exact = BetStatus.VOID, exact_stake
    elif result.void_factor == Decimal("0.5"):
        half = exact_stake * _HALF
        status, exact = ((BetStatus.HALF_WON, half + half * odds) if won
                         else (BetStatus.HALF_LOST, half))
    elif won:
        factor = (Fraction(1) if result.dead_heat_factor is None
                  else Fraction(result.dead_heat_factor))
        status, exact, dead_heat = BetStatus.WON, exact_stake * factor * odds, factor < 1
    else:
        status, exact = BetStatus.LOST, Fraction(0)
    return SettlementOutcome(status, round_down_to_cent(exact), result.result_version,
                             dead_heat)


# --- resettlement and rollback ------------------------------------------------------------


def adjustment(previous_payout: Decimal | None, new_payout: Decimal) -> Decimal:
    """The net wallet movement from ``previous_payout`` (None: never settled) to
    ``new_payout``: positive credits the bettor, negative debits them."""
    before = 0 if previous_payout is None else _amount_cents(previous_payout, "previous_payout")
    return _from_cents(_amount_cents(new_payout, "new_payout") - before)


class WalletAction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class WalletMovement:
    """What the wallet must do: move ``net`` (signed, two places), after which the bet stands
    settled as ``settled`` (None: unsettled, after a rollback).

    A debit may exceed the bettor's available balance (the payout was already withdrawn):
    whether that becomes debt is the wallet's policy, not this function's.
    """

    net: Decimal
    settled: SettlementOutcome | None

    @property
    def action(self) -> WalletAction:
        if self.net > 0:
            return WalletAction.CREDIT
        return WalletAction.DEBIT if self.net < 0 else WalletAction.NONE

    @property
    def amount(self) -> Decimal:
        """The size of the movement (never negative)."""
        return abs(self.net)


def resettle(previous: SettlementOutcome | None, new: SettlementOutcome) -> WalletMovement:
    """Apply ``new`` to a bet settled as ``previous`` (None: not settled yet).

    Results arrive at least once and may arrive out of order: a result whose version is lower
    than the applied one is stale and a repeat of the applied one is a duplicate; both move
    nothing. The same version with a different outcome is a conflict (``ValidationFailed``).
    Otherwise the wallet moves by ``adjustment(previous payout, new payout)``, so the sum of
    all movements is always the payout of the latest applied result.
    """
    if previous is None:
        return WalletMovement(adjustment(None, new.payout), new)
    if new.result_version < previous.result_version or new == previous:
        return WalletMovement(_from_cents(0), previous)
    if new.result_version == previous.result_version:
        raise ValidationFailed(
            f"conflicting outcomes for result version {new.result_version}",
            field="result_version", previous=previous.status.value, new=new.status.value,
        )
    return WalletMovement(adjustment(previous.payout, new.payout), new)


def rollback(previous: SettlementOutcome | None) -> WalletMovement:
    """Back to no settlement: take back the previous payout (nothing if never settled)."""
    if previous is None:
        return WalletMovement(_from_cents(0), None)
    return WalletMovement(-previous.payout, None)


# --- void windows -------------------------------------------------------------------------


def in_void_window(accepted_at: float, start: float, end: float) -> bool:
    """Whether a bet accepted at ``accepted_at`` falls in the void window [start, end).

    Inclusive start, exclusive end (the usual half-open interval): a bet accepted exactly
    when the window opens is void; one accepted exactly when it closes stands, and adjacent
    windows never both claim a bet. Times are epoch seconds; they must be finite and
    ``start <= end`` (an empty window, start == end, contains nothing).
    """
    for name, value in (("accepted_at", accepted_at), ("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise ValidationFailed(f"{name} must be a finite number, got {value!r}", field=name)
    if start > end:
        raise ValidationFailed(f"void window starts after it ends: [{start}, {end})",
                               field="start")
    return start <= accepted_at < end


def voided(stake: Decimal, result_version: int) -> SettlementOutcome:
    """The outcome of a voided bet (e.g. accepted inside a void window): the stake back."""
    return SettlementOutcome(BetStatus.VOID, round_down_to_cent(_stake(stake)),
                             _version(result_version))


# --- cash-out -------------------------------------------------------------------------------


def _margin(value: object) -> Fraction:
    margin = _decimal(value, "margin")
    if not 0 <= margin < 1:
        raise ValidationFailed(f"margin must be in [0, 1), got {margin}", field="margin")
    return Fraction(margin)


def cashout_value(stake: Decimal, bet_price: Decimal, current_price: Decimal,
                  margin: Decimal) -> Decimal:
    """The retail cash-out quote: stake × bet_price ÷ current_price × (1 − margin).

    The bet's potential payout, re-priced at the selection's current price, less the
    operator's margin; rounded DOWN to the cent, never above the potential payout
    (stake × bet_price) and never negative. ``margin`` is a Decimal in [0, 1).
    """
    exact_stake = _stake(stake)
    potential = exact_stake * _price(bet_price, "bet_price")
    exact = potential / _price(current_price, "current_price") * (1 - _margin(margin))
    return round_down_to_cent(max(Fraction(0), min(exact, potential)))


def fair_cashout_value(stake: Decimal, bet_price: Decimal, win_probability: Decimal,
                       margin: Decimal) -> Decimal:
    """The cash-out quote from a win probability: stake × bet_price × p × (1 − margin).

    The expected value of the bet (its potential payout times the chance it wins) less the
    margin, rounded DOWN to the cent. ``win_probability`` is a Decimal in [0, 1]; with
    p = 1 / current_price it equals ``cashout_value``.
    """
    p = Fraction(_decimal(win_probability, "win_probability"))
    if not 0 <= p <= 1:
        raise ValidationFailed(f"win_probability must be in [0, 1], got {win_probability}",
                               field="win_probability")
    potential = _stake(stake) * _price(bet_price, "bet_price")
    return round_down_to_cent(potential * p * (1 - _margin(margin)))


# --- market summary -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketSummary:
    """A settled market's totals; ``gross_gaming_revenue`` = stakes − returns (negative when
    the book lost)."""

    bets: int
    total_stakes: Decimal
    total_returns: Decimal
    gross_gaming_revenue: Decimal


def summarize_market(bets: Iterable[tuple[Decimal, Decimal]]) -> MarketSummary:
    """Totals over (stake, payout) pairs, summed exactly in cents."""
    count = stakes = returns = 0
    for stake, payout in bets:
        count += 1
        stakes += to_cents(stake)
        returns += _amount_cents(payout, "payout")
    return MarketSummary(count, _from_cents(stakes), _from_cents(returns),
                         _from_cents(stakes - returns))


# --- following an event: which bets each step touches, and what they should pay now ------


def payout_cents(stake_cents: int, price_hundredths: int, selection_id: str,
                 result: MarketResult) -> tuple[BetStatus, int, bool]:
    """``settle`` in integer cents for a price with at most two decimals (every ladder
    price): the same status, payout (rounded down once) and dead-heat flag, ~10x faster.
    ``settle`` (exact fractions) is the oracle a property test holds this to."""
    won = selection_id in result.winners
    if result.void_factor == 1:
        return BetStatus.VOID, stake_cents, False
    if result.void_factor == _HALF_DECIMAL:
        if won:  # stake/2 + stake/2 × price, in cents: stake × (100 + price) / 200
            return BetStatus.HALF_WON, stake_cents * (100 + price_hundredths) // 200, False
        return BetStatus.HALF_LOST, stake_cents // 2, False
    if not won:
        return BetStatus.LOST, 0, False
    if result.dead_heat_factor is None or result.dead_heat_factor == 1:
        return BetStatus.WON, stake_cents * price_hundredths // 100, False
    factor = Fraction(result.dead_heat_factor)
    exact = Fraction(stake_cents * price_hundredths, 100) * factor
    return BetStatus.WON, math.floor(exact), True


_HALF_DECIMAL = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class BetRef:
    """What settlement needs of an accepted bet (from its ``BetAccepted`` journal entry)."""

    bet_id: str
    account_id: str
    market_id: str
    selection_id: str
    stake_cents: int
    price_hundredths: int
    accepted_at: float

    @property
    def stake(self) -> Decimal:
        return _from_cents(self.stake_cents)

    @property
    def potential_payout_cents(self) -> int:
        """Stake × accepted price (what the book's liability counts for this bet)."""
        return self.stake_cents * self.price_hundredths // 100


@dataclass(frozen=True, slots=True)
class Due:
    """What a bet should have received in all, now (``status`` None: not settled)."""

    status: BetStatus | None
    payout_cents: int
    dead_heat: bool = False


UNSETTLED = Due(None, 0)


class StepKind(StrEnum):
    RESULT = "result"
    ROLLBACK = "rollback"
    WINDOW = "void_window"
    WINDOW_ROLLBACK = "void_window_rollback"
    CASHOUT = "cashout"


@dataclass(frozen=True, slots=True)
class Step:
    """One journal entry's settlement work: the bets whose due amount it may change.

    ``seq`` (the entry's journal sequence number) names the step: a bet's wallet movement for
    it is keyed by (bet id, seq), so replaying a step never pays twice.
    """

    seq: int
    kind: StepKind
    market_id: str | None
    label: str
    bets: tuple[BetRef, ...]
    version: int = 0
    window_id: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    window_id: str
    start: float
    end: float
    market_id: str | None

    def covers(self, bet: BetRef) -> bool:
        return ((self.market_id is None or self.market_id == bet.market_id)
                and in_void_window(bet.accepted_at, self.start, self.end))


class EventSettlement:
    """The settlement view of one event, folded from its journal in order.

    It knows every accepted bet (by market, in journal order), the result in force per
    market, and the void windows in force; ``apply`` turns a journal entry into the
    settlement ``Step`` it calls for, and ``due`` says what a bet should have received in all
    given everything folded so far: void if a window in force covers it, else what the
    market's result pays, else nothing (unsettled).
    """

    def __init__(self) -> None:
        self.bets: dict[str, list[BetRef]] = {}
        self.by_id: dict[str, BetRef] = {}
        self.results: dict[str, MarketResult] = {}
        self.windows: dict[str, Window] = {}
        self.cashed: dict[str, int] = {}  # bet id -> cents it was cashed out for

    def accept(self, bet: BetRef) -> None:
        self.bets.setdefault(bet.market_id, []).append(bet)
        self.by_id[bet.bet_id] = bet

    def cashed_out(self, seq: int, bet_id: str, cents: int) -> Step | None:
        bet = self.by_id.get(bet_id)
        if bet is None:
            return None
        self.cashed[bet_id] = cents
        return Step(seq, StepKind.CASHOUT, bet.market_id, "cashed out", (bet,))

    def resulted(self, seq: int, market_id: str, result: MarketResult) -> Step:
        self.results[market_id] = result
        return Step(seq, StepKind.RESULT, market_id, f"result v{result.result_version}",
                    tuple(self.bets.get(market_id, ())), version=result.result_version)

    def rolled_back(self, seq: int, market_id: str, version: int) -> Step:
        self.results.pop(market_id, None)
        return Step(seq, StepKind.ROLLBACK, market_id, f"result v{version} rolled back",
                    tuple(self.bets.get(market_id, ())), version=version)

    def window_opened(self, seq: int, window: Window, reason: str) -> Step:
        self.windows[window.window_id] = window
        return Step(seq, StepKind.WINDOW, window.market_id,
                    f"void window {window.window_id}: {reason}", self._covered(window),
                    window_id=window.window_id)

    def window_rolled_back(self, seq: int, window_id: str) -> Step | None:
        window = self.windows.pop(window_id, None)
        if window is None:
            return None
        return Step(seq, StepKind.WINDOW_ROLLBACK, window.market_id,
                    f"void window {window_id} rolled back", self._covered(window),
                    window_id=window_id)

    def _covered(self, window: Window) -> tuple[BetRef, ...]:
        markets = [window.market_id] if window.market_id is not None else list(self.bets)
        return tuple(b for m in markets for b in self.bets.get(m, ()) if window.covers(b))

    def voided_by(self, bet: BetRef, excluding: str = "") -> str | None:
        """The first window in force (other than ``excluding``) that voids ``bet``."""
        for window in self.windows.values():
            if window.window_id != excluding and window.covers(bet):
                return window.window_id
        return None

    def due(self, bet: BetRef) -> Due:
        if self.voided_by(bet) is not None:
            return Due(BetStatus.VOID, bet.stake_cents)
        cashed = self.cashed.get(bet.bet_id)
        if cashed is not None:
            return Due(BetStatus.CASHED_OUT, cashed)
        result = self.results.get(bet.market_id)
        if result is None:
            return UNSETTLED
        status, cents, dead_heat = payout_cents(bet.stake_cents, bet.price_hundredths,
                                                bet.selection_id, result)
        return Due(status, cents, dead_heat)


# a bet's settlement history entry: journal seq of the step, its label, the status and payout
# (cents) the bet was due after it, the cents it moved, when (ms), the result version (0: none)
HistoryEntry = tuple[int, str, "str | None", int, int, int, int]


@dataclass(frozen=True, slots=True)
class BetSettlement:
    """What a bet was paid in all, and every step that changed it (oldest first)."""

    status: BetStatus | None
    payout_cents: int
    dead_heat: bool = False
    history: Sequence[HistoryEntry] = ()

    def step(self, step: Step, due: Due, now_ms: int) -> tuple[int, BetSettlement | None]:
        """Apply ``step`` to this bet: (cents to move, the new record, or None when the
        record does not change).

        Each step is recorded once: when the record already reaches this step (a replay
        after a crash or a lost cursor), the movement it recorded is sent again (the wallet
        moves an op id once, so that is harmless) and the record stays; a step the record
        went past without an entry changed nothing for this bet then, and changes nothing now.
        """
        if self.history and self.history[-1][0] >= step.seq:
            return next((h[4] for h in self.history if h[0] == step.seq), 0), None
        moved = due.payout_cents - self.payout_cents
        if due.status == self.status and moved == 0 and due.dead_heat == self.dead_heat:
            return 0, None
        entry = (step.seq, step.label, due.status, due.payout_cents, moved, now_ms,
                 step.version)
        return moved, BetSettlement(due.status, due.payout_cents, due.dead_heat,
                                    (*self.history, entry))


NOT_SETTLED = BetSettlement(None, 0)


def settlement_digest(outcomes: Iterable[tuple[str, BetStatus | None, int]]) -> str:
    """sha256 of ``bet_id|status|payout_cents`` lines, in the order given (journal order)."""
    digest = hashlib.sha256()
    for bet_id, status, cents in outcomes:
        digest.update(f"{bet_id}|{status or ''}|{cents}\n".encode())
    return digest.hexdigest()
