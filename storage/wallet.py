"""The wallet: balances, reservations and a double-entry ledger in Redis, changed only by Lua.

Every money movement is one atomic, idempotent script (``storage/lua``) on one account's slot:
keys are hash-tagged ``{acct:<id>}`` so Redis Cluster works unchanged. House sub-accounts
(deposits clearing, stakes held, payouts, withdrawals clearing) live beside the player's in the
same slot, and house totals are the sum over accounts. Money is integer cents inside Redis and
``Decimal`` here; time is the injected clock, passed to every script.

The key layout is in ``storage/keys.py``; the scripts' keys and arguments are declared by
name in ``storage/scripts.py``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from domain.clock import Clock, ms, utc
from domain.errors import DomainError, ValidationFailed
from domain.jurisdiction import (
    JURISDICTION_RULES,
    JurisdictionRule,
    PaymentMethod,
    Product,
    encode_blocked,
)
from domain.ledger import (
    HOUSE_ACCOUNTS,
    LedgerAccount,
    LedgerEntry,
    Statement,
    build_statement,
    is_month,
    parse_postings,
)
from domain.limits import LIMIT_WINDOWS_MS, LimitName
from domain.money import from_cents, to_cents
from storage.keys import (
    RESERVATION_INDEX,
    account_of,
    acct_key,
    acct_pattern,
    betref_key,
    bets_key,
)
from storage.scripts import SCRIPTS, WALLET_KEYS, ScriptRunner, json_reply

# Withdrawals at or above this go to a held, reviewed path (AML / large-value review).
WITHDRAWAL_REVIEW_THRESHOLD = Decimal("10000.00")
# Deposits at or above this are held for review before the money is usable (API: 202).
DEPOSIT_REVIEW_THRESHOLD = Decimal("25000.00")
MAX_OP_ID_LEN = 128


@dataclass(frozen=True)
class WalletConfig:
    """What the wallet needs of the platform's settings."""

    idempotency_ttl_s: int = 7 * 24 * 3600
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 40


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Receipt:
    """The outcome of one wallet operation (the original one when ``replayed``)."""

    op_id: str
    kind: str
    status: str
    amount: Decimal
    available: Decimal
    seq: int
    at: datetime
    replayed: bool = False
    detail: Mapping[str, str] | None = None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> Receipt:
        """Build from a script's JSON reply."""
        known = {"op", "kind", "status", "amount", "available", "seq", "ts", "replayed"}
        return cls(
            op_id=reply["op"], kind=reply["kind"], status=reply["status"],
            amount=from_cents(reply["amount"]),
            available=from_cents(reply["available"]), seq=int(reply["seq"]),
            at=utc(int(reply["ts"])), replayed=bool(reply.get("replayed", False)),
            detail={k: str(v) for k, v in reply.items() if k not in known} or None,
        )


@dataclass(frozen=True)
class Balance:
    """A player's funds: ``available`` to bet or withdraw, the rest held for a reason."""

    available: Decimal
    reserved: Decimal
    deposit_hold: Decimal
    withdrawal_hold: Decimal
    debt: Decimal
    seq: int
    currency: str = "AUD"

    @property
    def total(self) -> Decimal:
        """All the player's money in the books (debt counts against it)."""
        held = self.reserved + self.deposit_hold + self.withdrawal_hold
        return self.available + held - self.debt


@dataclass(frozen=True)
class Reservation:
    """An open stake reservation (bet id = ``op_id``)."""

    account_id: str
    op_id: str
    amount: Decimal
    product: str
    created_at: datetime


def _check_op_id(op_id: str) -> str:
    if not op_id or len(op_id) > MAX_OP_ID_LEN:
        raise ValidationFailed(f"operation id must be 1–{MAX_OP_ID_LEN} characters")
    return op_id


def _enum(kind: type[PaymentMethod] | type[Product], value: str) -> str:
    try:
        return kind(value).value
    except ValueError as exc:
        raise ValidationFailed(f"unknown {kind.__name__}: {value!r}") from exc


@functools.lru_cache(maxsize=65_536)
def _account_keys(account_id: str) -> tuple[tuple[str, str], ...]:
    """The account's own keys among ``WALLET_KEYS`` (built once per account: every bet
    runs two scripts with them)."""
    return tuple((k, acct_key(account_id, k)) for k in WALLET_KEYS if k not in ("op", "aux"))


