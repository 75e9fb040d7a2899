"""The double-entry ledger of one account's slot, and activity statements from it.

Every wallet operation posts a balanced set of postings (each debits one ledger account and
credits another by the same amount), so the books of a slot always sum to zero. Amounts are
integer cents here, as in Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from domain.clock import ms
from domain.limits import add_months
from domain.money import from_cents


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


def pay_in(source: LedgerAccount, amount: int, debt: int) -> tuple[Posting, ...]:
    """Money arriving for a player pays off ``debt`` (cents owed, >= 0) first."""
    to_debt = min(max(debt, 0), amount)
    return tuple(p for p in (Posting(source, LedgerAccount.DEBT, to_debt),
                             Posting(source, LedgerAccount.AVAILABLE, amount - to_debt))
                 if p.amount > 0)


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
