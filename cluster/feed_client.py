"""A feed provider's client of the ingest (gRPC ``inplay.feed.v1.Feed``, ``serve_apps/feed.py``).

::

    async with FeedClient("127.0.0.1:50051", token) as feed:   # token: role feed
        acks = await feed.publish([FeedMessage(provider, "demo-match", 42, FeedKind.BET_STOP,
                                               cause="goal")])

``target`` is what ``inplay up`` prints as ``feed gRPC`` (``Settings.feed_target``, ``inplay
status``, ``run/state.json``: ``feed_target``); the token comes from ``inplay token create
--role feed NAME`` and names the provider (its subject): the ``provider`` of the messages
given here is not sent, the server takes the token's.

``publish`` sends the messages in batches (``PublishBatch``) over one long-lived channel, one
batch after the other (calls are serialized: the messages of one provider keep their order)
and answers one ``domain.feed.Ack`` per message, in order. A call that fails on the way
(the platform restarting, a dropped connection) is sent again on a fresh channel, up to
``attempts`` times: resending is safe, because the event actors drop what they applied
already — such a message comes back ``duplicate``. A bad token is ``Unauthenticated``, a
token of another role ``Forbidden``, and running out of attempts ``Unavailable`` (all
``domain.errors``). ``publish_stream`` sends one client stream (``Publish``) for bulk loads:
its acks come when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable

import grpc

from cluster.grpc_channel import RetryingChannel
from domain import errors
from domain.feed import Ack, FeedMessage
from serve_apps.feed_proto import inplay_feed_pb2 as pb
from serve_apps.feed_proto import inplay_feed_pb2_grpc as pb_grpc
from serve_apps.feed_proto.convert import ack_from_wire, from_message

log = logging.getLogger(__name__)

# worth sending again on a fresh channel (NOT_FOUND: Serve's HAProxy answers it while the
# feed application is (re)starting)
_RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
          grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.NOT_FOUND,
          grpc.StatusCode.CANCELLED}
_REFUSED: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.Forbidden,
    grpc.StatusCode.INVALID_ARGUMENT: errors.ValidationFailed,
}
class FeedClient(RetryingChannel[pb_grpc.FeedStub]):
    """One provider's connection; see the module docstring."""

    name = "feed"

    def __init__(self, target: str, token: str, *, application: str = "feed",
                 batch_max: int = 512, timeout_s: float = 10.0, attempts: int = 5,
                 backoff_s: float = 0.2) -> None:
        super().__init__(target, token, application, pb_grpc.FeedStub, timeout_s=timeout_s,
                         attempts=attempts, backoff_s=backoff_s)
        self.batch_max = batch_max
        self._lock: asyncio.Lock | None = None

    def retryable(self, exc: grpc.aio.AioRpcError) -> bool:
        return exc.code() in _RETRY

    def error(self, exc: grpc.aio.AioRpcError) -> errors.DomainError:
        return _error(exc)

    async def publish(self, messages: list[FeedMessage]) -> list[Ack]:
        """One ack per message, in order (batches of ``batch_max``, one after the other)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        acks: list[Ack] = []
        async with self._lock:
            for start in range(0, len(messages), self.batch_max):
                batch = pb.FeedBatch(messages=[from_message(m) for m in
                                               messages[start:start + self.batch_max]])
                reply = await self._call(self._sender(batch))
                acks += [ack_from_wire(a) for a in reply.acks]
        return acks

    def _sender(self, batch: pb.FeedBatch
                ) -> Callable[[pb_grpc.FeedStub], Awaitable[pb.PublishReply]]:
        def send(stub: pb_grpc.FeedStub) -> Awaitable[pb.PublishReply]:
            reply: Awaitable[pb.PublishReply] = stub.PublishBatch(
                batch, metadata=self.metadata, timeout=self.timeout_s)
            return reply
        return send

    async def publish_stream(self, messages: Iterable[FeedMessage] | AsyncIterable[FeedMessage],
                             timeout_s: float | None = None) -> list[Ack]:
        """One client stream (``Publish``): for bulk loads and replays; acks at its end.
        Not resent on failure (a stream cannot be replayed): the caller resends, safely."""
        async def wire() -> AsyncIterable[pb.FeedMessage]:
            if isinstance(messages, AsyncIterable):
                async for msg in messages:
                    yield from_message(msg)
            else:
                for msg in messages:
                    yield from_message(msg)

        stub = self._connect()
        try:
            reply = await stub.Publish(wire(), metadata=self.metadata, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc
        return [ack_from_wire(a) for a in reply.acks]


def _error(exc: grpc.aio.AioRpcError) -> errors.DomainError:
    """The domain error for a failed call (the server's details carry our code first)."""
    cls = _REFUSED.get(exc.code(), errors.Unavailable)
    return cls(f"feed: {exc.code().name}: {exc.details() or ''}")
