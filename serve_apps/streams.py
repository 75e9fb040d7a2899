"""The odds stream of one replica: ``GET /v1/events/{event_id}/stream`` as server-sent events.

Per replica and event with open streams there is one hub: one long-poll loop calling the
region's odds cache (``actors.odds_cache``: ``changes(event_id, version, poll_s)``), which
encodes each message once and hands the same bytes to every stream of the event. Each stream
has a bounded queue; a client too slow to keep up (its queue full) gets a fresh snapshot
instead of an unbounded backlog. A stream sends only versions above the last it sent, and
only deltas that follow on from it (anything else: a snapshot first), so the ids a client sees
only ever go up and it never misses a change without being given a snapshot.

Reconnecting with ``Last-Event-ID``: the versions after it, from the hub's own recent messages
or from the cache's ring, or a fresh snapshot when they are gone.

An idle stream costs its queue, two small objects, one task waiting for the client to hang up
and the connection itself: measured with 1,000-3,000 idle streams on the running platform,
about 24 KB in the odds replica (Serve's own share of a request included; the stream is
answered outside FastAPI's routing, which halved it: ``serve_stream``), 6 KB in HAProxy and
34 KB in all its processes together. A comment line every ``keepalive_s`` keeps an idle
stream open through HAProxy and other proxies.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from actors.odds_cache import Changes, OddsCacheClient
from domain import errors
from domain.deltas import Delta
from serve_apps import problems, views

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class StreamConfig:
    """The odds stream's knobs (``cluster.config.Settings`` builds it)."""

    keepalive_s: float = 15.0  # a comment line this often on an idle stream
    retry_ms: int = 1000  # the reconnection delay the stream advises
    queue: int = 256  # messages waiting per stream before it is given a snapshot instead
    poll_s: float = 20.0  # each long poll of the cache
    recent: int = 256  # messages a hub keeps for reconnecting clients
    linger_s: float = 30.0  # a hub without streams stops after this


