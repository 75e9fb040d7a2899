"""The wallet: balances, reservations and a double-entry ledger in Redis, changed only by Lua.

Every money movement is one atomic, idempotent script (``storage/lua``) on one account's slot:
keys are hash-tagged ``{acct:<id>}`` so Redis Cluster works unchanged. House sub-accounts
(deposits clearing, stakes held, payouts, withdrawals clearing) live beside the player's in the
same slot, and house totals are the sum over accounts. Money is integer cents inside Redis and
``Decimal`` here; time is the injected clock, passed to every script.

Key layout of account ``X`` (all in slot ``{acct:X}``):

- ``{acct:X}:acct``            hash: status, kyc, jur, excl_until (ms), username, role, ...
- ``{acct:X}:bal``             hash: ``player:*`` / ``house:*`` balances in cents, ``seq``
- ``{acct:X}:ledger``          stream: one entry per operation (seq, op, kind, ts, postings)
- ``{acct:X}:limits``          hash: ``<limit>``, ``<limit>:next``, ``<limit>:next_at``, ``ver``
- ``{acct:X}:deposits``        zset: deposits in the rolling windows (score = ms)
- ``{acct:X}:loss``            zset: stakes (+) and returns (−) in the loss window
- ``{acct:X}:reservations``    hash: bet id → ``cents|product|created_ms``
- ``{acct:X}:reviews``         hash: op id → held deposit/withdrawal awaiting a decision
- ``{acct:X}:op:<op>``         string: remembered outcome of an operation (idempotency)
- ``{acct:X}:resolved:<op>``   string: how a reservation was resolved (commit/release)
- ``{acct:X}:decided:<op>``    string: the decision on a held deposit/withdrawal
- ``{acct:X}:rl``              hash: the rate-limit token bucket
- ``wallet:reservations``      zset (its own slot): index of open reservations, for recovery
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from actors import protection as rules
from actors.protection import (
    JURISDICTION_RULES,
    Clock,
    JurisdictionRule,
    LedgerAccount,
    LedgerEntry,
    LimitName,
    PaymentMethod,
    Product,
    Statement,
)
from cluster.config import Settings
from storage.errors import (
    InvalidAmount,
    RateLimited,
    ValidationFailed,
    WalletError,
    error_from_code,
)

# Withdrawals at or above this go to a held, reviewed path (AML / large-value review).
WITHDRAWAL_REVIEW_THRESHOLD = Decimal("10000.00")
# Deposits at or above this are held for review before the money is usable (API: 202).
DEPOSIT_REVIEW_THRESHOLD = Decimal("25000.00")
RESERVATION_INDEX = "wallet:reservations"
MAX_OP_ID_LEN = 128
_LUA_DIR = Path(__file__).with_name("lua")
# Scripts that stand alone; every other script gets the shared wallet prelude prepended.
_STANDALONE = frozenset({"set_limits", "self_exclude"})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def acct_key(account_id: str, suffix: str) -> str:
    """A key of account ``account_id``'s slot."""
    return f"{{acct:{account_id}}}:{suffix}"


def betref_key(account_id: str) -> str:
    """The account's bet id → event id hash (written by the reserve script with the stake)."""
    return acct_key(account_id, "betref")


def bets_key(account_id: str) -> str:
    """The account's bet ids scored by placement time (written by the reserve script)."""
    return acct_key(account_id, "bets")


def _load_sources() -> dict[str, str]:
    prelude = (_LUA_DIR / "_common.lua").read_text()
    sources = {}
    for path in sorted(_LUA_DIR.glob("*.lua")):
        if path.stem.startswith("_"):
            continue
        body = path.read_text()
        sources[path.stem] = body if path.stem in _STANDALONE else prelude + "\n" + body
    return sources


_SOURCES = _load_sources()


