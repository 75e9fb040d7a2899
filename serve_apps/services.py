"""The application services the HTTP routes use, one per area, built once per API replica.

A route asks for the one service it needs (``serve_apps.deps``), never for everything, and no
route holds a Redis client or knows a key: bets, events, accounts, wallet, reviews, audit,
media and readiness each hide their storage and actors behind a few typed methods. Nothing
here knows HTTP; ``serve_apps.views`` turns what they return into JSON.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from actors.event_actor import ActorConfig, CashoutRequest
from actors.feed import FeedAdapters
from actors.odds_cache import OddsCacheClient, OddsCacheConfig
from actors.registry import EventClient, EventRegistry
from actors.saga import BetSaga, SagaConfig
from actors.settlement import SettlementClient
from actors.sweeper import sweeper_alive
from domain import errors
from domain.bets import BetDecision, PlaceBet, bet_id_for
from domain.book import bet_delay_is_safe, market_spec
from domain.cashout import CashoutDecision, Quote
from domain.events import (
    BetAccepted,
    BetCashedOut,
    BetHeld,
    EventCreated,
    EventStatus,
    MarketStatus,
    OddsPolicy,
)
from domain.feed import MAX_SEQ, Ack, AckStatus, FeedMessage, parse
from domain.identity import KycStatus, Role, TokenError, TokenSigner
from domain.jurisdiction import PaymentMethod, Product, product_allowed
from domain.ledger import Statement
from domain.limits import ExclusionPeriod
from domain.settlement import MarketResult
from domain.views import EventSummary, EventView, ExposureView
from media.entitlements import EntitlementStore
from media.playlist import Tier
from serve_apps.streams import OddsStreams, StreamConfig
from storage.accounts import (
    Account,
    Accounts,
    AccountsConfig,
    Exclusion,
    KycProvider,
    LimitChangeResult,
    SimulatedKycProvider,
)
from storage.bet_index import BetIndex, FoundBet
from storage.catalog import Catalog
from storage.journal import ChainBroken, verify_chain
from storage.login_throttle import LoginThrottle, LoginThrottleConfig
from storage.redis_client import async_client, sync_client
from storage.reviews import ReviewItem, ReviewKind, ReviewQueue, review_id
from storage.revocations import RevocationCache, Revocations
from storage.settlement import MarketTotals, SettlementStore
from storage.wallet import Balance, Receipt, Wallet, WalletConfig

# an idempotency key as the API takes it
MAX_KEY_LEN = 64
# the bets of one slip (POST /v1/betslips)
MAX_SLIP_BETS = 20


@dataclass(frozen=True)
class MarketDefaults:
    """The limits a market gets when its definition does not say."""

    in_play_delay_s: float = 5.0
    max_liability: Decimal = Decimal("100000.00")
    max_stake: Decimal = Decimal("10000.00")
    max_payout: Decimal = Decimal("250000.00")


@dataclass(frozen=True)
class ApiConfig:
    """Everything an API replica needs, built by ``cluster`` from the platform's settings."""

    redis_url: str
    actor: ActorConfig
    wallet: WalletConfig = field(default_factory=WalletConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    saga: SagaConfig = field(default_factory=SagaConfig)
    markets: MarketDefaults = field(default_factory=MarketDefaults)
    token_ttl_s: int = 12 * 3600
    # "simulated": a demo identity provider verifies new accounts; "manual": operators do
    kyc_provider: str = "simulated"
    kyc_delay_s: float = 2.0
    media_region: str = "local"
    # POST /v1/bets answered from ASGI around FastAPI's routing (serve_apps.app)
    fast_bets: bool = True
    # Serve's per-request watch for a client hanging up (serve_apps.app)
    watch_disconnects: bool = False
    # the settlement actors (settlement:0 .. settlement:<n-1>)
    settlement_pool: int = 2
    # the odds stream (GET /v1/events/{event_id}/stream)
    streams: StreamConfig = field(default_factory=StreamConfig)
    # the file holding the token-signing key (the home's secret): a replica reads the key
    # itself, so it is never a deployment argument that Serve's config and dashboard show
    token_key_file: str = ""
    # POST /v1/sessions: backoff per account name and per address (storage.login_throttle)
    login_throttle: LoginThrottleConfig = field(default_factory=LoginThrottleConfig)

    def odds_cache(self) -> OddsCacheConfig:
        """The odds cache players read from: this machine's region (the first)."""
        return OddsCacheConfig(region=self.actor.regions[0], actor=self.actor)


@dataclass(frozen=True)
class Principal:
    """The caller: an account id and its role (from a verified token)."""

    account_id: str
    role: Role


class Authenticator:
    """Bearer tokens: who is calling, and tokens for who logged in."""

    def __init__(self, signer: TokenSigner, ttl_s: int,
                 revocations: RevocationCache | None = None) -> None:
        self.signer, self.ttl_s, self.revocations = signer, ttl_s, revocations

    @classmethod
    def for_replica(cls, token_key: str, redis_url: str, ttl_s: int) -> Authenticator:
        """A replica's authenticator: tokens signed with ``token_key``, checked against the
        revocations in Redis (``storage.revocations``)."""
        store = Revocations(sync_client(redis_url, socket_timeout=1, socket_connect_timeout=1))
        return cls(TokenSigner(token_key), ttl_s, RevocationCache(store))

    def principal(self, authorization: str) -> Principal:
        """The caller named by an ``Authorization`` header value (UNAUTHENTICATED otherwise)."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.Unauthenticated("a bearer token is required",
                                         headers_hint="Authorization: Bearer <token>")
        try:
            claims = self.signer.verify(token.strip())
        except (TokenError, ValueError) as exc:
            raise errors.Unauthenticated(str(exc)) from exc
        if self.revocations is not None and self.revocations.revoked(claims):
            raise errors.Unauthenticated("token revoked")
        return Principal(claims.subject, claims.role)


def read_token_key(path: str) -> str:
    """The token-signing key from its file (``ApiConfig.token_key_file``)."""
    if not path:
        raise RuntimeError("no token key file configured (ApiConfig.token_key_file)")
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(f"cannot read the token key file {path}: {exc}") from exc
    if not key:
        raise RuntimeError(f"the token key file {path} is empty")
    return key


def require_role(who: Principal, *roles: Role) -> Principal:
    """``who`` if their role is one of ``roles`` (FORBIDDEN otherwise)."""
    if who.role not in roles:
        names = " or ".join(sorted(r.value for r in roles))
        raise errors.Forbidden(f"this needs the role {names}")
    return who


def check_idempotency_key(key: str) -> str:
    """An ``Idempotency-Key`` header's value, if it is one (IDEMPOTENCY_KEY_REQUIRED)."""
    if not 1 <= len(key) <= MAX_KEY_LEN or not key.isprintable():
        raise errors.IdempotencyKeyRequired(
            f"an Idempotency-Key header of 1-{MAX_KEY_LEN} printable characters is required")
    return key


def check_slip_keys(keys: Sequence[str]) -> list[str]:
    """A bet slip's idempotency keys, if there are at most ``MAX_SLIP_BETS``, each a key and
    no two alike (VALIDATION_ERROR otherwise: two bets with one key would be one bet)."""
    if len(keys) > MAX_SLIP_BETS:
        raise errors.ValidationFailed(f"a slip holds at most {MAX_SLIP_BETS} bets, "
                                      f"not {len(keys)}")
    for index, key in enumerate(keys):
        try:
            check_idempotency_key(key)  # the header's rules
        except errors.IdempotencyKeyRequired:
            raise errors.ValidationFailed(f"bets.{index}.idempotency_key: 1-{MAX_KEY_LEN} "
                                          "printable characters are required") from None
    repeated = sorted(key for key, count in Counter(keys).items() if count > 1)
    if repeated:
        raise errors.ValidationFailed(f"each bet of a slip needs its own idempotency_key; "
                                      f"repeated: {', '.join(repeated)}")
    return list(keys)


class Background:
    """Tasks started by a request that outlive it (kept referenced so they are not lost)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# ---------------------------------------------------------------- bets


@dataclass(frozen=True)
class BetPage:
    items: list[FoundBet]
    next_cursor: int | None


@dataclass(frozen=True)
class SlipBet:
    """One bet of a slip: what ``BetService.place`` takes, with the bet's own key."""

    idempotency_key: str
    event_id: str
    market_id: str
    selection_id: str
    stake: Decimal
    price: Decimal
    policy: OddsPolicy = OddsPolicy.NONE
    price_version: int | None = None


class BetService:
    """Place bets (the saga), find a player's own bets (the bet index), cash them out."""

    def __init__(self, saga: BetSaga, index: BetIndex, accounts: Accounts,
                 settlement: SettlementClient) -> None:
        self.saga, self.index, self.accounts = saga, index, accounts
        self.settlement = settlement
        self._jurisdictions: dict[str, str] = {}

    async def place(self, who: Principal, idempotency_key: str, event_id: str, market_id: str,
                    selection_id: str, stake: Decimal, price: Decimal, policy: OddsPolicy,
                    price_version: int | None, waited_s: float = 0.0) -> BetDecision:
        """The bet's decision (raises its refusal when the book or the wallet refused it).
        ``waited_s``: how long the request had been inside the platform when it got here
        (``serve_apps.arrival``): it counts against the saga's queue limit."""
        require_role(who, Role.PLAYER)
        key = check_idempotency_key(idempotency_key)
        cmd = PlaceBet(bet_id_for(who.account_id, key), who.account_id, market_id, selection_id,
                       stake, price, policy, price_version,
                       await self._in_play_allowed(who.account_id))
        return await self.saga.submit([cmd], Product.SPORT_PREMATCH.value, event_id,
                                      waited_s)[0]

    async def place_slip(self, who: Principal, bets: Sequence[SlipBet], waited_s: float = 0.0
                         ) -> list[BetDecision | BaseException]:
        """Each bet's decision or refusal, in the slip's order: what ``place`` would return
        or raise for it. One bet's refusal never touches another's outcome.

        The bets of one event are handed to the saga together, with nothing awaited between
        them, so they leave in one batch (one wallet pipeline, one actor call). Raises only
        for the whole slip: the caller's role, or its keys (``check_slip_keys``).
        """
        require_role(who, Role.PLAYER)
        check_slip_keys([bet.idempotency_key for bet in bets])
        if not bets:
            return []
        in_play = await self._in_play_allowed(who.account_id)
        by_event: dict[str, list[int]] = {}
        for index, bet in enumerate(bets):
            by_event.setdefault(bet.event_id, []).append(index)
        waiting: dict[int, asyncio.Future[BetDecision]] = {}
        refused: dict[int, BaseException] = {}
        for event_id, indexes in by_event.items():  # no await in this loop: see above
            cmds = [PlaceBet(bet_id_for(who.account_id, b.idempotency_key), who.account_id,
                             b.market_id, b.selection_id, b.stake, b.price, b.policy,
                             b.price_version, in_play)
                    for b in (bets[i] for i in indexes)]
            try:
                futures = self.saga.submit(cmds, Product.SPORT_PREMATCH.value, event_id,
                                           waited_s)
            except errors.DomainError as exc:  # Overloaded: the event has too many waiting
                refused.update(dict.fromkeys(indexes, exc))
                continue
            waiting.update(zip(indexes, futures, strict=True))
        done = await asyncio.gather(*waiting.values(), return_exceptions=True)
        outcomes: dict[int, BetDecision | BaseException] = {
            **dict(zip(waiting, done, strict=True)), **refused}
        return [outcomes[index] for index in range(len(bets))]

    async def _in_play_allowed(self, account_id: str) -> bool:
        # an account's jurisdiction never changes, so it is cached (bounded)
        found = self._jurisdictions.get(account_id)
        if found is None:
            found = (await self.accounts.get(account_id)).jurisdiction
            if len(self._jurisdictions) > 100_000:
                self._jurisdictions.clear()
            self._jurisdictions[account_id] = found
        return product_allowed(found, Product.SPORT_INPLAY)

    async def get(self, who: Principal, bet_id: str) -> FoundBet:
        """One of the caller's bets; another player's bet is indistinguishable from none."""
        found = (await self.index.find(who.account_id, [bet_id])).get(bet_id)
        if found is None:
            raise errors.UnknownBet(f"no bet {bet_id}")
        return found

    async def _event_of(self, who: Principal, bet_id: str) -> EventClient:
        event_id = (await self.index.events_of(who.account_id, [bet_id]))[0]
        if event_id is None:
            raise errors.UnknownBet(f"no bet {bet_id}")
        return await self.saga.handles.get(event_id)

    async def cashout_quote(self, who: Principal, bet_id: str) -> Quote:
        """What the book offers for one of the caller's bets now."""
        require_role(who, Role.PLAYER)
        event = await self._event_of(who, bet_id)
        return await event.cashout_quote(CashoutRequest(bet_id, who.account_id, ""))

    async def cash_out(self, who: Principal, idempotency_key: str, bet_id: str,
                       quote_id: str | None, amount: Decimal | None, policy: OddsPolicy
                       ) -> tuple[str, CashoutDecision]:
        """Cash out one of the caller's bets; (event id, the decision). Settlement pays it."""
        require_role(who, Role.PLAYER)
        key = check_idempotency_key(idempotency_key)
        event = await self._event_of(who, bet_id)
        request_id = bet_id_for(who.account_id, f"cashout\0{key}")
        decision = await event.cash_out(CashoutRequest(bet_id, who.account_id, request_id,
                                                       quote_id, amount, policy))
        if isinstance(decision, BetCashedOut):
            await self.settlement.kick(event.event_id)
        return event.event_id, decision

    async def page(self, who: Principal, status: str | None, limit: int, cursor: int
                   ) -> BetPage:
        """The caller's bets, newest first, from position ``cursor``; ``status`` filters."""
        items: list[FoundBet] = []
        position: int | None = cursor
        while len(items) < limit and position is not None:
            ids = await self.index.newest(who.account_id, position, limit * 2)
            if not ids:
                position = None
                break
            found = await self.index.find(who.account_id, ids)
            for offset, bet_id in enumerate(ids):
                bet = found.get(bet_id)
                if bet is not None and (status is None or status_of(bet) == status):
                    items.append(bet)
                    if len(items) == limit:
                        position += offset + 1
                        break
            else:
                position += len(ids)
        return BetPage(items, position)


def status_of(bet: FoundBet) -> str:
    """A bet's API status: its settlement's once settled, else its decision's."""
    decision = bet.decision
    if isinstance(decision, BetCashedOut):
        return "cashed_out"
    if isinstance(decision, BetAccepted):
        settled = bet.settlement.status if bet.settlement is not None else None
        return "accepted" if settled is None else settled.value
    if isinstance(decision, BetHeld):
        return "pending"
    return "rejected"


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class SelectionDefinition:
    selection_id: str | None
    name: str
    price: Decimal


@dataclass(frozen=True)
class MarketDefinition:
    market_id: str | None
    name: str
    selections: list[SelectionDefinition]
    in_play_delay_s: float | None = None
    max_liability: Decimal | None = None
    max_stake: Decimal | None = None
    max_payout: Decimal | None = None


class EventService:
    """Events and their markets: the event actors (the authority) and the catalog (listings)."""

    def __init__(self, registry: EventRegistry, catalog: Catalog, defaults: MarketDefaults,
                 settlement: SettlementClient, odds: OddsCacheClient | None = None) -> None:
        self.registry, self.catalog, self.defaults = registry, catalog, defaults
        self.settlement = settlement
        self.odds = odds

    async def listing(self) -> list[EventSummary]:
        return await self.catalog.list()

    async def view(self, event_id: str) -> EventView:
        """The event as players see it: from the region's odds cache (a read that must see
        its own write, an operator's, asks the event actor: ``authority_view``)."""
        if self.odds is None:
            return await self.authority_view(event_id)
        return await self.odds.view(event_id)

    async def authority_view(self, event_id: str) -> EventView:
        """The event from its actor, after every change it has acknowledged."""
        return await (await self.registry.get(event_id)).view()

    async def exposure(self, event_id: str) -> ExposureView:
        return await (await self.registry.get(event_id)).exposure()

    async def create(self, event_id: str | None, name: str, sport: str, starts_at: str,
                     markets: list[MarketDefinition]) -> EventView:
        """A new event, ``scheduled`` with its markets ``open``; ids filled in when missing."""
        spec = self._spec(event_id or f"ev-{secrets.token_hex(6)}", name, sport, starts_at,
                          markets)
        client = await self.registry.get(spec.event_id, create=True)
        view = await client.create_event(spec)
        await self.catalog.upsert(view)
        return view

    def _spec(self, event_id: str, name: str, sport: str, starts_at: str,
              markets: list[MarketDefinition]) -> EventCreated:
        d = self.defaults
        specs = []
        for m_index, market in enumerate(markets, start=1):
            selections = [(sel.selection_id or f"s{i}", sel.name, sel.price)
                          for i, sel in enumerate(market.selections, start=1)]
            specs.append(market_spec(
                market.market_id or f"m{m_index}", market.name, selections,
                in_play_delay_s=d.in_play_delay_s if market.in_play_delay_s is None
                else market.in_play_delay_s,
                max_liability=market.max_liability or d.max_liability,
                max_stake=market.max_stake or d.max_stake,
                max_payout=market.max_payout or d.max_payout))
        return EventCreated(event_id, name, sport, starts_at, tuple(specs), 0.0)

    async def _changed(self, event_id: str,
                       change: Callable[[EventClient], Awaitable[EventView]]) -> EventView:
        view = await change(await self.registry.get(event_id))
        await self.catalog.upsert(view)
        return view

    async def set_status(self, event_id: str, status: EventStatus) -> EventView:
        return await self._changed(event_id, lambda c: c.set_status(status))

    async def set_market_status(self, event_id: str, market_id: str, status: MarketStatus
                                ) -> EventView:
        return await self._changed(event_id, lambda c: c.set_market_status(market_id, status))

    async def change_odds(self, event_id: str, market_id: str, prices: dict[str, Decimal]
                          ) -> EventView:
        return await self._changed(event_id, lambda c: c.change_odds(market_id, prices))

    async def set_score(self, event_id: str, score: str) -> EventView:
        return await self._changed(event_id, lambda c: c.set_score(score))

    async def set_delay(self, event_id: str, market_id: str, delay_s: float,
                        video_latency_ms: float | None) -> EventView:
        """A market's in-play delay, refused at or below the fastest video tier's latency
        (``None``: no video of the event is live)."""
        if not bet_delay_is_safe(delay_s, video_latency_ms):
            raise errors.DelayTooShort(
                f"an in-play delay of {delay_s:g} s is not above the fastest video tier's "
                f"latency ({video_latency_ms:.0f} ms): bettors would see the play first",
                video_latency_ms=round(video_latency_ms or 0.0, 1))
        return await self._changed(event_id, lambda c: c.set_delay(market_id, delay_s))

    # ---- settlement: the event actor journals the step, a settlement actor pays it

    async def result(self, event_id: str, market_id: str, result: MarketResult, close: bool
                     ) -> EventView:
        view = await self._changed(event_id, lambda c: c.result_market(market_id, result,
                                                                       close))
        await self.settlement.kick(event_id)
        return view

    async def rollback(self, event_id: str, market_id: str) -> EventView:
        view = await self._changed(event_id, lambda c: c.rollback_market(market_id))
        await self.settlement.kick(event_id)
        return view

    async def void_window(self, event_id: str, start: float, end: float,
                          market_id: str | None, reason: str) -> str:
        client = await self.registry.get(event_id)
        window_id, view = await client.void_window(start, end, market_id, reason)
        await self.catalog.upsert(view)
        await self.settlement.kick(event_id)
        return window_id

    async def rollback_window(self, event_id: str, window_id: str) -> EventView:
        view = await self._changed(event_id, lambda c: c.rollback_window(window_id))
        await self.settlement.kick(event_id)
        return view

    async def settlement_totals(self, event_id: str
                                ) -> tuple[ExposureView, dict[str, MarketTotals]]:
        """The event's markets (from its actor) with settlement's totals for each."""
        return await self.exposure(event_id), await self.settlement.totals(event_id)


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: float
    account: Account


class AccountService:
    """Registration (with the KYC provider), login, the caller's account, KYC decisions."""

    def __init__(self, accounts: Accounts, auth: Authenticator, kyc: KycProvider | None,
                 background: Background, throttle: LoginThrottle | None = None) -> None:
        self.accounts, self.auth, self.kyc, self.background = accounts, auth, kyc, background
        self.throttle = throttle

    async def register(self, username: str, password: str, jurisdiction: str,
                       date_of_birth: Any) -> Account:
        account = await self.accounts.register(username, password, jurisdiction,
                                               date_of_birth)
        if self.kyc is not None:
            self.background.start(self.accounts.run_kyc(account.account_id, self.kyc))
        return account

    async def login(self, username: str, password: str, address: str = "") -> Session:
        """A session for these credentials; RATE_LIMITED first when this account name or
        this address has guessed too often (``storage.login_throttle``)."""
        if self.throttle is not None:
            await self.throttle.attempt(username, address)
        account = await self.accounts.authenticate(username, password)
        if self.throttle is not None:
            await self.throttle.succeeded(username, address)
        issued = self.auth.signer.issue(account.account_id, account.role, self.auth.ttl_s)
        return Session(issued.token, issued.claims.expires_at, account)

    async def get(self, account_id: str) -> Account:
        return await self.accounts.get(account_id)



# ---------------------------------------------------------------- wallet


class WalletService:
    """A player's money and protection: balance, deposits, withdrawals, limits, exclusion."""

    def __init__(self, wallet: Wallet, accounts: Accounts, reviews: ReviewQueue) -> None:
        self.wallet, self.accounts, self.reviews = wallet, accounts, reviews

    async def balance(self, who: Principal) -> Balance:
        return await self.wallet.balance(who.account_id)

    async def deposit(self, who: Principal, key: str, amount: Decimal, method: PaymentMethod
                      ) -> Receipt:
        receipt = await self.wallet.deposit(who.account_id, f"dep:{key}", amount, method)
        await self._queue_if_held(ReviewKind.DEPOSIT, who, receipt)
        return receipt

    async def withdraw(self, who: Principal, key: str, amount: Decimal) -> Receipt:
        receipt = await self.wallet.withdraw(who.account_id, f"wd:{key}", amount)
        await self._queue_if_held(ReviewKind.WITHDRAWAL, who, receipt)
        return receipt

    async def _queue_if_held(self, kind: ReviewKind, who: Principal, receipt: Receipt) -> None:
        # a replayed request adds the same item again: the queue is keyed by the operation
        if receipt.status == "pending_review":
            await self.reviews.add(kind, who.account_id, receipt.op_id,
                                   amount=f"{receipt.amount:.2f}")

    async def set_limits(self, who: Principal, changes: dict[str, Decimal | None]
                         ) -> list[LimitChangeResult]:
        return await self.accounts.set_limits(who.account_id, changes)

    async def self_exclude(self, who: Principal, period: ExclusionPeriod) -> Exclusion:
        return await self.accounts.self_exclude(who.account_id, period)

    async def statement(self, who: Principal, month: str) -> Statement:
        return await self.wallet.statement(who.account_id, month)


# ---------------------------------------------------------------- reviews


class ReviewService:
    """The operator's review queue: KYC checks and held deposits/withdrawals.

    A decision is recorded first, atomically in the account's slot and idempotently (keyed
    by the review id): the KYC script or the wallet's review script. Only then does the item
    leave the queue. A crash in between leaves it listed; deciding it again replays the
    recorded decision and removes it; deciding it the other way is ``ALREADY_DECIDED``.
    """

    def __init__(self, queue: ReviewQueue, accounts: Accounts, wallet: Wallet) -> None:
        self.queue, self.accounts, self.wallet = queue, accounts, wallet

    async def waiting(self) -> list[ReviewItem]:
        return await self.queue.list()

    async def decide(self, rid: str, approve: bool, reason: str, operator: str) -> ReviewItem:
        item = await self.queue.get(rid)
        if item is None:
            raise errors.UnknownReview(f"no review {rid}")
        if item.kind is ReviewKind.KYC:
            status = KycStatus.VERIFIED if approve else KycStatus.REJECTED
            await self.accounts.decide_kyc(item.account_id, status, reason, operator,
                                           decision_id=rid)
        else:
            await self.wallet.decide_held(item.account_id, item.op_id or "", approve, operator,
                                          reason)
        await self.queue.remove(rid)
        return item

    async def decide_kyc(self, account_id: str, status: KycStatus, reason: str, operator: str
                         ) -> Account:
        """A direct KYC decision; a waiting KYC review of the account leaves the queue."""
        account = await self.accounts.decide_kyc(account_id, status, reason, operator)
        await self.queue.remove(review_id(ReviewKind.KYC, account_id))
        return account


# ---------------------------------------------------------------- audit, media, readiness


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: list[tuple[str, int]]
    first_bad: str | None = None


class AuditService:
    """Verifies every event journal's hash chain (in a thread: it walks whole journals)."""

    def __init__(self, redis_url: str, catalog: Catalog) -> None:
        self.redis_url, self.catalog = redis_url, catalog

    async def verify(self) -> ChainCheck:
        events = [e.event_id for e in await self.catalog.list(include_closed=True)]

        def walk() -> ChainCheck:
            client = sync_client(self.redis_url)
            checked: list[tuple[str, int]] = []
            try:
                for event_id in events:
                    try:
                        checked.append((event_id, verify_chain(client, event_id)))
                    except ChainBroken as exc:
                        return ChainCheck(False, checked, str(exc))
            finally:
                client.close()
            return ChainCheck(True, checked)

        return await asyncio.to_thread(walk)


class MediaService:
    """The region's media actor and the viewers' entitlements."""

    def __init__(self, region: str, entitlements: EntitlementStore, accounts: Accounts) -> None:
        self.region, self.entitlements, self.accounts = region, entitlements, accounts
        self._actor: Any = None

    async def set_tier(self, account_id: str, tier: Tier) -> None:
        """The fastest tier an account may watch (UNKNOWN_ACCOUNT for an unknown account)."""
        await self.accounts.get(account_id)
        await self.entitlements.set(account_id, tier)

    async def region_actor(self) -> Any:
        if self._actor is None:
            from media.actors import get_or_create_region_actor

            self._actor = await asyncio.to_thread(get_or_create_region_actor, self.region)
        return self._actor

    async def call(self, method: str, event_id: str, *args: Any) -> Any:
        """A method of the region's media actor; an actor that is away is MEDIA_UNAVAILABLE."""
        try:
            actor = await self.region_actor()
            return await getattr(actor, method).remote(event_id, *args)
        except errors.DomainError:  # the actor's refusal (Ray's wrapper is one too)
            raise
        except Exception as exc:
            self._actor = None
            raise errors.MediaUnavailable(f"media is unavailable ({type(exc).__name__})") from exc

    async def require_tier(self, who: Principal, tier: Tier) -> None:
        if who.role is Role.OPERATOR:
            return
        if who.role is not Role.PLAYER or not await self.entitlements.allows(who.account_id,
                                                                              tier):
            raise errors.MediaTierForbidden(
                f"account {who.account_id} may not use tier {tier.value}")


class Readiness:
    """Can this replica take bets? Redis answers and is loaded, the sweeper is alive."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def checks(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, probe in (("redis", self._redis_ok()), ("sweeper", self._sweeper_ok())):
            try:
                out[name] = await probe
            except Exception as exc:
                out[name] = f"{type(exc).__name__}: {exc}"[:200]
        return out

    async def _redis_ok(self) -> str:
        await asyncio.wait_for(self._redis.ping(), timeout=2)
        info: dict[str, Any] = await asyncio.wait_for(self._redis.info("persistence"), timeout=2)
        return "loading its data" if info.get("loading") else "ok"

    @staticmethod
    async def _sweeper_ok() -> str:
        return "ok" if await sweeper_alive() else "not sweeping"


# ---------------------------------------------------------------- the feed


class FeedService:
    """Providers' feed messages (gRPC ``Publish``, ``POST /v1/ops/feed``): each is parsed
    here (``domain.feed.parse``: a malformed one is acked ``refused INVALID_FEED_MESSAGE`` and
    goes no further), the rest are applied by the provider's adapter (``actors.feed``).
    One ack per message, in order."""

    # who may publish: a provider's own token, a publisher's, an operator's
    ROLES = (Role.FEED, Role.PUBLISHER, Role.OPERATOR)

    def __init__(self, adapters: FeedAdapters) -> None:
        self.adapters = adapters

    @staticmethod
    def provider_of(who: Principal, provider: str | None = None) -> str:
        """Whom the messages speak for: the caller (the token's subject), or the provider an
        operator names (FORBIDDEN for anyone else: a provider only speaks for itself)."""
        require_role(who, *FeedService.ROLES)
        if provider is None or provider == who.account_id:
            return who.account_id
        if who.role is not Role.OPERATOR:
            raise errors.Forbidden("a feed publishes as itself (the token's subject)")
        return provider

    async def publish(self, provider: str, raw: list[Any]) -> list[Ack]:
        acks: list[Ack | None] = [None] * len(raw)
        parsed: list[tuple[int, FeedMessage]] = []
        for index, item in enumerate(raw):
            try:
                parsed.append((index, parse(provider, item)))
            except errors.InvalidFeedMessage as exc:
                acks[index] = _refused(item, exc)
        applied = await self.adapters.publish(provider, [msg for _, msg in parsed])
        for (index, _), ack in zip(parsed, applied, strict=True):
            acks[index] = ack
        return [a for a in acks if a is not None]


def _refused(item: Any, exc: errors.DomainError) -> Ack:
    """The ack of a malformed message: its event and seq when it has readable ones."""
    event_id = item.get("event_id") if isinstance(item, dict) else None
    seq = item.get("seq") if isinstance(item, dict) else None
    readable = isinstance(event_id, str) and len(event_id) <= 64 and event_id.isprintable()
    return Ack(event_id if readable else "",  # type: ignore[arg-type]
               seq if isinstance(seq, int) and not isinstance(seq, bool)
               and abs(seq) <= MAX_SEQ else 0,
               AckStatus.REFUSED, exc.code,
               exc.detail.encode("utf-8", "replace").decode())  # it may quote the input


# ---------------------------------------------------------------- one replica's services


@dataclass
class ApiServices:
    """The services of one API replica (its composition root)."""

    config: ApiConfig
    auth: Authenticator
    bets: BetService
    events: EventService
    accounts: AccountService
    wallet: WalletService
    reviews: ReviewService
    audit: AuditService
    media: MediaService
    readiness: Readiness
    # the odds stream's hubs (one per event with open streams on this replica)
    streams: OddsStreams | None = None
    # feed messages (POST /v1/ops/feed; the gRPC ingest builds its own)
    feed: FeedService | None = None

    @classmethod
    def build(cls, config: ApiConfig, token_key: str | None = None) -> ApiServices:
        """The services of a replica; the token key is read from ``config.token_key_file``
        unless given (tests)."""
        client = async_client(config.redis_url, socket_timeout=10, max_connections=256)
        wallet = Wallet(client, config.wallet)
        accounts = Accounts(client, config.accounts)
        registry = EventRegistry(config.actor)
        catalog = Catalog(client)
        queue = ReviewQueue(client)
        auth = Authenticator.for_replica(token_key or read_token_key(config.token_key_file),
                                         config.redis_url, config.token_ttl_s)
        kyc = SimulatedKycProvider(delay_s=config.kyc_delay_s) \
            if config.kyc_provider == "simulated" else None
        settlement = SettlementClient(config.settlement_pool, SettlementStore(client))
        odds = OddsCacheClient(config.odds_cache())
        return cls(
            config=config, auth=auth,
            bets=BetService(BetSaga(wallet, registry, config.saga), BetIndex(client), accounts,
                            settlement),
            events=EventService(registry, catalog, config.markets, settlement, odds),
            accounts=AccountService(accounts, auth, kyc, Background(),
                                    LoginThrottle(client, config.login_throttle)),
            wallet=WalletService(wallet, accounts, queue),
            reviews=ReviewService(queue, accounts, wallet),
            audit=AuditService(config.redis_url, catalog),
            media=MediaService(config.media_region, EntitlementStore(client), accounts),
            readiness=Readiness(client),
            streams=OddsStreams(odds, config.streams),
            feed=FeedService(FeedAdapters(config.actor)),
        )
