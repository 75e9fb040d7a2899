"""Player protection and money rules as plain Python: no Redis, no Ray, no I/O.

Everything here is data or a pure function, so it is unit-tested on its own and also feeds the
arguments of the wallet's Lua scripts (which cannot read keys outside their account's slot):
the jurisdiction rule table, exclusion periods, the limit-change policy (decrease at once,
increase after a cooling-off), money conversion to integer cents, and statement maths.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

# An injected clock: any zero-argument callable returning POSIX seconds (``time.time``).
Clock = Callable[[], float]

CENT = Decimal("0.01")
# Lua numbers are doubles: every cent value must stay far below 2**53 to be exact.
MAX_AMOUNT_CENTS = 10**13
MS = 1000
DAY_MS = 86_400 * MS
ADULT_AGE = 18
# Far-future end (ms) standing for a permanent exclusion inside the scripts.
PERMANENT_UNTIL_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


class ManualClock:
    """A clock the test moves by hand: ``clock()`` reads it, ``advance(s)`` moves it."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.now += seconds


class InvalidAmount(ValueError):
    """A money amount that is not a positive value with at most two decimal places."""


def to_cents(amount: Decimal | str | int) -> int:
    """Positive money (at most 2 decimal places) → integer cents; floats are refused."""
    if isinstance(amount, float | bool):
        raise InvalidAmount(f"money must be a Decimal, str or int, not {type(amount).__name__}")
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidAmount(f"not a decimal amount: {amount!r}") from exc
    if not value.is_finite() or value <= 0:
        raise InvalidAmount(f"amount must be positive: {amount!r}")
    if value != value.quantize(CENT):
        raise InvalidAmount(f"amount has more than 2 decimal places: {amount!r}")
    cents = int(value * 100)
    if cents > MAX_AMOUNT_CENTS:
        raise InvalidAmount(f"amount too large: {amount!r}")
    return cents


def from_cents(cents: int | str) -> Decimal:
    """Integer cents → ``Decimal`` with two places."""
    return (Decimal(int(cents)) / 100).quantize(CENT)


def ms(ts: float) -> int:
    """POSIX seconds → integer milliseconds, the time unit inside the scripts."""
    return int(ts * MS)