class LuaScripts:
    """The scripts, read once, called by EVALSHA; on NOSCRIPT (e.g. a restarted server) the
    script is loaded again and the call retried."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SOURCES.items()}

    async def call(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run script ``name`` atomically on ``keys``."""
        argv = [str(a) for a in (*keys, *args)]
        try:
            return await self.client.evalsha(self.sha[name], len(keys), *argv)  # type: ignore[misc]
        except NoScriptError:
            await self.client.script_load(_SOURCES[name])
            return await self.client.evalsha(self.sha[name], len(keys), *argv)  # type: ignore[misc]

    async def call_json(self, name: str, keys: Sequence[str], args: Sequence[object]
                        ) -> dict[str, Any]:
        """Run a script that answers JSON; a ``{"err": code}`` answer is raised as its error."""
        return _json_reply(await self.call(name, keys, args))

    async def call_many(self, name: str, calls: Sequence[tuple[Sequence[str], Sequence[object]]],
                        before: Sequence[Sequence[object]] = (),
                        after: Sequence[Sequence[object]] = ()
                        ) -> list[dict[str, Any] | WalletError]:
        """Many runs of one JSON script in ONE round trip (a pipeline, not a transaction).

        Each run is still atomic on its own slot; errors come back per run. Safe to resend
        after NOSCRIPT because every wallet script is idempotent by operation id. ``before``
        and ``after`` are plain commands sent in the same round trip (idempotent writes only).
        """
        out: list[dict[str, Any] | WalletError] = []
        for reply in await self.pipeline(name, calls, before, after):
            try:
                out.append(_json_reply(reply))
            except WalletError as exc:
                out.append(exc)
        return out

    async def pipeline(self, name: str, calls: Sequence[tuple[Sequence[str], Sequence[object]]],
                       before: Sequence[Sequence[object]] = (),
                       after: Sequence[Sequence[object]] = ()) -> list[Any]:
        """The raw replies of many runs of script ``name`` sent in one round trip.

        Raises the first error of any command (a script's own refusals are JSON, not errors).
        """
        sha = self.sha[name]
        for attempt in range(2):
            async with self.client.pipeline(transaction=False) as pipe:
                for command in before:
                    pipe.execute_command(*command)
                for keys, args in calls:
                    pipe.evalsha(sha, len(keys), *(str(a) for a in (*keys, *args)))
                for command in after:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
            scripts = replies[len(before): len(before) + len(calls)]
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in scripts):
                await self.client.script_load(_SOURCES[name])
                continue
            break
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return list(scripts)


def _json_reply(raw: Any) -> dict[str, Any]:
    reply: dict[str, Any] = orjson.loads(raw)
    if "err" in reply:
        code, detail = reply.pop("err"), reply.pop("detail", "")
        raise error_from_code(code, detail, **_money_extra(reply))
    return reply


