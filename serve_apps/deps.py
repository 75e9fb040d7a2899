"""What every route needs: the services of one API replica, and who is calling.

``Services`` is built once per replica (the Serve deployment's constructor, or a test) and
hangs off ``app.state``; routes reach it with ``Depends(services)``. Authentication is a
stateless HMAC token check; a closed or self-excluded account is refused by the wallet's
scripts on every bet, so nothing here can lag behind an exclusion.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from fastapi import Depends, Request

from actors.event_actor import ActorConfig
from actors.protection import Product, product_allowed
from actors.registry import EventRegistry
from actors.saga import BetSaga, SagaConfig
from cluster.config import Settings
from cluster.security import Role, TokenError, TokenSigner
from serve_apps.problems import Problem
from storage.accounts import Accounts, KycProvider, SimulatedKycProvider
from storage.catalog import Catalog
from storage.redis_client import async_client
from storage.wallet import Wallet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The caller: an account id and its role (from a verified token)."""

    account_id: str
    role: str


@dataclass
class Services:
    settings: Settings
    redis: aioredis.Redis
    wallet: Wallet
    accounts: Accounts
    signer: TokenSigner
    registry: EventRegistry
    saga: BetSaga
    catalog: Catalog
    kyc: KycProvider | None
    _jurisdictions: dict[str, str] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def build(cls, settings: Settings, token_key: str) -> Services:
        if not settings.redis_url:
            raise RuntimeError("the API needs a Redis URL (inplay up passes the embedded one)")
        client = async_client(settings.redis_url, socket_timeout=10, max_connections=256)
        wallet = Wallet(client, settings)
        registry = EventRegistry(ActorConfig(
            redis_url=settings.redis_url, snapshot_every=settings.snapshot_every,
            commit_batch_max=settings.commit_batch_max,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms))
        saga = BetSaga(wallet, registry, SagaConfig(
            window_s=settings.bet_batch_window_ms / 1000, batch_max=settings.bet_batch_max,
            max_pending=settings.bet_max_pending,
            max_queue_s=settings.bet_max_queue_ms / 1000,
            max_batches_in_flight=settings.bet_batches_in_flight))
        kyc = SimulatedKycProvider(delay_s=settings.kyc_delay_s) \
            if settings.kyc_provider == "simulated" else None
        return cls(settings, client, wallet, Accounts(client, settings), TokenSigner(token_key),
                   registry, saga, Catalog(client), kyc)

    async def jurisdiction(self, account_id: str) -> str:
        """An account's jurisdiction (it never changes, so it is cached)."""
        found = self._jurisdictions.get(account_id)
        if found is None:
            found = (await self.accounts.get(account_id)).jurisdiction
            if len(self._jurisdictions) > 100_000:
                self._jurisdictions.clear()
            self._jurisdictions[account_id] = found
        return found

    async def in_play_allowed(self, account_id: str) -> bool:
        return product_allowed(await self.jurisdiction(account_id), Product.SPORT_INPLAY)

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` without awaiting it, keeping a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def current(app: Any) -> Services:
    """The services ``app`` was built with."""
    found: Services | None = getattr(app.state, "services", None)
    if found is None:
        raise Problem(503, "UNAVAILABLE", "the API is starting")
    return found


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a
# thread pool, a thread hop per dependency per request on the bet path.
async def services(request: Request) -> Services:
    return current(request.app)


async def principal(request: Request, svc: Services = Depends(services)) -> Principal:
    return authenticate(request, svc)


def authenticate(request: Request, svc: Services) -> Principal:
    """The caller of ``request`` from its bearer token (401 ``UNAUTHENTICATED`` otherwise)."""
    return authenticate_header(request.headers.get("authorization", ""), svc)


def authenticate_header(header: str, svc: Services) -> Principal:
    """The caller named by an ``Authorization`` header's value."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "UNAUTHENTICATED", "a bearer token is required",
                      headers_hint="Authorization: Bearer <token>")
    try:
        claims = svc.signer.verify(token.strip())
    except TokenError as exc:
        raise Problem(401, "UNAUTHENTICATED", str(exc)) from exc
    return Principal(claims.subject, claims.role.value)


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers with one of ``roles``."""
    allowed = {r.value for r in roles}

    async def check(who: Principal = Depends(principal)) -> Principal:
        if who.role not in allowed:
            raise Problem(403, "FORBIDDEN", f"this needs the role {' or '.join(sorted(allowed))}")
        return who

    return check


player = require(Role.PLAYER)
operator = require(Role.OPERATOR)
publisher = require(Role.PUBLISHER)


async def idempotency_key(request: Request) -> str:
    return check_idempotency_key(request)


def check_idempotency_key(request: Request) -> str:
    return check_idempotency_value(request.headers.get("idempotency-key", ""))


def check_idempotency_value(key: str) -> str:
    """An ``Idempotency-Key`` header's value, if it is one (422 otherwise)."""
    if not 1 <= len(key) <= 64 or not key.isprintable():
        raise Problem(422, "IDEMPOTENCY_KEY_REQUIRED",
                      "an Idempotency-Key header of 1-64 printable characters is required")
    return key