class Stream:
    """One client's stream: a bounded queue of encoded messages, and its position."""

    __slots__ = ("closed", "hub", "last", "ping", "queue", "resnap", "sent_at",
                 "snapshot_first", "wake")

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.queue: deque[tuple[int, bool, bytes]] = deque()  # (version, snapshot?, bytes)
        self.last = -1  # the last version sent
        self.resnap = False  # next: a fresh snapshot
        self.closed = False
        self.wake: asyncio.Future[None] | None = None
        self.snapshot_first: tuple[int, bytes] | None = None
        self.sent_at = 0.0  # loop time of the last bytes sent (the keep-alive ticker reads it)
        self.ping = False  # the ticker found the stream idle: a keep-alive is due

    def offer(self, version: int, snapshot: bool, data: bytes) -> None:
        """From the hub; never blocks: a full queue is dropped for a snapshot."""
        if self.resnap:
            return  # a snapshot is due anyway; what is queued now would be skipped
        if len(self.queue) >= self.hub.config.queue:
            self.queue.clear()
            self.resnap = True
        else:
            self.queue.append((version, snapshot, data))
        self.poke()

    def poke(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def close(self) -> None:
        self.closed = True
        self.poke()

    async def next_chunk(self) -> bytes | None:
        """The next bytes to send (a keep-alive when idle), None once the stream is over."""
        chunk = await self._next()
        if chunk is not None:
            self.sent_at, self.ping = asyncio.get_running_loop().time(), False
        return chunk

    async def _next(self) -> bytes | None:
        while not self.closed:
            if self.snapshot_first is not None:
                (version, data), self.snapshot_first = self.snapshot_first, None
                self.last = version
                return data
            if self.resnap:
                self.resnap = False
                version, data = await self.hub.snapshot()
                self.queue = deque(item for item in self.queue if item[0] > version)
                if version > self.last:
                    self.last = version
                    return data
                continue
            if self.queue:
                chunk = self._take()
                if chunk:
                    return chunk
                continue
            if self.ping:
                self.ping = False
                return views.SSE_KEEPALIVE
            # no timer of its own: the replica's one keep-alive ticker pokes idle streams
            # (``OddsStreams._keep_alive``), so a message costs one future and one wake-up
            self.wake = asyncio.get_running_loop().create_future()
            try:
                await self.wake
            finally:
                self.wake = None
        return None

    def _take(self) -> bytes:
        """Everything queued that follows on from the last version sent, in one write."""
        out: list[bytes] = []
        while self.queue:
            version, snapshot, data = self.queue.popleft()
            if version <= self.last:
                continue
            if not snapshot and version != self.last + 1:  # a hole: start over
                self.queue.clear()
                self.resnap = True
                break
            out.append(data)
            self.last = version
        return b"".join(out)


class Hub:
    """The streams of one event on this replica, fed by one long poll of the cache."""

    def __init__(self, streams: OddsStreams, event_id: str) -> None:
        self.streams, self.event_id, self.config = streams, event_id, streams.config
        self.cache = streams.cache
        self.version = -1  # the last version handed to the streams
        self.subscribers: set[Stream] = set()
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=self.config.recent)  # deltas
        self._snapshot: tuple[int, bytes] | None = None
        self._snapshotting: asyncio.Task[tuple[int, bytes]] | None = None
        self.ready: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._start())
        self._loop: asyncio.Task[None] | None = None
        self._idle_since: float | None = None

    async def _start(self) -> None:
        """The event's snapshot (UNKNOWN_EVENT for an event that does not exist)."""
        view = await self.cache.view(self.event_id)
        self.version = view.version
        self._snapshot = (view.version, views.sse_snapshot(view))
        self._loop = asyncio.get_running_loop().create_task(self._follow())

    async def snapshot(self) -> tuple[int, bytes]:
        """The event's snapshot, at the hub's version or later, encoded once for all."""
        if self._snapshot is not None and self._snapshot[0] >= self.version:
            return self._snapshot
        if self._snapshotting is None:
            self._snapshotting = asyncio.get_running_loop().create_task(self._fetch_snapshot())
        return await asyncio.shield(self._snapshotting)

    async def _fetch_snapshot(self) -> tuple[int, bytes]:
        try:
            view = await self.cache.view(self.event_id)
        finally:
            self._snapshotting = None
        found = (view.version, views.sse_snapshot(view))
        if self._snapshot is None or found[0] >= self._snapshot[0]:
            self._snapshot = found
        return found

    async def _follow(self) -> None:
        """The long poll: the cache's changes after the hub's version, handed to the streams;
        stops once no stream was open for ``linger_s``."""
        loop = asyncio.get_running_loop()
        delay = 0.05
        while True:
            if not self.subscribers:
                self._idle_since = self._idle_since or loop.time()
                if loop.time() - self._idle_since >= self.config.linger_s:
                    break
            else:
                self._idle_since = None
            poll = min(self.config.poll_s, self.config.linger_s) if not self.subscribers \
                else self.config.poll_s
            try:
                found = await self.cache.changes(self.event_id, self.version, poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(problems.unwrap(exc), errors.UnknownEvent):
                    log.info("odds stream: event %s is gone; closing its streams",
                             self.event_id)
                    break
                log.warning("odds stream %s: the cache did not answer (%s); again in %.2fs",
                            self.event_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            self._hand_out(found)
        self.streams.drop(self)
        for stream in list(self.subscribers):
            stream.close()

    def _hand_out(self, found: Changes) -> None:
        if found.snapshot is not None and found.snapshot.version > self.version:
            data = views.sse_snapshot(found.snapshot)
            self.version = found.snapshot.version
            self._snapshot = (self.version, data)
            self.recent.clear()
            for stream in self.subscribers:
                stream.offer(self.version, True, data)
        for delta in found.deltas:
            self._deliver(delta)

    def _deliver(self, delta: Delta) -> None:
        if delta.version <= self.version:
            return
        data = views.sse_delta(delta)
        if delta.version != self.version + 1:
            self.recent.clear()  # not contiguous: reconnects before it need a snapshot
        self.version = delta.version
        self.recent.append((delta.version, data))
        for stream in self.subscribers:
            stream.offer(delta.version, False, data)

    async def join(self, last_event_id: int | None) -> Stream:
        """A new stream: from a snapshot, or from the version after ``last_event_id``."""
        await asyncio.shield(self.ready)
        stream = Stream(self)
        self.subscribers.add(stream)
        try:
            if last_event_id is None or last_event_id < 0:
                stream.resnap = True
            elif self.recent and self.recent[0][0] <= last_event_id + 1 \
                    and last_event_id <= self.version:
                stream.last = last_event_id
                stream.queue.extend((v, False, d) for v, d in self.recent
                                    if v > last_event_id)
            elif last_event_id == self.version:
                stream.last = last_event_id
            else:
                await self._replay(stream, last_event_id)
        except BaseException:
            self.leave(stream)
            raise
        return stream

    async def _replay(self, stream: Stream, last_event_id: int) -> None:
        """What the cache still has after ``last_event_id`` (or its snapshot)."""
        found = await self.cache.changes(self.event_id, last_event_id, 0)
        if found.snapshot is not None and found.snapshot.version < last_event_id:
            # an id ahead of this cache (a client from another region's): a moment to catch up
            for _ in range(10):
                await asyncio.sleep(0.1)
                if self.version >= last_event_id:
                    found = await self.cache.changes(self.event_id, last_event_id, 0)
                    break
        items: list[tuple[int, bool, bytes]] = []
        if found.snapshot is not None:
            # always sent, even below the id: an id this cache never gave is not the client's
            stream.snapshot_first = (found.snapshot.version,
                                     views.sse_snapshot(found.snapshot))
            stream.last = -1
        else:
            stream.last = last_event_id
        items = [(d.version, False, views.sse_delta(d)) for d in found.deltas]
        # ahead of what the hub handed out meanwhile (the queue has those after the hub's)
        stream.queue = deque(sorted([*items, *stream.queue], key=lambda item: item[0]))

    def leave(self, stream: Stream) -> None:
        self.subscribers.discard(stream)
        stream.closed = True


class OddsStreams:
    """The hubs of one replica, by event."""

    def __init__(self, cache: OddsCacheClient, config: StreamConfig) -> None:
        self.cache, self.config = cache, config
        self.hubs: dict[str, Hub] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def _keep_alive(self) -> None:
        """One timer for every stream of the replica: a stream that sent nothing for
        ``keepalive_s`` is poked to send a comment line (rather than a timeout per wait)."""
        keepalive = self.config.keepalive_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(keepalive / 4, 0.05))
            due = loop.time() - keepalive
            for hub in list(self.hubs.values()):
                for stream in hub.subscribers:
                    if stream.sent_at <= due and not stream.ping:
                        stream.ping = True
                        stream.poke()

    async def open(self, event_id: str, last_event_id: int | None) -> Stream:
        """A stream of the event (UNKNOWN_EVENT before anything is sent)."""
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._keep_alive())
        hub = self.hubs.get(event_id)
        if hub is None:
            hub = self.hubs[event_id] = Hub(self, event_id)
        try:
            return await hub.join(last_event_id)
        except Exception:
            if hub.ready.done() and hub.ready.exception() is not None:
                self.drop(hub)  # never started: the next client tries again
            raise

    def drop(self, hub: Hub) -> None:
        if self.hubs.get(hub.event_id) is hub:
            del self.hubs[hub.event_id]

    def stats(self) -> dict[str, Any]:
        return {"hubs": len(self.hubs),
                "streams": sum(len(h.subscribers) for h in self.hubs.values())}


