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
from collections.abc import AsyncIterable, Iterable
from types import TracebackType
from typing import Any, Self

import grpc

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
_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),  # notice a dead connection between messages
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


class FeedClient:
    """One provider's connection; see the module docstring."""

    def __init__(self, target: str, token: str, *, application: str = "feed",
                 batch_max: int = 512, timeout_s: float = 10.0, attempts: int = 5,
                 backoff_s: float = 0.2) -> None:
        self.target, self.batch_max, self.timeout_s = target, batch_max, timeout_s
        self.attempts, self.backoff_s = attempts, backoff_s
        self.metadata = (("authorization", f"Bearer {token}"), ("application", application))
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.FeedStub | None = None
        self._lock: asyncio.Lock | None = None
        self.reconnects = 0

    async def publish(self, messages: list[FeedMessage]) -> list[Ack]:
        """One ack per message, in order (batches of ``batch_max``, one after the other)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        acks: list[Ack] = []
        async with self._lock:
            for start in range(0, len(messages), self.batch_max):
                batch = pb.FeedBatch(messages=[from_message(m) for m in
                                               messages[start:start + self.batch_max]])
                reply = await self._call(lambda stub, b=batch: stub.PublishBatch(
                    b, metadata=self.metadata, timeout=self.timeout_s))
                acks += [ack_from_wire(a) for a in reply.acks]
        return acks

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

    async def _call(self, send: Any) -> pb.PublishReply:
        for attempt in range(self.attempts):
            stub = self._connect()
            try:
                reply: pb.PublishReply = await send(stub)
                return reply
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRY or attempt == self.attempts - 1:
                    raise _error(exc) from exc
                log.warning("feed %s: %s (%s); sending again", self.target, exc.code().name,
                            exc.details())
            await self._reset()
            await asyncio.sleep(min(2.0, self.backoff_s * 2 ** attempt))
        raise AssertionError("unreachable")

    def _connect(self) -> pb_grpc.FeedStub:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            self._stub = pb_grpc.FeedStub(self._channel)
        return self._stub

    async def _reset(self) -> None:
        """A fresh channel for the next attempt (a broken one can linger in backoff)."""
        channel, self._channel, self._stub = self._channel, None, None
        self.reconnects += 1
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


def _error(exc: grpc.aio.AioRpcError) -> errors.DomainError:
    """The domain error for a failed call (the server's details carry our code first)."""
    cls = _REFUSED.get(exc.code(), errors.Unavailable)
    return cls(f"feed: {exc.code().name}: {exc.details() or ''}")
