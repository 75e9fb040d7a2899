"""Accounts: registration, login, KYC, limits, self-exclusion, closure, principals.

The account record lives in the same slot as the wallet (``{acct:<id>}:acct``) because the
wallet's scripts read status, KYC, jurisdiction, exclusion and limits in the same atomic step
that moves money. Password hashing is CPU-heavy, so it runs in a worker thread, never on the
event loop. Usernames are unique through ``username:<name>`` (SET NX), a key of its own slot.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import redis.asyncio as aioredis

from domain.clock import Clock, ms, rfc3339, utc
from domain.errors import (
    BadCredentials,
    Underage,
    UnknownAccount,
    UsernameTaken,
    ValidationFailed,
)
from domain.identity import KycStatus, PasswordHasher, Role
from domain.jurisdiction import ADULT_AGE, age_on, is_iso_country
from domain.limits import (
    PERMANENT_UNTIL_MS,
    ExclusionPeriod,
    LimitChange,
    LimitName,
    LimitState,
    exclusion_end_ms,
    plan_limit_change,
)
from domain.money import from_cents, to_cents
from storage.keys import acct_key, username_key
from storage.scripts import SCRIPTS, ScriptRunner, json_reply

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 256
_LIMIT_CAS_RETRIES = 20


@dataclass(frozen=True)
class LimitView:
    """One limit as the player sees it: what binds now and an increase still waiting."""

    value: Decimal | None
    pending: Decimal | None = None
    pending_effective_at: str | None = None
    has_pending: bool = False


@dataclass(frozen=True)
class Account:
    """An account (player or principal) as stored; times are aware UTC datetimes."""

    account_id: str
    username: str
    role: Role
    jurisdiction: str
    date_of_birth: date | None
    status: str
    kyc_status: KycStatus
    kyc_reason: str
    created_at: datetime
    excluded_until: datetime | None = None
    exclusion_permanent: bool = False
    limits: Mapping[str, LimitView] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        """Not closed."""
        return self.status == "open"


@dataclass(frozen=True)
class LimitChangeResult:
    """The answer to a limit change: when it binds (RFC 3339 UTC)."""

    name: str
    value: Decimal | None
    immediate: bool
    effective_at: str


@dataclass(frozen=True)
class Exclusion:
    """A self-exclusion in force; ``until`` is ``None`` when permanent."""

    period: ExclusionPeriod
    until: datetime | None
    until_rfc3339: str | None
    seq: int


@dataclass(frozen=True)
class Principal:
    """An operator or publisher credential; the password is shown once, at creation."""

    account_id: str
    name: str
    role: Role
    password: str


@dataclass(frozen=True)
class KycDecision:
    """A provider's verdict with its reason (kept for AML/CTF)."""

    status: KycStatus
    reason: str


class KycProvider(Protocol):
    """An identity provider adapter: submit a check, then poll for the verdict."""

    name: str

    async def submit(self, account_id: str, username: str, date_of_birth: date | None) -> None:
        """Start verifying ``account_id``."""
        ...

    async def poll(self, account_id: str) -> KycDecision | None:
        """The verdict, or ``None`` while still pending."""
        ...