# GET /v1/events/{event_id}/stream with a well-formed id (``docs.ID_PATTERN``)
STREAM_PATH = re.compile(r"^/v1/events/([A-Za-z0-9_.:-]{1,64})/stream$")


async def serve_stream(streams: OddsStreams, event_id: str, scope: Any, receive: Any,
                       send: Any) -> None:
    """The stream answered straight from ASGI (``serve_apps.app.OddsAPI``), outside
    FastAPI's routing: the same ``open`` and response as the route, without the frames of
    its middleware and dependency stack, which an open stream would keep alive for its whole
    life (about a third of its memory). A refusal is the route's problem+json."""
    header = next((v for k, v in scope["headers"] if k == b"last-event-id"), None)
    try:
        stream = await streams.open(
            event_id, last_event_id(None if header is None else header.decode("latin-1")))
    except Exception as exc:
        await problems.internal_error(exc)(scope, receive, send)
        return
    await EventStreamResponse(stream)(scope, receive, send)


def last_event_id(header: str | None) -> int | None:
    """The version a reconnecting client saw last (``Last-Event-ID``), None if unusable."""
    if header is None or not header.strip().isdigit() or len(header.strip()) > 18:
        return None
    return int(header.strip())


class EventStreamResponse(Response):
    """The stream as an ASGI response: the headers, the ``retry:`` hint, then messages until
    the client hangs up (or the event is gone). Its own small loop rather than Starlette's
    ``StreamingResponse``: one task per stream besides the request's, for the hang-up."""

    media_type = EVENT_STREAM

    def __init__(self, stream: Stream | None = None) -> None:
        # no body, so no Content-Length (as StreamingResponse): the answer is chunked
        self.status_code, self.background, self.stream = 200, None, stream
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        stream = self.stream
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        if stream is None or scope.get("inplay.head"):
            if stream is not None:
                stream.hub.leave(stream)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        watcher = asyncio.get_running_loop().create_task(_hang_up(receive, stream))
        try:
            await send({"type": "http.response.body", "more_body": True,
                        "body": views.sse_retry(stream.hub.config.retry_ms)})
            while (chunk := await stream.next_chunk()) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            stream.hub.leave(stream)


async def _hang_up(receive: Any, stream: Stream) -> None:
    """Waits for the client to go, then closes its stream."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stream.close()
            return
