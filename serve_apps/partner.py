"""The partner API over gRPC, served by Ray Serve: the ``partner`` application.

Market makers and B2B partners call ``inplay.partner.v1.Partner``
(``serve_apps/partner_proto/inplay_partner.proto``) on Serve's gRPC port — the feed's
(``INPLAY_FEED_PORT``; Serve has one gRPC port, and routes by application) — with two
metadata entries: ``authorization: Bearer <token>`` and ``application: partner``. Tokens are
the HTTP API's: a partner is an account with the player role (its token from
``POST /v1/sessions``), and its bets are that account's, over HTTP and gRPC alike.

- ``PlaceBets``: up to ``MAX_BETS`` bets, each with its own idempotency key, validated as
  ``POST /v1/bets`` validates one (``serve_apps.models.BetRequest``) and placed through the
  same saga as bet slips (``BetService.place_slip``, all handed over at once: the bets of
  one event leave in one saga batch). One result per bet, in order: the bet as
  ``GET /v1/bets/{bet_id}`` shows it, or its refusal with the HTTP problem's code, status
  and facts. A bad bet is refused on its own; only a request that is not a batch (none,
  too many, a key twice) is refused whole.
- ``GetBet``: one of the caller's bets (``NOT_FOUND`` for another's, as for none).
- ``StreamBets``: the caller's bets as they change, from the bet index
  (``storage.bet_watch``, polled every ``poll_s``; nothing pushes bet changes), with a
  heartbeat after ``heartbeat_s`` of silence. It ends when the client cancels it.

Whole-call failures end the call with a gRPC status (``GRPC_STATUS``); the stable code of
docs/API.md is the first word of the status details (``"UNAUTHENTICATED: ..."``: what Serve
carries in every mode and for streams too), and the unary calls also carry it as trailing
metadata ``inplay-code`` (with ``inplay-status``, the HTTP status, and
``inplay-retry-after-s`` when the refusal says when).

Like the feed (``serve_apps/feed.py``), the application needs a route prefix
(``PARTNER_ROUTE``) only to be among HAProxy's backends; HTTP requests on it are answered
404 ``NOT_FOUND``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from pydantic import ValidationError
from ray import serve
from ray.serve import Application
from ray.serve.grpc_util import RayServegRPCContext
from redis.exceptions import RedisError
from starlette.responses import JSONResponse

from actors.registry import EventRegistry
from actors.saga import BetSaga
from actors.settlement import SettlementClient
from domain import errors
from domain.bets import BetDecision, bet_id_for
from domain.events import BetAbandoned, BetAccepted, BetCashedOut, BetHeld
from domain.identity import Role
from serve_apps import problems
from serve_apps.loopback import bind_grpc_on_loopback
from serve_apps.models import _ID, BetRequest
from serve_apps.partner_proto import inplay_partner_pb2 as pb
from serve_apps.partner_proto.convert import bet_request_to_plain, bet_to_wire, refusal_to_wire
from serve_apps.services import (
    MAX_SLIP_BETS,
    ApiConfig,
    Authenticator,
    BetService,
    Principal,
    SlipBet,
    check_idempotency_key,
    read_token_key,
    require_role,
)
from serve_apps.views import bet_body
from storage.accounts import Accounts
from storage.bet_index import BetIndex
from storage.bet_watch import BetChange, BetWatch
from storage.redis_client import async_client
from storage.settlement import SettlementStore
from storage.wallet import Wallet

log = logging.getLogger(__name__)

PARTNER_APP = "partner"
PARTNER_ROUTE = "/grpc/partner"
# what `serve.start(grpc_options=...)` registers (beside the feed's)
SERVICER = "serve_apps.partner_proto.inplay_partner_pb2_grpc.add_PartnerServicer_to_server"
MAX_BETS = 100
# StreamBets: how many bets a stream starts with (without since_ms), at most; and follows
DEFAULT_RECENT = 50
MAX_FOLLOWED = 1000

# our codes → gRPC's, for whole-call failures (anything else is a bug: INTERNAL)
GRPC_STATUS = {
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "FORBIDDEN": grpc.StatusCode.PERMISSION_DENIED,
    "VALIDATION_ERROR": grpc.StatusCode.INVALID_ARGUMENT,
    "UNKNOWN_BET": grpc.StatusCode.NOT_FOUND,
    "UNKNOWN_ACCOUNT": grpc.StatusCode.NOT_FOUND,  # a token of an account that is not (any more)
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "OVERLOADED": grpc.StatusCode.UNAVAILABLE,
    "RATE_LIMITED": grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclass(frozen=True)
class PartnerConfig:
    """What a partner replica needs: the API's config (Redis, actors, wallet, saga), its
    replicas, and how StreamBets polls."""

    api: ApiConfig
    replicas: int = 1
    poll_s: float = 0.25
    heartbeat_s: float = 15.0


class PartnerApi:
    """The calls' work, apart from Serve (a replica holds one)."""

    def __init__(self, config: PartnerConfig, token_key: str | None = None) -> None:
        api = config.api
        self.config = config
        self.redis = async_client(api.redis_url, socket_timeout=10, max_connections=256)
        wallet = Wallet(self.redis, api.wallet)
        self.auth = Authenticator.for_replica(token_key or read_token_key(api.token_key_file),
                                              api.redis_url, api.token_ttl_s)
        self.bets = BetService(BetSaga(wallet, EventRegistry(api.actor), api.saga),
                               BetIndex(self.redis), Accounts(self.redis, api.accounts),
                               SettlementClient(api.settlement_pool, SettlementStore(self.redis)))
        self.streams = 0

    def partner(self, metadata: list[tuple[str, str]]) -> Principal:
        """The caller (a player account), from the call's ``authorization`` metadata."""
        found = dict(metadata)
        return require_role(self.auth.principal(str(found.get("authorization", ""))),
                            Role.PLAYER)

    async def place_bets(self, who: Principal, request: pb.PlaceBetsRequest) -> pb.PlaceBetsReply:
        if not 1 <= len(request.bets) <= MAX_BETS:
            raise errors.ValidationFailed(f"a request places 1-{MAX_BETS} bets, not "
                                          f"{len(request.bets)}")
        keys = [b.idempotency_key for b in request.bets]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise errors.ValidationFailed(f"idempotency keys must differ within a request: "
                                          f"{twice[0]!r} is used twice")
        results: list[pb.BetResult | None] = []
        placing: list[tuple[int, str, BetRequest]] = []
        for i, wire in enumerate(request.bets):
            checked = _checked(i, wire)
            if isinstance(checked, pb.Refusal):
                if checked.code != "IDEMPOTENCY_KEY_REQUIRED":  # the bet it would have been
                    checked.bet_id = bet_id_for(who.account_id, wire.idempotency_key)
                results.append(pb.BetResult(refusal=checked))
            else:
                results.append(None)
                placing.append((i, wire.idempotency_key, checked))
        # bet slips (BetService.place_slip: the bets of one event leave in one saga batch) of
        # at most MAX_SLIP_BETS, all handed over at once
        slips = [[SlipBet(key, bet.event_id, bet.market_id, bet.selection_id, bet.stake,
                          bet.price, bet.odds_change, bet.price_version)
                  for _, key, bet in placing[start:start + MAX_SLIP_BETS]]
                 for start in range(0, len(placing), MAX_SLIP_BETS)]
        outcomes = [outcome for slip in await asyncio.gather(
            *(self.bets.place_slip(who, slip) for slip in slips)) for outcome in slip]
        for (i, key, bet), outcome in zip(placing, outcomes, strict=True):
            results[i] = _result(bet.event_id, bet_id_for(who.account_id, key), outcome)
        return pb.PlaceBetsReply(results=[r for r in results if r is not None])

    async def get_bet(self, who: Principal, request: pb.GetBetRequest) -> pb.Bet:
        if not _ID.match(request.bet_id):
            raise errors.ValidationFailed("bet_id: 1-64 characters of letters, digits, '_', "
                                          "'.', ':' or '-'")
        found = await self.bets.get(who, request.bet_id)
        return bet_to_wire(bet_body(found.event_id, found.decision, found.settlement))

    async def watch(self, who: Principal, request: pb.StreamBetsRequest
                    ) -> tuple[BetWatch, list[BetChange]]:
        """A watch of the caller's bets, and the state it starts with."""
        if request.since_ms < 0 or not 0 <= request.recent <= MAX_FOLLOWED:
            raise errors.ValidationFailed(f"since_ms must be >= 0 and recent 0-{MAX_FOLLOWED}")
        watch = BetWatch(self.redis, who.account_id, max_followed=MAX_FOLLOWED)
        initial = await watch.start(request.since_ms, request.recent or DEFAULT_RECENT)
        return watch, initial

    async def follow(self, watch: BetWatch, initial: list[BetChange]
                     ) -> AsyncIterator[pb.BetUpdate]:
        """The stream's updates: the initial state, CAUGHT_UP, then changes as they come
        (a poll every ``poll_s``) and a heartbeat after ``heartbeat_s`` of silence."""
        self.streams += 1
        try:
            for change in initial:
                yield _update(pb.BetUpdate.INITIAL, change)
            yield pb.BetUpdate(kind=pb.BetUpdate.CAUGHT_UP)
            told = time.monotonic()
            while True:
                await asyncio.sleep(self.config.poll_s)
                try:
                    changes = await watch.poll()
                except (RedisError, OSError) as exc:  # Redis away: the stream waits for it
                    log.warning("StreamBets: polling failed (%s); trying again", exc)
                    changes = []
                for change in changes:
                    yield _update(pb.BetUpdate.CHANGED, change)
                if changes:
                    told = time.monotonic()
                elif time.monotonic() - told >= self.config.heartbeat_s:
                    yield pb.BetUpdate(kind=pb.BetUpdate.HEARTBEAT)
                    told = time.monotonic()
        finally:
            self.streams -= 1