def utc(ts_ms: int) -> datetime:
    """Milliseconds → aware UTC datetime."""
    return datetime.fromtimestamp(ts_ms / MS, tz=UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, the API's time format."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- jurisdictions --------------------------------------------------------------------------


class Product(StrEnum):
    """What a stake is placed on; jurisdictions gate products."""

    SPORT_PREMATCH = "sport_prematch"
    SPORT_INPLAY = "sport_inplay"
    CASINO = "casino"


class PaymentMethod(StrEnum):
    """How a deposit is funded; credit methods are banned in some jurisdictions."""

    BANK_TRANSFER = "bank_transfer"
    DEBIT_CARD = "debit_card"
    E_WALLET = "e_wallet"
    CREDIT_CARD = "credit_card"
    CRYPTO = "crypto"


@dataclass(frozen=True)
class JurisdictionRule:
    """What one jurisdiction forbids; anything not listed is allowed."""

    blocked_products: frozenset[Product] = frozenset()
    blocked_methods: frozenset[PaymentMethod] = frozenset()


# Australia: Interactive Gambling Act (no online in-play sport, no online casino) and the
# National Consumer Protection Framework (no credit betting: no credit cards, no crypto).
JURISDICTION_RULES: Mapping[str, JurisdictionRule] = {
    "AU": JurisdictionRule(
        blocked_products=frozenset({Product.SPORT_INPLAY, Product.CASINO}),
        blocked_methods=frozenset({PaymentMethod.CREDIT_CARD, PaymentMethod.CRYPTO}),
    ),
}


def product_allowed(jurisdiction: str, product: Product, rules: Mapping[str, JurisdictionRule]
                    = JURISDICTION_RULES) -> bool:
    """True when ``jurisdiction`` allows ``product``."""
    rule = rules.get(jurisdiction.upper())
    return rule is None or product not in rule.blocked_products


def method_allowed(jurisdiction: str, method: PaymentMethod,
                   rules: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> bool:
    """True when ``jurisdiction`` allows deposits by ``method``."""
    rule = rules.get(jurisdiction.upper())
    return rule is None or method not in rule.blocked_methods


def encode_blocked(rules: Mapping[str, JurisdictionRule], what: str) -> str:
    """The rule table as ``|AU:casino|AU:sport_inplay|``: a plain substring test in Lua."""
    pairs = sorted(
        f"{code}:{item}"
        for code, rule in rules.items()
        for item in (rule.blocked_products if what == "products" else rule.blocked_methods)
    )
    return "|" + "|".join(pairs) + "|" if pairs else "|"


# ISO 3166-1 alpha-2, officially assigned codes.
ISO_3166_ALPHA2 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW""".split()
)


def is_iso_country(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code (upper case)."""
    return code in ISO_3166_ALPHA2


def age_on(date_of_birth: date, today: date) -> int:
    """Completed years of age on ``today``."""
    before_birthday = (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - int(before_birthday)


# --- self-exclusion -------------------------------------------------------------------------


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


# --- limits ---------------------------------------------------------------------------------


class LimitName(StrEnum):
    """The player's own limits; deposit windows are rolling."""

    DEPOSIT_DAILY = "deposit_daily"
    DEPOSIT_WEEKLY = "deposit_weekly"
    DEPOSIT_MONTHLY = "deposit_monthly"
    LOSS_DAILY = "loss_daily"
    STAKE_MAX = "stake_max"


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


# --- ledger and statements ------------------------------------------------------------------


class LedgerAccount(StrEnum):
    """The books of one player's slot; house sub-accounts are summed across players."""

    AVAILABLE = "player:available"
    RESERVED = "player:reserved"
    DEPOSIT_HOLD = "player:deposit_hold"
    WITHDRAWAL_HOLD = "player:withdrawal_hold"
    DEBT = "player:debt"
    DEPOSITS_CLEARING = "house:deposits_clearing"
    STAKES_HELD = "house:stakes_held"
    PAYOUTS = "house:payouts"
    WITHDRAWALS_CLEARING = "house:withdrawals_clearing"


PLAYER_ACCOUNTS = frozenset(a for a in LedgerAccount if a.value.startswith("player:"))
HOUSE_ACCOUNTS = frozenset(a for a in LedgerAccount if a.value.startswith("house:"))


@dataclass(frozen=True)
class Posting:
    """``amount`` cents moved from ``source`` to ``target`` (debit one, credit the other)."""

    source: LedgerAccount
    target: LedgerAccount
    amount: int


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger stream entry: a balanced set of postings made by one operation."""

    seq: int
    op_id: str
    kind: str
    ts_ms: int
    postings: tuple[Posting, ...]


def parse_postings(text: str) -> tuple[Posting, ...]:
    """Decode the scripts' compact ``from>to>cents;...`` form."""
    out = []
    for part in filter(None, text.split(";")):
        source, target, amount = part.split(">")
        out.append(Posting(LedgerAccount(source), LedgerAccount(target), int(amount)))
    return tuple(out)


def apply_postings(balances: dict[LedgerAccount, int], postings: Iterable[Posting]) -> None:
    """Fold postings into signed balances (a debit lowers ``source``, raises ``target``)."""
    for posting in postings:
        balances[posting.source] = balances.get(posting.source, 0) - posting.amount
        balances[posting.target] = balances.get(posting.target, 0) + posting.amount


@dataclass(frozen=True)
class Statement:
    """A month of activity; ``net_result`` = returns − stakes (negative: the player lost)."""

    month: str
    deposits: Decimal
    withdrawals: Decimal
    stakes: Decimal
    returns: Decimal
    net_result: Decimal
    opening_balance: Decimal
    closing_balance: Decimal
    entries: int = 0
    currency: str = "AUD"


def month_bounds_ms(month: str) -> tuple[int, int]:
    """``YYYY-MM`` → [start, end) in ms, UTC."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = add_months(start, 1)
    return ms(start.timestamp()), ms(end.timestamp())


def _flows(postings: Iterable[Posting]) -> dict[str, int]:
    """Money crossing the player/house boundary, by kind (intra-player moves are ignored)."""
    out = {"deposits": 0, "withdrawals": 0, "stakes": 0, "returns": 0}
    for p in postings:
        if p.source is LedgerAccount.DEPOSITS_CLEARING:
            out["deposits"] += p.amount
        elif p.target is LedgerAccount.DEPOSITS_CLEARING:
            out["deposits"] -= p.amount  # a rejected deposit under review goes back
        elif p.target is LedgerAccount.WITHDRAWALS_CLEARING:
            out["withdrawals"] += p.amount
        elif p.target is LedgerAccount.STAKES_HELD:
            out["stakes"] += p.amount
        elif p.source is LedgerAccount.PAYOUTS:
            out["returns"] += p.amount
        elif p.target is LedgerAccount.PAYOUTS:
            out["returns"] -= p.amount  # a reversed settlement nets out
    return out


def player_delta(postings: Iterable[Posting]) -> int:
    """Change of the player's total funds (all ``player:*`` accounts) caused by postings."""
    delta = 0
    for p in postings:
        delta += (p.target in PLAYER_ACCOUNTS) * p.amount - (p.source in PLAYER_ACCOUNTS) * p.amount
    return delta


def build_statement(entries: Iterable[LedgerEntry], month: str) -> Statement:
    """The activity statement of ``month`` from the whole ledger of one account."""
    start, end = month_bounds_ms(month)
    opening = 0
    totals = {"deposits": 0, "withdrawals": 0, "stakes": 0, "returns": 0}
    count = 0
    for entry in entries:
        if entry.ts_ms < start:
            opening += player_delta(entry.postings)
        elif entry.ts_ms < end:
            count += 1
            for key, value in _flows(entry.postings).items():
                totals[key] += value
    closing = opening + totals["deposits"] - totals["withdrawals"]
    closing += totals["returns"] - totals["stakes"]
    return Statement(
        month=month,
        deposits=from_cents(totals["deposits"]),
        withdrawals=from_cents(totals["withdrawals"]),
        stakes=from_cents(totals["stakes"]),
        returns=from_cents(totals["returns"]),
        net_result=from_cents(totals["returns"] - totals["stakes"]),
        opening_balance=from_cents(opening),
        closing_balance=from_cents(closing),
        entries=count,
    )


def is_month(text: str) -> bool:
    """True for ``YYYY-MM``."""
    try:
        datetime.strptime(text, "%Y-%m")
    except ValueError:
        return False
    return len(text) == 7
