"""A partner's client of the partner API (gRPC ``inplay.partner.v1.Partner``,
``serve_apps/partner.py``).

::

    async with PartnerClient("127.0.0.1:50051", token) as partner:   # token: role player
        results = await partner.place_bets([
            bet_request("mm-000001", "demo-match", "mw", "home", "10.00", "2.50"),
            bet_request("mm-000002", "demo-match", "mw", "away", "10.00", "3.00", "higher")])
        for result in results:
            if result.HasField("bet"):
                print(result.bet.bet_id, result.bet.status)
            else:
                print(result.refusal.code, result.refusal.detail)
        async for update in partner.stream_bets():
            ...   # INITIAL bets, CAUGHT_UP, then CHANGED as they happen

``target`` is Serve's gRPC address, the one ``inplay up`` prints as ``feed gRPC``
(``Settings.feed_target``); the token is a player token (``POST /v1/sessions``): a partner is
an account with the player role. Answers are the protobuf messages of
``serve_apps/partner_proto/inplay_partner.proto`` (``serve_apps.partner_proto.convert``
turns a ``Bet`` into the HTTP API's JSON shape, ``bet_from_wire``).

``place_bets`` takes any number of bets: it sends them as ``PlaceBets`` calls of
``MAX_BETS`` over one long-lived channel, all at once, and answers one ``BetResult`` per bet
in order. ``send`` sends one prepared ``PlaceBetsRequest`` as is (what a benchmark wants:
the request built once, no copy per call). A call that fails on the way (the platform
restarting, a dropped connection) is sent again on a fresh channel, up to ``attempts``
times: resending is safe, each bet's idempotency key makes it the same bet. A call refused
whole raises the domain error of its inplay code (``Unauthenticated``, ``Forbidden``,
``ValidationFailed``, ``UnknownBet``, ...; ``Unavailable`` when the attempts run out), read
from the trailing metadata ``inplay-code`` or else the status details' first word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import grpc

from cluster.grpc_channel import RetryingChannel
from domain import errors
from serve_apps.partner_proto import inplay_partner_pb2 as pb
from serve_apps.partner_proto import inplay_partner_pb2_grpc as pb_grpc
from serve_apps.partner_proto.convert import bet_request

log = logging.getLogger(__name__)

__all__ = ["MAX_BETS", "PartnerClient", "bet_request", "error_of"]

MAX_BETS = 100  # per PlaceBets call (serve_apps.partner.MAX_BETS)
# worth sending again on a fresh channel (NOT_FOUND without an inplay code: Serve's HAProxy
# answers it while the application is (re)starting)
_RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
          grpc.StatusCode.CANCELLED}
class PartnerClient(RetryingChannel[pb_grpc.PartnerStub]):
    """One partner's connection; see the module docstring."""

    name = "partner"

    def __init__(self, target: str, token: str, *, application: str = "partner",
                 timeout_s: float = 30.0, attempts: int = 3, backoff_s: float = 0.2) -> None:
        super().__init__(target, token, application, pb_grpc.PartnerStub,
                         timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s)

    def retryable(self, exc: grpc.aio.AioRpcError) -> bool:
        return _retryable(exc)

    def error(self, exc: grpc.aio.AioRpcError) -> errors.DomainError:
        return error_of(exc)

    async def place_bets(self, bets: Sequence[pb.BetRequest]) -> list[pb.BetResult]:
        """One result per bet, in order (calls of ``MAX_BETS`` bets, sent together)."""
        requests = [pb.PlaceBetsRequest(bets=bets[start:start + MAX_BETS])
                    for start in range(0, len(bets), MAX_BETS)]
        replies = await asyncio.gather(*(self.send(r) for r in requests))
        return [result for reply in replies for result in reply.results]

    async def send(self, request: pb.PlaceBetsRequest) -> pb.PlaceBetsReply:
        """One ``PlaceBets`` call (at most ``MAX_BETS`` bets), resent when it failed on the
        way."""
        return await self._call(lambda stub: stub.PlaceBets(
            request, metadata=self.metadata, timeout=self.timeout_s))

    async def get_bet(self, bet_id: str) -> pb.Bet:
        """One of this account's bets (``UnknownBet`` for any other)."""
        return await self._call(lambda stub: stub.GetBet(
            pb.GetBetRequest(bet_id=bet_id), metadata=self.metadata, timeout=self.timeout_s))

    async def stream_bets(self, since_ms: int = 0, recent: int = 0, *,
                          heartbeats: bool = False) -> AsyncIterator[pb.BetUpdate]:
        """This account's bets as they change, until the caller stops iterating (the call is
        cancelled then). Not resumed by itself: open it again with ``since_ms`` (the
        ``placed_at_ms`` of the oldest bet still of interest) to get their current state."""
        stub = self._connect()
        call = stub.StreamBets(pb.StreamBetsRequest(since_ms=since_ms, recent=recent),
                               metadata=self.metadata)
        try:
            async for update in call:
                if update.kind == pb.BetUpdate.HEARTBEAT and not heartbeats:
                    continue
                yield update
        except grpc.aio.AioRpcError as exc:
            raise error_of(exc) from exc
        finally:
            call.cancel()


def inplay_code(exc: grpc.aio.AioRpcError) -> str:
    """The stable code of a refused call: the ``inplay-code`` trailer, else the first word of
    the details (``""`` when neither says one: not an answer of the partner API)."""
    for key, value in exc.trailing_metadata() or ():
        if key == "inplay-code":
            return str(value)
    head, sep, _ = (exc.details() or "").partition(":")
    return head if sep and head.isupper() and head.replace("_", "").isalpha() else ""


def _retryable(exc: grpc.aio.AioRpcError) -> bool:
    code = exc.code()
    if code is grpc.StatusCode.NOT_FOUND:
        return not inplay_code(exc)  # Serve's, not ours (UNKNOWN_BET)
    return code in _RETRY


def error_of(exc: grpc.aio.AioRpcError) -> errors.DomainError:
    """The domain error of a failed call (``Unavailable`` when it carries no inplay code)."""
    code = inplay_code(exc)
    detail = exc.details() or ""
    if code and detail.startswith(code + ":"):
        detail = detail[len(code) + 1:].strip()
    if not code:
        return errors.Unavailable(f"partner: {exc.code().name}: {detail}")
    return errors.from_code(code, detail)
