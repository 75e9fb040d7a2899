"""The feed adapter: one named, detached Ray actor per provider (``feed:<provider>``).

The ingest edge (gRPC ``Publish``/``PublishBatch`` and ``POST /v1/ops/feed``) parses a
provider's messages and hands them here; the adapter

- drops what it has seen already: a ``SequenceGate`` per provider answers a message at or
  below the last ``seq`` it let through for the event ``duplicate`` without an actor call.
  The gate is memory: after a restart it is empty and the event actors, which journal each
  provider's last applied ``seq``, drop what it no longer knows (they are the authority);
- groups the rest by event and forwards each group, in order, to its event actor
  (``EventClient.feed``: one call per event, events in parallel). An event without an actor
  is ``refused UNKNOWN_EVENT``: the adapter only looks actors up, it never creates one;
- fans an ``alive`` without an event id (the provider-wide heartbeat, gated by its own
  sequence: event id ``""``) out to every event the provider has fed, remembered in Redis
  (``storage.feed.FeedEvents``) so that the heartbeat keeps reaching them after a restart;
- answers one ack per message, in message order.

A group whose actor call fails (the actor is restarting, its journal write failed) is acked
``refused`` with the error's code (``UNAVAILABLE``), and the gate forgets those messages, so
that the provider's resend is not mistaken for a duplicate. A resend of messages that were
applied after all is answered ``duplicate`` by the event actor: ``duplicate`` means "already
applied, or superseded", never "lost".
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

import ray.exceptions as rx

from actors.event_actor import NAMESPACE, ActorConfig
from actors.registry import EventClient, EventRegistry
from domain import errors
from domain.feed import Ack, AckStatus, FeedKind, FeedMessage, SequenceGate
from storage.feed import FeedEvents
from storage.redis_client import async_client

log = logging.getLogger(__name__)

# an actor call that did not answer: the actor died, is restarting, or is being replaced
_GONE: tuple[type[BaseException], ...] = (rx.RayActorError, rx.ActorUnavailableError)


def adapter_name(provider: str) -> str:
    """The adapter actor of ``provider``."""
    return f"feed:{provider}"


@dataclass
class _Item:
    """One message bound for an event actor; ``index`` is its place in the call (None: a
    copy of a provider-wide heartbeat, whose own ack is already decided)."""

    index: int | None
    msg: FeedMessage


class FeedAdapter:
    """A provider's messages in, the event actors' acks out; see the module docstring."""

    def __init__(self, provider: str, config: ActorConfig) -> None:
        self.provider = provider
        self.registry = EventRegistry(config)
        self.gate = SequenceGate()
        self.store = FeedEvents(async_client(config.redis_url, socket_timeout=10))
        self._events: set[str] | None = None  # loaded from Redis on first use
        self._load = asyncio.Lock()
        self.counts = {"messages": 0, "duplicates": 0, "forwarded": 0, "refused": 0}

    async def publish(self, messages: list[FeedMessage]) -> list[Ack]:
        """One ack per message, in order (see the module docstring)."""
        events = await self._known()
        acks: list[Ack | None] = [None] * len(messages)
        groups: dict[str, list[_Item]] = {}
        for index, msg in enumerate(messages):
            if msg.provider != self.provider:
                acks[index] = Ack(msg.event_id, msg.seq, AckStatus.REFUSED,
                                  errors.InvalidFeedMessage.code,
                                  f"a message of {msg.provider} sent to {self.provider}'s feed")
            elif not self.gate.admit(msg):
                acks[index] = Ack(msg.event_id, msg.seq, AckStatus.DUPLICATE)
            elif msg.kind is FeedKind.ALIVE and not msg.event_id:
                acks[index] = Ack("", msg.seq, AckStatus.APPLIED)
                for event_id in sorted(events | groups.keys()):
                    groups.setdefault(event_id, []).append(_Item(None, msg))
            else:
                groups.setdefault(msg.event_id, []).append(_Item(index, msg))
        answered = await asyncio.gather(*(self._forward(e, items) for e, items in groups.items()))
        found = [e for e, (ok, _) in zip(groups, answered, strict=True) if ok]
        gone = [e for e, (ok, _) in zip(groups, answered, strict=True) if ok is None]
        await self._remember(found, gone)
        for items, (_, group_acks) in zip(groups.values(), answered, strict=True):
            for item, ack in zip(items, group_acks, strict=True):
                if item.index is not None:
                    acks[item.index] = ack
        out = [a for a in acks if a is not None]
        assert len(out) == len(messages)
        self._count(out)
        return out

    async def _forward(self, event_id: str, items: list[_Item]
                       ) -> tuple[bool | None, list[Ack]]:
        """The event actor's acks for ``items`` and whether the event exists (None: it does
        not); a failure is every item's ``refused`` ack, and the gate forgets them."""
        messages = [item.msg for item in items]
        try:
            return True, await self._call(event_id, messages)
        except Exception as exc:
            cause = getattr(exc, "cause", exc)  # Ray wraps what an actor raised
            failure = cause if isinstance(cause, errors.DomainError) else errors.Unavailable(
                f"event {event_id} did not answer: {type(cause).__name__}")
            if not isinstance(failure, errors.UnknownEvent):
                log.warning("feed %s: event %s: %s", self.provider, event_id, failure)
            self._forget(event_id, [m.seq for m in messages if m.event_id])
            state = None if isinstance(failure, errors.UnknownEvent) else False
            return state, [Ack(m.event_id, m.seq, AckStatus.REFUSED, failure.code,
                               failure.detail) for m in messages]

    async def _call(self, event_id: str, messages: list[FeedMessage]) -> list[Ack]:
        """``EventClient.feed``, looked up once more if the cached actor is gone."""
        for attempt in range(2):
            client: EventClient = await self.registry.get(event_id)  # never creates one
            try:
                return await client.feed(messages)
            except _GONE:
                self.registry.evict(event_id)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _forget(self, event_id: str, seqs: list[int]) -> None:
        """Let ``seqs`` of ``event_id`` through the gate again (they were not applied)."""
        if seqs and event_id in self.gate.last:
            last = min(self.gate.last[event_id], min(seqs) - 1)
            if last > 0:
                self.gate.last[event_id] = last
            else:  # nothing of it was applied: no memory of it (unknown events stay out)
                del self.gate.last[event_id]

    async def _known(self) -> set[str]:
        if self._events is None:
            async with self._load:
                if self._events is None:
                    self._events = await self.store.of(self.provider)
        return self._events

    async def _remember(self, found: list[str], gone: list[str]) -> None:
        events = await self._known()
        new = [e for e in found if e and e not in events]
        dropped = [e for e in gone if e in events]
        try:
            await self.store.add(self.provider, new)
            await self.store.forget(self.provider, dropped)
        except Exception as exc:  # memory still has them; the next message writes again
            log.warning("feed %s: events not saved: %s", self.provider, exc)
            return
        events.update(new)
        events.difference_update(dropped)

    def _count(self, acks: list[Ack]) -> None:
        self.counts["messages"] += len(acks)
        for ack in acks:
            if ack.status is AckStatus.DUPLICATE:
                self.counts["duplicates"] += 1
            elif ack.status is AckStatus.REFUSED:
                self.counts["refused"] += 1
            else:
                self.counts["forwarded"] += 1

    async def stats(self) -> dict[str, Any]:
        return {"provider": self.provider, "events": sorted(await self._known()),
                "gate": dict(self.gate.last), **self.counts, "pid": os.getpid()}


