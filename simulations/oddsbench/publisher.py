"""Odds changes through the real gRPC ingest (``cluster.feed_client.FeedClient``).

Each change is one ``odds_change`` message of a feed provider (a token of role ``feed``) on
the benchmark's event: the markets in turn, every selection a tick or two away from its
opening price, so each message really changes the prices. The publish time of a message is
``time.monotonic()`` just before the gRPC call that carries it; its ack's ``version`` (the
event's public version after it) is the ``id`` of the ``odds`` message the streams deliver.

- ``at_rate``: open loop, one message per call at a fixed rate (how late each call started
  against its schedule is kept: a publisher that falls behind is reported, not hidden);
- ``flat_out``: calls back to back, ``burst`` messages per call, for the most updates/s the
  path sustains;
- ``heartbeat``: an ``alive`` every few seconds while nothing else is sent, so that the
  event's markets are not suspended for a silent feed (``feed_timeout_s``, 20 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cluster.feed_client import FeedClient
from domain.feed import Ack, AckStatus, FeedKind, FeedMessage
from domain.ladder import is_on_ladder, ticks_away
from simulations.oddsbench.stats import summary_ms

# the tick offsets each selection goes through, one step per change of its market
_WALK = (1, 2, 1, 0, -1, -2, -1, 0)


@dataclass
class Published:
    """What one phase published and what the ingest answered."""

    versions: dict[int, float] = field(default_factory=dict)  # version → publish time
    acked: dict[int, float] = field(default_factory=dict)  # version → when its ack came back
    messages: int = 0
    calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    no_version: int = 0
    call_ms: list[float] = field(default_factory=list)  # gRPC round trip per call
    late_ms: list[float] = field(default_factory=list)  # start of a call after its schedule
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended - self.started)

    def to_json(self) -> dict[str, Any]:
        d = self.duration_s
        return {
            "messages": self.messages, "calls": self.calls, "applied": len(self.versions),
            "statuses": dict(self.statuses), "refusals": dict(self.refusals),
            "no_version": self.no_version, "errors": dict(self.errors),
            "duration_s": round(d, 3),
            "applied_per_s": round(len(self.versions) / d, 2) if d else None,
            "call_ms": summary_ms(self.call_ms), "late_ms": summary_ms(self.late_ms),
        }


class Publisher:
    """One feed provider publishing odds changes on one event."""

    def __init__(self, target: str, token: str, provider: str, event_id: str,
                 markets: Mapping[str, Mapping[str, str]]) -> None:
        self.client = FeedClient(target, token, timeout_s=30.0)
        self.provider, self.event_id = provider, event_id
        # market → selection → opening price
        self.markets = {m: {s: Decimal(p) for s, p in sel.items()} for m, sel in markets.items()}
        if not self.markets:
            raise ValueError("no markets to move")
        self._seq = itertools.count(time.time_ns() // 1000)  # never below a previous run's
        self._turn = itertools.count()
        self.last_sent = 0.0

    def next_change(self) -> FeedMessage:
        """The next odds change (markets in turn, prices walking around their opening)."""
        turn = next(self._turn)
        names = sorted(self.markets)
        market = names[turn % len(names)]
        step = _WALK[(turn // len(names)) % len(_WALK)]
        prices = []
        for i, (selection, opening) in enumerate(sorted(self.markets[market].items())):
            price = ticks_away(opening, step if i % 2 == 0 else -step) \
                if is_on_ladder(opening) else opening
            prices.append((selection, price))
        return FeedMessage(self.provider, self.event_id, next(self._seq),
                           FeedKind.ODDS_CHANGE, sent_at=time.time(), market_id=market,
                           prices=tuple(prices))

    def alive(self) -> FeedMessage:
        return FeedMessage(self.provider, self.event_id, next(self._seq), FeedKind.ALIVE,
                           sent_at=time.time())

    async def send(self, messages: Sequence[FeedMessage], into: Published) -> None:
        """One gRPC call; each applied message's version → the time just before the call."""
        into.calls += 1
        into.messages += len(messages)
        t_pub = time.monotonic()
        self.last_sent = t_pub
        try:
            acks: list[Ack] = await self.client.publish(list(messages))
        except Exception as exc:  # Unavailable after the client's retries, a bad token, ...
            into.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            return
        t_ack = time.monotonic()
        into.call_ms.append((t_ack - t_pub) * 1000)
        for ack in acks:
            into.statuses[ack.status.value] += 1
            if ack.status is AckStatus.REFUSED:
                into.refusals[ack.code or "?"] += 1
            elif ack.status is AckStatus.APPLIED:
                if ack.version > 0:
                    into.versions[ack.version] = t_pub
                    into.acked[ack.version] = t_ack
                else:
                    into.no_version += 1

    async def at_rate(self, rate: float, duration_s: float,
                      stop: asyncio.Event | None = None) -> Published:
        """One message per call at ``rate``/s for ``duration_s`` (or until ``stop``)."""
        out = Published(started=time.monotonic())
        interval = 1.0 / rate
        for i in itertools.count():
            due = out.started + i * interval
            if due >= out.started + duration_s or (stop is not None and stop.is_set()):
                break
            wait = due - time.monotonic()
            if wait > 0:
                if stop is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
                    if stop.is_set():
                        break
                else:
                    await asyncio.sleep(wait)
            out.late_ms.append(max(0.0, time.monotonic() - due) * 1000)
            await self.send([self.next_change()], out)
        out.ended = time.monotonic()
        return out

    async def flat_out(self, duration_s: float, burst: int = 1) -> Published:
        """Calls back to back, ``burst`` changes per call, for ``duration_s``."""
        out = Published(started=time.monotonic())
        end = out.started + duration_s
        while time.monotonic() < end:
            await self.send([self.next_change() for _ in range(burst)], out)
        out.ended = time.monotonic()
        return out

    @contextlib.asynccontextmanager
    async def flowing(self, rate: float) -> AsyncIterator[Published]:
        """Changes at ``rate``/s for as long as the block runs (what they did: the value,
        filled in when the block ends)."""
        stop = asyncio.Event()
        result = Published()
        task = asyncio.create_task(self.at_rate(rate, 1e9, stop))
        try:
            yield result
        finally:
            stop.set()
            done = await task
            result.__dict__.update(done.__dict__)

    async def heartbeat(self, every_s: float = 5.0) -> None:
        """``alive`` whenever nothing was sent for ``every_s`` (cancel to stop)."""
        sink = Published()
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() - self.last_sent >= every_s:
                await self.send([self.alive()], sink)

    async def close(self) -> None:
        await self.client.close()