def _checked(index: int, wire: pb.BetRequest) -> BetRequest | pb.Refusal:
    """The bet as ``POST /v1/bets`` validates it, or its refusal (with the same code)."""
    try:
        check_idempotency_key(wire.idempotency_key)
    except errors.DomainError as exc:
        return refusal_to_wire(problems.problem_body(exc.code, exc.detail))
    try:
        return BetRequest.model_validate(bet_request_to_plain(wire))
    except ValidationError as exc:
        found = [{"loc": ["bets", index, *e.get("loc", ())], "msg": str(e.get("msg", "")),
                  "type": e.get("type")} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc'][2:]))}: {e['msg']}" for e in found)
        # the same code the HTTP route gives (INVALID_AMOUNT, INVALID_ODDS, VALIDATION_ERROR)
        return refusal_to_wire(problems.problem_body(
            problems.validation_code([{**e, "loc": e["loc"][2:]} for e in found]),
            detail or "invalid bet", errors=found))


def _result(event_id: str, bet_id: str, outcome: BetDecision | BaseException) -> pb.BetResult:
    """One bet's result, as ``serve_apps.views.bet_response`` answers it over HTTP."""
    if isinstance(outcome, BetAccepted | BetCashedOut | BetHeld):
        return pb.BetResult(bet=bet_to_wire(bet_body(event_id, outcome)))
    if isinstance(outcome, BetAbandoned):
        body = problems.problem_body("UNAVAILABLE", outcome.reason, bet_id=outcome.bet_id)
    elif isinstance(outcome, BaseException):
        found = problems.unwrap(outcome)
        if isinstance(found, errors.DomainError):
            body = problems.problem_body(found.code, found.detail, bet_id=bet_id, **found.facts)
        elif isinstance(found, Exception):
            log.error("placing bet %s failed", bet_id, exc_info=found)
            body = problems.problem_body(
                "INTERNAL_ERROR", "an unexpected error; nothing was confirmed for this bet "
                "(sending it again with the same key is safe)", bet_id=bet_id)
        else:  # cancelled: not ours to swallow
            raise found
    else:
        body = problems.problem_body(outcome.code, outcome.detail, bet_id=outcome.terms.bet_id,
                                     **outcome.extra)
    return pb.BetResult(refusal=refusal_to_wire(body))


def _update(kind: pb.BetUpdate.Kind, change: BetChange) -> pb.BetUpdate:
    bet = change.bet
    return pb.BetUpdate(kind=kind, bet=bet_to_wire(bet_body(bet.event_id, bet.decision,
                                                            bet.settlement)),
                        placed_at_ms=change.placed_at_ms)


def grpc_failure(context: RayServegRPCContext, exc: BaseException, *, trailers: bool) -> None:
    """Set the call's status for a whole-call refusal (or a bug)."""
    found = problems.unwrap(exc)
    if isinstance(found, errors.DomainError):
        code, detail, facts = found.code, found.detail, found.facts
    else:
        log.error("partner call failed", exc_info=found)
        code, detail, facts = ("INTERNAL_ERROR", "an unexpected error; nothing was confirmed "
                               "by this call", {})
    context.set_code(GRPC_STATUS.get(code, grpc.StatusCode.INTERNAL))
    context.set_details(f"{code}: {detail}")
    if trailers:
        metadata = [("inplay-code", code), ("inplay-status", str(problems.status_of(code)))]
        if facts.get("retry_after_s") is not None:
            metadata.append(("inplay-retry-after-s", str(facts["retry_after_s"])))
        context.set_trailing_metadata(metadata)


class StreamRefused(Exception):
    """A stream refused before its first update: raised after the status is set, because a
    stream that yields nothing is answered OK by Serve's proxy."""


@serve.deployment(
    name="partner",
    max_ongoing_requests=2000,
    ray_actor_options={"num_cpus": 0},
    logging_config={"enable_access_log": False},
)
class PartnerDeployment:
    """One partner replica; see the module docstring."""

    def __init__(self, config: PartnerConfig) -> None:
        bind_grpc_on_loopback()
        self.api = PartnerApi(config)  # the token key: from its file

    async def PlaceBets(self, request: pb.PlaceBetsRequest,
                        grpc_context: RayServegRPCContext) -> pb.PlaceBetsReply:
        try:
            who = self.api.partner(grpc_context.invocation_metadata())
            return await self.api.place_bets(who, request)
        except Exception as exc:
            grpc_failure(grpc_context, exc, trailers=True)
            return pb.PlaceBetsReply()

    async def GetBet(self, request: pb.GetBetRequest,
                     grpc_context: RayServegRPCContext) -> pb.Bet:
        try:
            who = self.api.partner(grpc_context.invocation_metadata())
            return await self.api.get_bet(who, request)
        except Exception as exc:
            grpc_failure(grpc_context, exc, trailers=True)
            return pb.Bet()

    async def StreamBets(self, request: pb.StreamBetsRequest,
                         grpc_context: RayServegRPCContext) -> AsyncIterator[pb.BetUpdate]:
        try:
            who = self.api.partner(grpc_context.invocation_metadata())
            watch, initial = await self.api.watch(who, request)
        except Exception as exc:
            grpc_failure(grpc_context, exc, trailers=False)
            raise StreamRefused(grpc_context.details()) from None
        async for update in self.api.follow(watch, initial):
            yield update

    async def open_streams(self) -> int:
        """StreamBets calls open on this replica (for tests and operators, via a handle)."""
        return self.api.streams

    async def __call__(self, request: Any) -> JSONResponse:
        """HTTP on the application's route: there is nothing here for HTTP."""
        return problems.problem_response(
            "NOT_FOUND", "the partner API is served over gRPC (inplay.partner.v1.Partner); "
            "over HTTP, bets are at /v1/bets", status=404)


def build_partner_application(config: PartnerConfig) -> Application:
    deployment: Any = PartnerDeployment
    return deployment.options(num_replicas=config.replicas).bind(config)