def wallet_keys(account_id: str, op_key: str, aux_key: str = "aux") -> dict[str, str]:
    """The keys every wallet script gets (``WALLET_KEYS``), for one account and operation."""
    keys = dict(_account_keys(account_id))
    keys["op"] = acct_key(account_id, op_key)
    keys["aux"] = acct_key(account_id, aux_key)
    return keys


_DEPOSIT, _WITHDRAW, _REVIEW = SCRIPTS["deposit"], SCRIPTS["withdraw"], SCRIPTS["review"]
_RESERVE, _RESOLVE = SCRIPTS["reserve"], SCRIPTS["resolve"]
_SETTLE = SCRIPTS["settle"]


@dataclass(frozen=True)
class Movement:
    """One settlement movement: ``cents`` (signed; + credits the player) for ``op_id``."""

    account_id: str
    op_id: str
    cents: int
    ref: str = ""


class Wallet:
    """Async wallet over ``redis.asyncio``; every change is one Lua script on one slot."""

    def __init__(self, client: aioredis.Redis, config: WalletConfig | None = None,
                 clock: Clock = time.time,
                 rules_table: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> None:
        self.redis = client
        self.config = config or WalletConfig()
        self.clock = clock
        self.scripts = ScriptRunner(client)
        self._blocked_products = encode_blocked(rules_table, "products")
        self._blocked_methods = encode_blocked(rules_table, "methods")
        self._withdraw_review = to_cents(WITHDRAWAL_REVIEW_THRESHOLD)
        self._deposit_review = to_cents(DEPOSIT_REVIEW_THRESHOLD)

    # --- plumbing ----------------------------------------------------------------------

    def _now_ms(self) -> int:
        return ms(self.clock())

    def _common(self, op_id: str, fingerprint: str) -> dict[str, object]:
        return {"now": self._now_ms(), "op": op_id, "fp": fingerprint,
                "ttl": self.config.idempotency_ttl_s}

    async def _run_json(self, script: Any, keys: Mapping[str, str],
                        args: Mapping[str, object]) -> Receipt:
        key_list, arg_list = script.call(keys, args)
        return Receipt.from_reply(json_reply(await self.scripts.run(script, key_list,
                                                                     arg_list)))

    async def _many(self, script: Any, calls: Sequence[tuple[list[str], list[object]]],
                    before: Sequence[Sequence[object]] = (),
                    after: Sequence[Sequence[object]] = ()) -> list[Receipt | DomainError]:
        """Many runs in ONE round trip; each run's refusal comes back as its error (any
        refusal the scripts answer, ``IDEMPOTENCY_KEY_REUSED`` too: one run's refusal is
        never another's)."""
        out: list[Receipt | DomainError] = []
        for reply in await self.scripts.run_many(script, calls, before=before, after=after):
            try:
                out.append(Receipt.from_reply(json_reply(reply)))
            except DomainError as exc:
                out.append(exc)
        return out

    # --- money movements ----------------------------------------------------------------

    async def deposit(self, account_id: str, op_id: str, amount: Decimal | str | int,
                      method: PaymentMethod | str = PaymentMethod.DEBIT_CARD) -> Receipt:
        """Pay money in; ``status`` is ``completed`` or ``pending_review`` (held, API 202).

        Raises DepositLimit, JurisdictionBlocked (e.g. AU credit card), SelfExcluded,
        AccountClosed, UnknownAccount, IdempotencyKeyReused, InvalidAmount.
        """
        cents, method = to_cents(amount), _enum(PaymentMethod, method)
        windows = [LIMIT_WINDOWS_MS[n] for n in (
            LimitName.DEPOSIT_DAILY, LimitName.DEPOSIT_WEEKLY, LimitName.DEPOSIT_MONTHLY)]
        args = {**self._common(op_id, f"deposit|{cents}|{method}"), "amount": cents,
                "method": method, "blocked_methods": self._blocked_methods,
                "review_threshold": self._deposit_review, "window_day_ms": windows[0],
                "window_week_ms": windows[1], "window_month_ms": windows[2]}
        return await self._run_json(_DEPOSIT, wallet_keys(account_id, _op(op_id)), args)

    async def withdraw(self, account_id: str, op_id: str, amount: Decimal | str | int
                       ) -> Receipt:
        """Pay money out; large amounts are held (``pending_review``) until an operator decides.

        Raises InsufficientFunds, UnknownAccount, IdempotencyKeyReused, InvalidAmount.
        """
        cents = to_cents(amount)
        args = {**self._common(op_id, f"withdraw|{cents}"), "amount": cents,
                "review_threshold": self._withdraw_review}
        return await self._run_json(_WITHDRAW, wallet_keys(account_id, _op(op_id)), args)

    async def decide_held(self, account_id: str, op_id: str, approve: bool, operator: str,
                          reason: str) -> Receipt:
        """Approve or reject a held deposit or withdrawal (idempotent by ``op_id``).

        Approving pays a withdrawal out or releases a deposit to the balance; rejecting returns
        a withdrawal to the available balance or a deposit to its source. The same decision
        again answers the same; the other decision is refused ``ALREADY_DECIDED``.
        """
        decision = "approve" if approve else "reject"
        args = {**self._common(op_id, decision), "operator": operator, "reason": reason}
        keys = wallet_keys(account_id, f"decided:{_check_op_id(op_id)}")
        return await self._run_json(_REVIEW, keys, args)

    async def pending_reviews(self, account_id: str) -> dict[str, dict[str, Any]]:
        """Held deposits/withdrawals of one account: op id → {kind, amount, ts, ...}."""
        raw = await self.redis.hgetall(acct_key(account_id, "reviews"))  # type: ignore[misc]
        out = {}
        for op, body in raw.items():
            item = orjson.loads(body)
            item["amount"] = from_cents(item["amount"])
            out[_text(op)] = item
        return out

    def _reserve_call(self, account_id: str, op_id: str, amount: Decimal | str | int,
                      product: Product | str, event_id: str | None
                      ) -> tuple[list[str], list[object]]:
        cents, product = to_cents(amount), _enum(Product, product)
        keys = wallet_keys(account_id, _op(op_id))
        # the product is not part of the fingerprint: a retry after the event went in play
        # is the same bet (the event book refuses in-play bets where they are not allowed)
        args = {**self._common(op_id, f"reserve|{cents}"), "amount": cents, "product": product,
                "blocked_products": self._blocked_products,
                "loss_window_ms": LIMIT_WINDOWS_MS[LimitName.LOSS_DAILY]}
        if event_id is not None:
            keys.update(rate_bucket=acct_key(account_id, "rl"),
                        betref=betref_key(account_id), bets=bets_key(account_id))
            args.update(rate_per_s=self.config.rate_limit_per_s,
                        rate_burst=self.config.rate_limit_burst, event_id=event_id)
        return _RESERVE.call(keys, args)

    async def reserve(self, account_id: str, op_id: str, amount: Decimal | str | int,
                      product: Product | str) -> Receipt:
        """Hold a stake for bet ``op_id`` after every player-protection check, atomically.

        Raises AccountClosed, SelfExcluded, KycRequired, JurisdictionBlocked, LimitExceeded
        (stake_max / loss_daily), InsufficientFunds, UnknownAccount, IdempotencyKeyReused.
        """
        found = await self.reserve_many([(account_id, op_id, amount, product)])
        if isinstance(found[0], DomainError):
            raise found[0]
        return found[0]

    async def reserve_many(self, items: Sequence[tuple[str, str, Decimal | str | int, str]],
                           bets_for_event: str | None = None
                           ) -> list[Receipt | DomainError]:
        """``reserve`` for many (account, bet id, amount, product) in one round trip.

        The same round trip indexes them for ``stale_reservations`` (an index entry of a
        refused reserve is harmless: the reader drops entries with no reservation behind).

        ``bets_for_event``: these are bets on that event, and each reservation also takes a
        token from the account's rate limit (``RateLimited`` when empty; a replay is free) and
        records the bet's event and time (``{acct:}:betref``, ``{acct:}:bets``) — all in the
        same atomic script, so a reserved bet can always be traced to its event.
        """
        calls = [self._reserve_call(*item, event_id=bets_for_event) for item in items]
        now = self.clock()
        index = [("ZADD", RESERVATION_INDEX, *(x for a, op, *_ in items
                                               for x in (now, f"{a}\t{op}")))] if items else []
        return await self._many(_RESERVE, calls, after=index)

    async def resolve_many(self, items: Sequence[tuple[str, str, str]]
                           ) -> list[Receipt | DomainError]:
        """Commit or release many (account, op id, "commit"|"release") in one round trip."""
        calls = []
        for account_id, op_id, action in items:
            keys = wallet_keys(account_id, f"resolved:{_check_op_id(op_id)}")
            calls.append(_RESOLVE.call(keys, self._common(op_id, action)))
        # resolved, already resolved or never there: either way it leaves the index
        unindex = [("ZREM", RESERVATION_INDEX, *(f"{a}\t{op}" for a, op, _ in items))] \
            if items else []
        return await self._many(_RESOLVE, calls, after=unindex)

    async def commit(self, account_id: str, op_id: str) -> Receipt:
        """The bet was accepted: move its reservation to the house's stakes held."""
        return await self.resolve_reservation(account_id, op_id, "commit")

    async def release(self, account_id: str, op_id: str) -> Receipt:
        """The bet was rejected: return its reservation to the player."""
        return await self.resolve_reservation(account_id, op_id, "release")

    async def resolve_reservation(self, account_id: str, op_id: str,
                                  action: Literal["commit", "release"]) -> Receipt:
        """Finish a reservation (crash recovery finds them with ``stale_reservations``)."""
        if action not in ("commit", "release"):
            raise ValidationFailed("action must be commit or release")
        found = await self.resolve_many([(account_id, op_id, action)])
        if isinstance(found[0], DomainError):
            raise found[0]
        return found[0]

    def _settle_call(self, group: str, moves: Sequence[Movement], ref: str
                     ) -> tuple[list[str], list[object]]:
        pairs: list[object] = []
        for move in moves:
            if move.cents == 0:
                raise ValidationFailed("a settlement movement of 0 moves nothing", op=move.op_id)
            pairs += [move.op_id, move.cents]
        keys = wallet_keys(moves[0].account_id, "aux")
        keys["done"] = acct_key(moves[0].account_id, "settled_ops")
        args = {**self._common(group, ""), "ref": ref,
                "loss_window_ms": LIMIT_WINDOWS_MS[LimitName.LOSS_DAILY]}
        return _SETTLE.call(keys, args, pairs)

    async def settle(self, move: Movement) -> Receipt:
        """Move one settlement's money: ``cents`` > 0 pays the player from house:payouts,
        ``cents`` < 0 takes it back (available first, then debt). Idempotent by op id,
        remembered forever: a step moves a bet's money at most once."""
        found = await self.settle_many([move], group=move.op_id, ref=move.ref)
        if isinstance(found[0], DomainError):
            raise found[0]
        return found[0]

    async def settle_many(self, moves: Sequence[Movement], group: str, ref: str = "",
                          before: Sequence[Sequence[object]] = ()
                          ) -> list[Receipt | DomainError]:
        """Many movements in ONE round trip: one atomic script per account, netting that
        account's movements into one ledger entry (``group`` names it) while each op id
        moves money at most once. One receipt (or error) per account, in order of first
        appearance. ``before`` are plain commands sent first in the same round trip."""
        by_account: dict[str, list[Movement]] = {}
        for move in moves:
            by_account.setdefault(move.account_id, []).append(move)
        calls = [self._settle_call(group if len(by_account) == 1 else f"{group}:{account}",
                                   mine, ref) for account, mine in by_account.items()]
        return await self._many(_SETTLE, calls, before=before)

    async def credit(self, account_id: str, op_id: str, amount: Decimal | str | int,
                     ref: str = "") -> Receipt:
        """Pay ``amount`` to the player (one settlement movement with a positive amount)."""
        return await self.settle(Movement(account_id, op_id, to_cents(amount), ref))

    async def debit(self, account_id: str, op_id: str, amount: Decimal | str | int,
                    ref: str = "") -> Receipt:
        """Take ``amount`` back (a settlement movement with a negative amount)."""
        return await self.settle(Movement(account_id, op_id, -to_cents(amount), ref))

    # --- reads -----------------------------------------------------------------------

    async def balance(self, account_id: str) -> Balance:
        """The player's balances (zero for an account that never moved money)."""
        raw = await self.redis.hgetall(acct_key(account_id, "bal"))  # type: ignore[misc]
        cents = {_text(k): int(v) for k, v in raw.items()}
        get = lambda a: from_cents(cents.get(a.value, 0))  # noqa: E731
        return Balance(
            available=get(LedgerAccount.AVAILABLE), reserved=get(LedgerAccount.RESERVED),
            deposit_hold=get(LedgerAccount.DEPOSIT_HOLD),
            withdrawal_hold=get(LedgerAccount.WITHDRAWAL_HOLD),
            debt=-get(LedgerAccount.DEBT), seq=cents.get("seq", 0))

    async def books(self, account_id: str) -> dict[LedgerAccount, Decimal]:
        """Every ledger account of this slot, signed (they sum to zero)."""
        raw = await self.redis.hgetall(acct_key(account_id, "bal"))  # type: ignore[misc]
        return {LedgerAccount(_text(k)): from_cents(v) for k, v in raw.items()
                if _text(k) != "seq"}

    async def house_totals(self, account_ids: Iterable[str] | None = None
                           ) -> dict[LedgerAccount, Decimal]:
        """House sub-accounts summed across players (all accounts when ``None``: SCAN)."""
        ids = list(account_ids) if account_ids is not None else await self._scan_ids("bal")
        totals = dict.fromkeys(HOUSE_ACCOUNTS, Decimal("0.00"))
        for account_id in ids:
            for name, value in (await self.books(account_id)).items():
                if name in totals:
                    totals[name] += value
        return totals

    async def _scan_ids(self, suffix: str) -> list[str]:
        ids = []
        async for key in self.redis.scan_iter(match=acct_pattern(suffix), count=1000):
            ids.append(account_of(_text(key), suffix))
        return ids

    async def reservations(self, account_id: str) -> list[Reservation]:
        """Open reservations of one account."""
        raw = await self.redis.hgetall(acct_key(account_id, "reservations"))  # type: ignore[misc]
        return [self._reservation(account_id, _text(op), _text(v)) for op, v in raw.items()]

    @staticmethod
    def _reservation(account_id: str, op_id: str, value: str) -> Reservation:
        cents, product, created = value.split("|")
        return Reservation(account_id, op_id, from_cents(cents), product,
                           utc(int(created)))

    async def stale_reservations(self, older_than_s: float, scan: bool = False
                                 ) -> list[Reservation]:
        """Open reservations older than ``older_than_s`` across accounts, for recovery.

        Reads the index (cheap); with ``scan=True`` also SCANs every account's reservation
        hash, which finds one whose index write was lost to a crash.
        """
        cutoff = self._now_ms() - ms(older_than_s)
        found: dict[tuple[str, str], Reservation] = {}
        members = await self.redis.zrangebyscore(RESERVATION_INDEX, "-inf", cutoff / 1000)
        for member in members:
            account_id, op_id = _text(member).split("\t", 1)
            value = await self.redis.hget(acct_key(account_id, "reservations"), op_id)  # type: ignore[misc]
            if value is None:
                await self.redis.zrem(RESERVATION_INDEX, member)  # resolved meanwhile
                continue
            found[(account_id, op_id)] = self._reservation(account_id, op_id, _text(value))
        if scan:
            for account_id in await self._scan_ids("reservations"):
                for res in await self.reservations(account_id):
                    found.setdefault((account_id, res.op_id), res)
        return [r for r in found.values() if ms(r.created_at.timestamp()) <= cutoff]

    async def ledger(self, account_id: str, count: int | None = None) -> list[LedgerEntry]:
        """Ledger entries of one account, oldest first (all, or the first ``count``)."""
        entries: list[LedgerEntry] = []
        start = "-"
        while count is None or len(entries) < count:
            page = await self.redis.xrange(acct_key(account_id, "ledger"), start, "+", 1000)
            if not page:
                break
            entries.extend(self._entry(fields) for _, fields in page)
            start = "(" + _text(page[-1][0])
        return entries if count is None else entries[:count]

    @staticmethod
    def _entry(fields: Mapping[Any, Any]) -> LedgerEntry:
        f = {_text(k): _text(v) for k, v in fields.items()}
        return LedgerEntry(seq=int(f["seq"]), op_id=f["op"], kind=f["kind"], ts_ms=int(f["ts"]),
                           postings=parse_postings(f["postings"]))

    async def statement(self, account_id: str, month: str) -> Statement:
        """Activity statement for ``YYYY-MM``: deposits, withdrawals, stakes, returns, net."""
        if not is_month(month):
            raise ValidationFailed("month must be YYYY-MM", month=month)
        return build_statement(await self.ledger(account_id), month)




def _op(op_id: str) -> str:
    return f"op:{_check_op_id(op_id)}"
