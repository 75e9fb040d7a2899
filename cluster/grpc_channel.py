"""One long-lived gRPC channel to Serve's gRPC ingress, with its calls resent on a fresh
channel when they failed on the way: what the feed's and the partners' clients share
(``cluster/feed_client.py``, ``cluster/partner_client.py``).

Each call carries the bearer token and the ``application`` metadata that Serve routes by. A
call that fails with a status the client calls retryable (the platform restarting, a dropped
connection) is sent again on a fresh channel, up to ``attempts`` times with a doubling pause;
any other failure, or the last one, raises the client's domain error for it. Resending is
safe for both clients: feed messages carry sequence numbers, bets idempotency keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

import grpc

from domain import errors

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),  # notice a dead connection between calls
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
StubT = TypeVar("StubT")
T = TypeVar("T")


class RetryingChannel(Generic[StubT]):
    """A channel, its stub (``stub_of(channel)``), and calls resent on a fresh channel."""

    name = "grpc"  # in log lines

    def __init__(self, target: str, token: str, application: str,
                 stub_of: Callable[[grpc.aio.Channel], StubT], *, timeout_s: float,
                 attempts: int, backoff_s: float) -> None:
        self.target, self.timeout_s = target, timeout_s
        self.attempts, self.backoff_s = attempts, backoff_s
        self.metadata = (("authorization", f"Bearer {token}"), ("application", application))
        self._stub_of = stub_of
        self._channel: grpc.aio.Channel | None = None
        self._stub: StubT | None = None
        self.reconnects = 0

    def retryable(self, exc: grpc.aio.AioRpcError) -> bool:
        """Whether a failed call is worth sending again on a fresh channel."""
        return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                              grpc.StatusCode.CANCELLED)

    def error(self, exc: grpc.aio.AioRpcError) -> errors.DomainError:
        """The domain error a failed call raises."""
        return errors.Unavailable(f"{self.name}: {exc.code().name}: {exc.details() or ''}")

    async def _call(self, send: Callable[[StubT], Awaitable[T]]) -> T:
        for attempt in range(self.attempts):
            stub = self._connect()
            try:
                return await send(stub)
            except grpc.aio.AioRpcError as exc:
                if not self.retryable(exc) or attempt == self.attempts - 1:
                    raise self.error(exc) from exc
                log.warning("%s %s: %s (%s); sending again", self.name, self.target,
                            exc.code().name, exc.details())
            await self._reset()
            await asyncio.sleep(min(2.0, self.backoff_s * 2 ** attempt))
        raise AssertionError("unreachable")

    def _connect(self) -> StubT:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
            self._stub = self._stub_of(self._channel)
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