class SimulatedKycProvider:
    """The demo provider: verifies ``delay_s`` after submission (by the injected clock).

    Usernames starting with ``reject`` are rejected, so demos can show both outcomes.
    """

    name = "simulated"

    def __init__(self, delay_s: float = 2.0, clock: Clock = time.time) -> None:
        self.delay_s = delay_s
        self.clock = clock
        self._submitted: dict[str, tuple[float, str]] = {}

    async def submit(self, account_id: str, username: str, date_of_birth: date | None) -> None:
        """Record the submission time."""
        self._submitted.setdefault(account_id, (self.clock(), username))

    async def poll(self, account_id: str) -> KycDecision | None:
        """Verified (or rejected) once ``delay_s`` has passed since submission."""
        entry = self._submitted.get(account_id)
        if entry is None or self.clock() < entry[0] + self.delay_s:
            return None
        if entry[1].lower().startswith("reject"):
            return KycDecision(KycStatus.REJECTED, "simulated provider: document mismatch")
        return KycDecision(KycStatus.VERIFIED, "simulated provider: documents verified")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_dob(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("date_of_birth must be YYYY-MM-DD", field="date_of_birth") from exc


def _limit_cents(value: Decimal | str | int | None) -> int | None:
    return None if value is None else to_cents(value)


def _limit_states(raw: Mapping[str, str]) -> dict[LimitName, LimitState]:
    def num(v: str | None) -> int | None:
        return None if v is None or v in ("", "none") else int(v)

    return {
        name: LimitState(
            current=num(raw.get(name.value)),
            pending=num(raw.get(f"{name.value}:next")),
            pending_at_ms=num(raw.get(f"{name.value}:next_at")),
        )
        for name in LimitName
    }


def _stored(state: LimitState) -> list[str]:
    """The three stored fields ('' deletes; a pending removal of the limit is 'none')."""
    current = "" if state.current is None else str(state.current)
    if state.pending_at_ms is None:
        return [current, "", ""]
    pending = "none" if state.pending is None else str(state.pending)
    return [current, pending, str(state.pending_at_ms)]


@dataclass(frozen=True)
class AccountsConfig:
    """What the accounts need of the platform's settings."""

    # a loosened limit binds only after this long (7 days is common practice)
    cooling_off_s: int = 7 * 24 * 3600
    # how long a decision id is remembered for an idempotent replay
    decision_ttl_s: int = 7 * 24 * 3600


_SET_LIMITS, _SELF_EXCLUDE = SCRIPTS["set_limits"], SCRIPTS["self_exclude"]
_KYC_DECIDE = SCRIPTS["kyc_decide"]


class Accounts:
    """Async account service over ``redis.asyncio``; shares the wallet's key slots."""

    def __init__(self, client: aioredis.Redis, config: AccountsConfig | None = None,
                 clock: Clock = time.time, hasher: PasswordHasher | None = None) -> None:
        self.redis = client
        self.config = config or AccountsConfig()
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.scripts = ScriptRunner(client)

    def _now_ms(self) -> int:
        return ms(self.clock())

    # --- registration and login ------------------------------------------------------

    async def register(self, username: str, password: str, jurisdiction: str,
                       date_of_birth: date | str) -> Account:
        """A new player account with KYC ``pending``.

        Raises ValidationFailed, Underage (under 18), UsernameTaken.
        """
        jurisdiction = self._check_registration(username, password, jurisdiction)
        dob = _parse_dob(date_of_birth)
        today = utc(self._now_ms()).date()
        if age_on(dob, today) < ADULT_AGE:
            raise Underage("players must be 18 or older")
        fields = {"jur": jurisdiction, "dob": dob.isoformat(), "kyc": KycStatus.PENDING.value}
        account_id = await self._create(username, password, Role.PLAYER, fields)
        return await self.get(account_id)

    @staticmethod
    def _check_registration(username: str, password: str, jurisdiction: str) -> str:
        if not USERNAME_RE.match(username or ""):
            raise ValidationFailed("username: 3–32 letters, digits, '_', '.', '-'",
                                   field="username")
        if not MIN_PASSWORD_LEN <= len(password or "") <= MAX_PASSWORD_LEN:
            raise ValidationFailed(f"password: {MIN_PASSWORD_LEN}–{MAX_PASSWORD_LEN} characters",
                                   field="password")
        code = (jurisdiction or "").upper()
        if not is_iso_country(code):
            raise ValidationFailed("jurisdiction must be an ISO 3166 alpha-2 code",
                                   field="jurisdiction")
        return code

    async def _create(self, username: str, password: str, role: Role,
                      fields: Mapping[str, str]) -> str:
        account_id = "a" + secrets.token_hex(8)
        pw_hash = await asyncio.to_thread(self.hasher.hash, password)
        record = {"username": username, "role": role.value, "status": "open", "pw": pw_hash,
                  "created_at": str(self._now_ms()), "excl_until": "0", "jur": "",
                  "kyc_reason": "", **fields}
        # the record first, then the name: a crash in between leaves an unreachable record,
        # never a name pointing at nothing
        await self.redis.hset(acct_key(account_id, "acct"), mapping=record)  # type: ignore[misc]
        if not await self.redis.set(username_key(username), account_id, nx=True):
            await self.redis.delete(acct_key(account_id, "acct"))
            raise UsernameTaken("that username is taken", field="username")
        return account_id

    async def account_id_of(self, username: str) -> str | None:
        """The account id registered under ``username``, if any."""
        raw = await self.redis.get(username_key(username))
        return None if raw is None else _s(raw)

    async def authenticate(self, username: str, password: str) -> Account:
        """The account for these credentials; BadCredentials for an unknown user or a wrong
        password alike (an unknown user is checked against a dummy hash: same time)."""
        raw_id = await self.redis.get(username_key(username or ""))
        account_id = _s(raw_id) if raw_id is not None else None
        stored = None
        if account_id is not None:
            stored = await self.redis.hget(acct_key(account_id, "acct"), "pw")  # type: ignore[misc]
        encoded = _s(stored) if stored is not None else None
        ok = await asyncio.to_thread(self.hasher.verify, password or "", encoded)
        if not ok or account_id is None or encoded is None:
            raise BadCredentials("unknown username or wrong password")
        if self.hasher.needs_rehash(encoded):
            await self._rehash(account_id, password, encoded)
        return await self.get(account_id)

    async def _rehash(self, account_id: str, password: str, old: str) -> None:
        """Replace a hash of the earlier scheme (scrypt) or of weaker parameters with a fresh
        argon2id one, now that the password is known to be right; only if the stored hash is
        still ``old`` (a concurrent login may have replaced it already)."""
        fresh = await asyncio.to_thread(self.hasher.hash, password)
        key = acct_key(account_id, "acct")
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                current = await pipe.hget(key, "pw")  # type: ignore[misc]
                if current is None or _s(current) != old:
                    return
                pipe.multi()
                pipe.hset(key, "pw", fresh)
                await pipe.execute()
            except aioredis.WatchError:
                return  # changed meanwhile: whoever changed it wrote a current hash

    async def create_principal(self, name: str, role: Role | str) -> Principal:
        """An operator, publisher or feed credential (for the CLI); log in with
        ``authenticate``."""
        role = Role(role)
        if role is Role.PLAYER:
            raise ValidationFailed("principals are operators, publishers or feeds", field="role")
        password = secrets.token_urlsafe(24)
        self._check_registration(name, password, "AU")
        account_id = await self._create(name, password, role,
                                        {"kyc": KycStatus.NOT_APPLICABLE.value})
        return Principal(account_id, name, role, password)

    # --- reads -----------------------------------------------------------------------

    async def get(self, account_id: str) -> Account:
        """The account with its effective limits; UnknownAccount if there is none."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(acct_key(account_id, "acct"))
            pipe.hgetall(acct_key(account_id, "limits"))
            raw, raw_limits = await pipe.execute()
        if not raw:
            raise UnknownAccount(f"no account {account_id}")
        return self._account(account_id, {_s(k): _s(v) for k, v in raw.items()},
                             {_s(k): _s(v) for k, v in raw_limits.items()})

    def _account(self, account_id: str, f: Mapping[str, str],
                 limits: Mapping[str, str]) -> Account:
        until_ms = int(f.get("excl_until") or 0)
        active = until_ms > self._now_ms()
        return Account(
            account_id=account_id, username=f["username"], role=Role(f["role"]),
            jurisdiction=f.get("jur", ""),
            date_of_birth=date.fromisoformat(f["dob"]) if f.get("dob") else None,
            status=f["status"], kyc_status=KycStatus(f.get("kyc", "pending")),
            kyc_reason=f.get("kyc_reason", ""), created_at=utc(int(f["created_at"])),
            excluded_until=utc(until_ms) if active else None,
            exclusion_permanent=active and until_ms >= PERMANENT_UNTIL_MS,
            limits=self._limit_views(limits),
        )

    def _limit_views(self, raw: Mapping[str, str]) -> dict[str, LimitView]:
        now = self._now_ms()
        views = {}
        for name, state in _limit_states(raw).items():
            value = state.effective(now)
            waiting = state.pending_at_ms is not None and state.pending_at_ms > now
            views[name.value] = LimitView(
                value=None if value is None else from_cents(value),
                pending=from_cents(state.pending) if waiting and state.pending else None,
                pending_effective_at=rfc3339(utc(state.pending_at_ms))
                if waiting and state.pending_at_ms else None,
                has_pending=waiting,
            )
        return views

    # --- KYC -------------------------------------------------------------------------

    async def decide_kyc(self, account_id: str, status: KycStatus | str, reason: str,
                         operator: str, decision_id: str = "") -> Account:
        """Set KYC to verified/rejected with the reason and who decided, atomically with its
        entry in the account's KYC log.

        ``decision_id`` makes the decision idempotent (a review id, say): the same decision
        again changes nothing, the other one is refused ``ALREADY_DECIDED``.
        """
        try:
            status = KycStatus(status)
        except ValueError as exc:
            raise ValidationFailed("status must be verified, rejected or pending") from exc
        if status not in (KycStatus.VERIFIED, KycStatus.REJECTED, KycStatus.PENDING):
            raise ValidationFailed("status must be verified, rejected or pending")
        if not reason:
            raise ValidationFailed("a KYC decision needs a reason", field="reason")
        keys, args = _KYC_DECIDE.call(
            {"acct": acct_key(account_id, "acct"), "kyc_log": acct_key(account_id, "kyc"),
             "decided": acct_key(account_id, f"kyc_decided:{decision_id}")},
            {"status": status.value, "reason": reason, "operator": operator,
             "now": self._now_ms(), "decision_id": decision_id,
             "ttl": self.config.decision_ttl_s})
        json_reply(await self.scripts.run(_KYC_DECIDE, keys, args))
        return await self.get(account_id)

    async def kyc_history(self, account_id: str) -> list[dict[str, str]]:
        """Every KYC decision with its reason, oldest first."""
        entries = await self.redis.xrange(acct_key(account_id, "kyc"))
        return [{_s(k): _s(v) for k, v in fields.items()} for _, fields in entries]

    async def submit_kyc(self, account_id: str, provider: KycProvider) -> None:
        """Hand the account to ``provider``."""
        account = await self.get(account_id)
        await provider.submit(account_id, account.username, account.date_of_birth)

    async def poll_kyc(self, account_id: str, provider: KycProvider) -> KycStatus:
        """Apply the provider's verdict if there is one; the current status either way."""
        decision = await provider.poll(account_id)
        if decision is None:
            return (await self.get(account_id)).kyc_status
        await self.decide_kyc(account_id, decision.status, decision.reason,
                              f"provider:{provider.name}")
        return decision.status

    async def run_kyc(self, account_id: str, provider: KycProvider, interval_s: float = 0.5,
                      timeout_s: float = 300.0) -> KycStatus:
        """Submit and poll until decided (spawn as a task from the HTTP layer)."""
        await self.submit_kyc(account_id, provider)
        deadline = time.monotonic() + timeout_s
        status = KycStatus.PENDING
        while status is KycStatus.PENDING and time.monotonic() < deadline:
            status = await self.poll_kyc(account_id, provider)
            if status is KycStatus.PENDING:
                await asyncio.sleep(interval_s)
        return status

    # --- limits, exclusion, closure ----------------------------------------------------

    async def set_limits(self, account_id: str,
                         changes: Mapping[str, Decimal | str | int | None]
                         ) -> list[LimitChangeResult]:
        """Change limits: decreases bind at once, increases after ``settings.cooling_off_s``.

        ``None`` removes a limit (a loosening, so it waits too). The wallet scripts read the
        stored current/pending values and apply whichever binds at the time of each operation.
        """
        requested = self._requested_limits(changes)
        for _ in range(_LIMIT_CAS_RETRIES):
            raw = await self.redis.hgetall(acct_key(account_id, "limits"))  # type: ignore[misc]
            stored = {_s(k): _s(v) for k, v in raw.items()}
            states, now = _limit_states(stored), self._now_ms()
            plans = [plan_limit_change(name, states[name], cents, now,
                                       self.config.cooling_off_s)
                     for name, cents in requested.items()]
            fields: list[str] = []
            for plan in plans:
                fields += [plan.name.value, *_stored(plan.state)]
            keys, args = _SET_LIMITS.call(
                {"acct": acct_key(account_id, "acct"), "limits": acct_key(account_id, "limits")},
                {"expected_ver": stored.get("ver", "0")}, fields)
            reply = json_reply(await self.scripts.run(_SET_LIMITS, keys, args))
            if not reply.get("retry"):
                return [self._change_result(p) for p in plans]
        raise ValidationFailed("limits are changing concurrently; try again")

    @staticmethod
    def _requested_limits(changes: Mapping[str, Decimal | str | int | None]
                          ) -> dict[LimitName, int | None]:
        out = {}
        for name, value in changes.items():
            try:
                out[LimitName(name)] = _limit_cents(value)
            except ValueError as exc:
                raise ValidationFailed(f"unknown limit {name!r}", field=name) from exc
        return out

    @staticmethod
    def _change_result(plan: LimitChange) -> LimitChangeResult:
        value = None if plan.requested is None else from_cents(plan.requested)
        return LimitChangeResult(plan.name.value, value, plan.immediate,
                                 rfc3339(utc(plan.effective_at_ms)))

    async def self_exclude(self, account_id: str, period: ExclusionPeriod | str) -> Exclusion:
        """Exclude at once (checked by every reserve); it can be extended, never shortened."""
        try:
            period = ExclusionPeriod(period)
        except ValueError as exc:
            raise ValidationFailed("period must be 3m, 6m, 1y, 5y or permanent") from exc
        now = self._now_ms()
        until = exclusion_end_ms(period, now)
        keys, args = _SELF_EXCLUDE.call(
            {"acct": acct_key(account_id, "acct"), "bal": acct_key(account_id, "bal")},
            {"until_ms": until, "period": period.value, "now": now})
        reply = json_reply(await self.scripts.run(_SELF_EXCLUDE, keys, args))
        until_ms = int(reply["until_ms"])
        permanent = until_ms >= PERMANENT_UNTIL_MS
        end = None if permanent else utc(until_ms)
        return Exclusion(period, end, rfc3339(end) if end else None, int(reply["seq"]))

    async def close(self, account_id: str) -> Account:
        """Close the account: no more deposits or bets; the player may still withdraw."""
        await self._require(account_id)
        await self.redis.hset(acct_key(account_id, "acct"), mapping={  # type: ignore[misc]
            "status": "closed", "closed_at": str(self._now_ms())})
        return await self.get(account_id)

    async def _require(self, account_id: str) -> None:
        if not await self.redis.exists(acct_key(account_id, "acct")):
            raise UnknownAccount(f"no account {account_id}")