def _money_extra(fields: dict[str, Any]) -> dict[str, Any]:
    """``*_cents`` fields of an error become Decimal fields without the suffix."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key.endswith("_cents"):
            out[key.removesuffix("_cents")] = rules.from_cents(value)
        elif key.endswith("_ms"):
            out[key.removesuffix("_ms")] = rules.rfc3339(rules.utc(int(value)))
        else:
            out[key] = value
    return out


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
            amount=rules.from_cents(reply["amount"]),
            available=rules.from_cents(reply["available"]), seq=int(reply["seq"]),
            at=rules.utc(int(reply["ts"])), replayed=bool(reply.get("replayed", False)),
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


@dataclass(frozen=True)
class RateDecision:
    """A token-bucket answer; ``retry_after_s`` > 0 when refused."""

    allowed: bool
    retry_after_s: float


def _check_op_id(op_id: str) -> str:
    if not op_id or len(op_id) > MAX_OP_ID_LEN:
        raise ValidationFailed(f"operation id must be 1–{MAX_OP_ID_LEN} characters")
    return op_id


def _enum(kind: type[PaymentMethod] | type[Product], value: str) -> str:
    try:
        return kind(value).value
    except ValueError as exc:
        raise ValidationFailed(f"unknown {kind.__name__}: {value!r}") from exc


def _cents(amount: Decimal | str | int) -> int:
    try:
        return rules.to_cents(amount)
    except rules.InvalidAmount as exc:
        raise InvalidAmount(str(exc), amount=str(amount)) from exc


class Wallet:
    """Async wallet over ``redis.asyncio``; every change is one Lua script on one slot."""

    def __init__(self, client: aioredis.Redis, settings: Settings, clock: Clock = time.time,
                 rules_table: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> None:
        self.redis = client
        self.settings = settings
        self.clock = clock
        self.scripts = LuaScripts(client)
        self._blocked_products = rules.encode_blocked(rules_table, "products")
        self._blocked_methods = rules.encode_blocked(rules_table, "methods")
        self._withdraw_review = rules.to_cents(WITHDRAWAL_REVIEW_THRESHOLD)
        self._deposit_review = rules.to_cents(DEPOSIT_REVIEW_THRESHOLD)

    # --- plumbing ----------------------------------------------------------------------

    def _now_ms(self) -> int:
        return rules.ms(self.clock())

    @staticmethod
    def _keys(account_id: str, op_key: str, aux_key: str = "aux") -> list[str]:
        names = ("acct", "bal", "ledger", "limits", "deposits", "loss", "reservations", "reviews")
        return [acct_key(account_id, n) for n in names] + [
            acct_key(account_id, op_key), acct_key(account_id, aux_key)]

    async def _run(self, script: str, account_id: str, op_id: str, fingerprint: str,
                   extra: Sequence[object], op_key: str | None = None,
                   aux_key: str = "aux") -> Receipt:
        keys = self._keys(account_id, op_key or f"op:{_check_op_id(op_id)}", aux_key)
        args = [self._now_ms(), op_id, fingerprint, self.settings.idempotency_ttl_s, *extra]
        return Receipt.from_reply(await self.scripts.call_json(script, keys, args))

    # --- money movements ----------------------------------------------------------------

    async def deposit(self, account_id: str, op_id: str, amount: Decimal | str | int,
                      method: PaymentMethod | str = PaymentMethod.DEBIT_CARD) -> Receipt:
        """Pay money in; ``status`` is ``completed`` or ``pending_review`` (held, API 202).

        Raises DepositLimit, JurisdictionBlocked (e.g. AU credit card), SelfExcluded,
        AccountClosed, UnknownAccount, IdempotencyKeyReused, InvalidAmount.
        """
        cents, method = _cents(amount), _enum(PaymentMethod, method)
        windows = [rules.LIMIT_WINDOWS_MS[n] for n in (
            LimitName.DEPOSIT_DAILY, LimitName.DEPOSIT_WEEKLY, LimitName.DEPOSIT_MONTHLY)]
        extra = [cents, method, self._blocked_methods, self._deposit_review, *windows]
        return await self._run("deposit", account_id, op_id, f"deposit|{cents}|{method}", extra)

    async def withdraw(self, account_id: str, op_id: str, amount: Decimal | str | int
                       ) -> Receipt:
        """Pay money out; large amounts are held (``pending_review``) until an operator decides.

        Raises InsufficientFunds, UnknownAccount, IdempotencyKeyReused, InvalidAmount.
        """
        cents = _cents(amount)
        extra = [cents, self._withdraw_review]
        return await self._run("withdraw", account_id, op_id, f"withdraw|{cents}", extra)

    async def approve_withdrawal(self, account_id: str, op_id: str, operator: str,
                                 reason: str) -> Receipt:
        """Pay out a held withdrawal."""
        return await self._decide(account_id, op_id, "approve", operator, reason)

    async def reject_withdrawal(self, account_id: str, op_id: str, operator: str,
                                reason: str) -> Receipt:
        """Refuse a held withdrawal: the money returns to the player's available balance."""
        return await self._decide(account_id, op_id, "reject", operator, reason)

    async def approve_deposit(self, account_id: str, op_id: str, operator: str,
                              reason: str) -> Receipt:
        """Release a held deposit to the player's balance."""
        return await self._decide(account_id, op_id, "approve", operator, reason)

    async def reject_deposit(self, account_id: str, op_id: str, operator: str,
                             reason: str) -> Receipt:
        """Refuse a held deposit: the money goes back to its source."""
        return await self._decide(account_id, op_id, "reject", operator, reason)

    async def _decide(self, account_id: str, op_id: str, decision: str, operator: str,
                      reason: str) -> Receipt:
        return await self._run("review", account_id, op_id, decision, [operator, reason],
                               op_key=f"decided:{_check_op_id(op_id)}")

    async def pending_reviews(self, account_id: str) -> dict[str, dict[str, Any]]:
        """Held deposits/withdrawals of one account: op id → {kind, amount, ts, ...}."""
        raw = await self.redis.hgetall(acct_key(account_id, "reviews"))  # type: ignore[misc]
        out = {}
        for op, body in raw.items():
            item = orjson.loads(body)
            item["amount"] = rules.from_cents(item["amount"])
            out[_text(op)] = item
        return out

    async def reserve(self, account_id: str, op_id: str, amount: Decimal | str | int,
                      product: Product | str) -> Receipt:
        """Hold a stake for bet ``op_id`` after every player-protection check, atomically.

        Raises AccountClosed, SelfExcluded, KycRequired, JurisdictionBlocked, LimitExceeded
        (stake_max / loss_daily), InsufficientFunds, UnknownAccount, IdempotencyKeyReused.
        """
        keys, args = self._reserve_call(account_id, op_id, amount, product)
        receipt = Receipt.from_reply(await self.scripts.call_json("reserve", keys, args))
        if not receipt.replayed:
            # the index is only a finder: the per-account hash is the truth, and a crash right
            # here is covered by the scan in stale_reservations(scan=True)
            member = f"{account_id}\t{op_id}"
            await self.redis.zadd(RESERVATION_INDEX, {member: receipt.at.timestamp()})
        return receipt

    def _reserve_call(self, account_id: str, op_id: str, amount: Decimal | str | int,
                      product: Product | str) -> tuple[list[str], list[object]]:
        cents, product = _cents(amount), _enum(Product, product)
        keys = self._keys(account_id, f"op:{_check_op_id(op_id)}")
        # the product is not part of the fingerprint: a retry after the event went in play
        # is the same bet (the event book refuses in-play bets where they are not allowed)
        args: list[object] = [
            self._now_ms(), op_id, f"reserve|{cents}", self.settings.idempotency_ttl_s, cents,
            product, self._blocked_products, rules.LIMIT_WINDOWS_MS[LimitName.LOSS_DAILY]]
        return keys, args

    async def reserve_many(self, items: Sequence[tuple[str, str, Decimal, str]],
                           bets_for_event: str | None = None
                           ) -> list[Receipt | WalletError]:
        """``reserve`` for many (account, bet id, amount, product) in one round trip.

        The same round trip indexes them for ``stale_reservations`` (an index entry of a
        refused reserve is harmless: the reader drops entries with no reservation behind).

        ``bets_for_event``: these are bets on that event, and each reservation also takes a
        token from the account's rate limit (``RateLimited`` when empty; a replay is free) and
        records the bet's event and time (``{acct:}:betref``, ``{acct:}:bets``) — all in the
        same atomic script, so a reserved bet can always be traced to its event.
        """
        calls = []
        for item in items:
            keys, args = self._reserve_call(*item)
            if bets_for_event is not None:
                account_id = item[0]
                keys += [acct_key(account_id, "rl"), betref_key(account_id),
                         bets_key(account_id)]
                args += [self.settings.rate_limit_per_s, self.settings.rate_limit_burst,
                         bets_for_event]
            calls.append((keys, args))
        now = self.clock()
        index = [("ZADD", RESERVATION_INDEX, *(x for a, op, *_ in items
                                               for x in (now, f"{a}\t{op}")))] if items else []
        replies = await self.scripts.call_many("reserve", calls, after=index)
        return [r if isinstance(r, WalletError) else Receipt.from_reply(r) for r in replies]

    async def resolve_many(self, items: Sequence[tuple[str, str, str]]
                           ) -> list[Receipt | WalletError]:
        """Commit or release many (account, op id, "commit"|"release") in one round trip."""
        calls = []
        for account_id, op_id, action in items:
            keys = self._keys(account_id, f"resolved:{_check_op_id(op_id)}")
            calls.append((keys, [self._now_ms(), op_id, action, self.settings.idempotency_ttl_s]))
        # resolved, already resolved or never there: either way it leaves the index
        unindex = [("ZREM", RESERVATION_INDEX, *(f"{a}\t{op}" for a, op, _ in items))] \
            if items else []
        replies = await self.scripts.call_many("resolve", calls, after=unindex)
        return [r if isinstance(r, WalletError) else Receipt.from_reply(r) for r in replies]

    async def commit(self, account_id: str, op_id: str) -> Receipt:
        """The bet was accepted: move its reservation to the house's stakes held."""
        return await self._resolve(account_id, op_id, "commit")

    async def release(self, account_id: str, op_id: str) -> Receipt:
        """The bet was rejected: return its reservation to the player."""
        return await self._resolve(account_id, op_id, "release")

    async def resolve_reservation(self, account_id: str, op_id: str,
                                  action: Literal["commit", "release"]) -> Receipt:
        """Finish a reservation found by ``stale_reservations`` (crash recovery)."""
        if action not in ("commit", "release"):
            raise ValidationFailed("action must be commit or release")
        return await self._resolve(account_id, op_id, action)

    async def _resolve(self, account_id: str, op_id: str, action: str) -> Receipt:
        receipt = await self._run("resolve", account_id, op_id, action, [],
                                  op_key=f"resolved:{_check_op_id(op_id)}")
        await self.redis.zrem(RESERVATION_INDEX, f"{account_id}\t{op_id}")
        return receipt

    async def credit(self, account_id: str, op_id: str, amount: Decimal | str | int,
                     ref: str = "") -> Receipt:
        """Pay a settlement; ``op_id`` like ``<bet_id>:<settlement_version>`` (kept forever)."""
        cents = _cents(amount)
        extra = [cents, ref, rules.LIMIT_WINDOWS_MS[LimitName.LOSS_DAILY]]
        return await self._run("credit", account_id, op_id, f"credit|{cents}|{ref}", extra)

    async def reverse(self, account_id: str, op_id: str, credit_op_id: str) -> Receipt:
        """Net out credit ``credit_op_id`` exactly (resettlement/rollback); a shortfall the
        player already spent becomes ``debt``, repaid first by later money in."""
        aux = f"op:{_check_op_id(credit_op_id)}"
        return await self._run("reverse", account_id, op_id, f"reverse|{credit_op_id}",
                               [credit_op_id], aux_key=aux)

    # --- protection helpers ----------------------------------------------------------

    async def rate_limit(self, account_id: str, cost: int = 1) -> RateDecision:
        """Take ``cost`` tokens from the account's bucket or raise RateLimited(retry_after_s)."""
        allowed, retry_ms = await self.scripts.call(
            "rate_limit", [acct_key(account_id, "rl")],
            [self._now_ms(), self.settings.rate_limit_per_s, self.settings.rate_limit_burst,
             cost])
        if not int(allowed):
            retry = int(retry_ms) / 1000
            raise RateLimited("too many requests", retry_after_s=retry)
        return RateDecision(True, 0.0)

    # --- reads -----------------------------------------------------------------------

    async def balance(self, account_id: str) -> Balance:
        """The player's balances (zero for an account that never moved money)."""
        raw = await self.redis.hgetall(acct_key(account_id, "bal"))  # type: ignore[misc]
        cents = {_text(k): int(v) for k, v in raw.items()}
        get = lambda a: rules.from_cents(cents.get(a.value, 0))  # noqa: E731
        return Balance(
            available=get(LedgerAccount.AVAILABLE), reserved=get(LedgerAccount.RESERVED),
            deposit_hold=get(LedgerAccount.DEPOSIT_HOLD),
            withdrawal_hold=get(LedgerAccount.WITHDRAWAL_HOLD),
            debt=-get(LedgerAccount.DEBT), seq=cents.get("seq", 0))

    async def books(self, account_id: str) -> dict[LedgerAccount, Decimal]:
        """Every ledger account of this slot, signed (they sum to zero)."""
        raw = await self.redis.hgetall(acct_key(account_id, "bal"))  # type: ignore[misc]
        return {LedgerAccount(_text(k)): rules.from_cents(v) for k, v in raw.items()
                if _text(k) != "seq"}

    async def house_totals(self, account_ids: Iterable[str] | None = None
                           ) -> dict[LedgerAccount, Decimal]:
        """House sub-accounts summed across players (all accounts when ``None``: SCAN)."""
        ids = list(account_ids) if account_ids is not None else await self._scan_ids("bal")
        totals = dict.fromkeys(rules.HOUSE_ACCOUNTS, Decimal("0.00"))
        for account_id in ids:
            for name, value in (await self.books(account_id)).items():
                if name in totals:
                    totals[name] += value
        return totals

    async def _scan_ids(self, suffix: str) -> list[str]:
        ids = []
        async for key in self.redis.scan_iter(match=f"{{acct:*}}:{suffix}", count=1000):
            ids.append(_text(key)[len("{acct:"):-len("}:" + suffix)])
        return ids

    async def reservations(self, account_id: str) -> list[Reservation]:
        """Open reservations of one account."""
        raw = await self.redis.hgetall(acct_key(account_id, "reservations"))  # type: ignore[misc]
        return [self._reservation(account_id, _text(op), _text(v)) for op, v in raw.items()]

    @staticmethod
    def _reservation(account_id: str, op_id: str, value: str) -> Reservation:
        cents, product, created = value.split("|")
        return Reservation(account_id, op_id, rules.from_cents(cents), product,
                           rules.utc(int(created)))

    async def stale_reservations(self, older_than_s: float, scan: bool = False
                                 ) -> list[Reservation]:
        """Open reservations older than ``older_than_s`` across accounts, for recovery.

        Reads the index (cheap); with ``scan=True`` also SCANs every account's reservation
        hash, which finds one whose index write was lost to a crash.
        """
        cutoff = self._now_ms() - rules.ms(older_than_s)
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
        return [r for r in found.values() if rules.ms(r.created_at.timestamp()) <= cutoff]

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
                           postings=rules.parse_postings(f["postings"]))

    async def statement(self, account_id: str, month: str) -> Statement:
        """Activity statement for ``YYYY-MM``: deposits, withdrawals, stakes, returns, net."""
        if not rules.is_month(month):
            raise ValidationFailed("month must be YYYY-MM", month=month)
        return rules.build_statement(await self.ledger(account_id), month)


__all__ = [
    "DEPOSIT_REVIEW_THRESHOLD",
    "RESERVATION_INDEX",
    "WITHDRAWAL_REVIEW_THRESHOLD",
    "Balance",
    "LuaScripts",
    "RateDecision",
    "Receipt",
    "Reservation",
    "Wallet",
    "WalletError",
    "acct_key",
]