def start_adapter(provider: str, config: ActorConfig) -> Any:
    """The provider's detached adapter actor (get or create; blocking: a GCS call)."""
    import ray

    cls = ray.remote(FeedAdapter)
    return cls.options(name=adapter_name(provider), namespace=NAMESPACE, lifetime="detached",
                       get_if_exists=True, max_restarts=-1, num_cpus=0).remote(provider, config)


class FeedAdapters:
    """How the ingest edge reaches the adapters: provider → handle, made on first use."""

    def __init__(self, config: ActorConfig, attempts: int = 3, backoff_s: float = 0.5) -> None:
        self.config, self.attempts, self.backoff_s = config, attempts, backoff_s
        self._handles: dict[str, Any] = {}

    async def publish(self, provider: str, messages: list[FeedMessage]) -> list[Ack]:
        """The adapter's acks; ``Unavailable`` if it cannot be reached (nothing is known
        to be applied: resending is safe, what was applied comes back ``duplicate``)."""
        if not messages:
            return []
        for attempt in range(self.attempts):
            try:
                handle = await self._handle(provider)
                acks: list[Ack] = await handle.publish.remote(messages)
                return acks
            except _GONE as exc:  # restarting (max_restarts=-1) or gone: look it up again
                self._handles.pop(provider, None)
                log.warning("feed adapter of %s: %s (attempt %d)", provider, exc, attempt + 1)
                await asyncio.sleep(self.backoff_s * (attempt + 1))
        raise errors.Unavailable(f"the feed adapter of {provider} is not answering")

    async def _handle(self, provider: str) -> Any:
        handle = self._handles.get(provider)
        if handle is None:
            handle = await asyncio.to_thread(start_adapter, provider, self.config)
            self._handles[provider] = handle
        return handle
