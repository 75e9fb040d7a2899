"""The event journal in Redis: an append-only stream per event, fenced, hash-chained.

Keys (one hash tag per event, so every script touches one slot and Redis Cluster works):

- ``{ev:<id>}:journal`` stream; entry ``<seq>-0`` holds ``e`` (the encoded event) and ``h``
  (sha256 of the previous entry's hash + this payload: a chain the audit trail signs);
- ``{ev:<id>}:head`` hash: ``seq``, ``hash`` and ``epoch`` of the last append;
- ``{ev:<id>}:epoch`` the fencing token; each actor incarnation INCRs it and every append
  checks it atomically, so a zombie predecessor can never write;
- ``{ev:<id>}:snap`` the latest snapshot (JSON: ``seq``, ``hash``, ``state``), written by the
  same atomic append that reaches it;
- ``{ev:<id>}:bets`` hash: bet id → the journal payload of the bet's latest decision (the
  idempotency index, and bet lookups that need no actor).

One ``append`` is ONE round trip whatever the number of entries (group commit).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from storage.keys import EventKeys
from storage.scripts import SCRIPTS, ScriptRunner, sha

GENESIS = "0" * 64
APPEND = SCRIPTS["journal_append"]


class JournalError(RuntimeError):
    """The append was refused; the in-memory state must be rebuilt from Redis."""


class Fenced(JournalError):
    """A newer incarnation owns this event: this one must stop writing (and exit)."""


class SeqConflict(JournalError):
    """The journal head is not where this writer thought: someone else appended."""


class DuplicateBet(JournalError):
    """A bet appended as new is decided already: nothing was written; decide the batch again
    with the earlier decisions loaded (``bet_payloads``)."""


class ChainBroken(JournalError):
    """An entry's hash does not follow from its predecessor: the journal was tampered with."""


def chain_hash(previous: str, payload: bytes) -> str:
    return hashlib.sha256(previous.encode() + payload).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One journaled event; a bet's entry is also indexed under its bet id. ``settles``: the
    entry calls for settlement work (a result, a rollback, a void window, ...)."""

    payload: bytes
    bet_id: str = ""
    settles: bool = False
    # the bet was decided without loading an earlier decision: the append refuses it
    # (DuplicateBet) if the bet is in the index already
    new: bool = False


@dataclass
class Recovered:
    """The journal as recovery found it."""

    snapshot: dict[str, Any] | None
    entries: list[tuple[int, bytes]]
    seq: int
    hash: str


def _error(exc: redis.ResponseError) -> JournalError:
    text = str(exc)
    if "FENCED" in text:
        return Fenced(text)
    if "SEQ_CONFLICT" in text:
        return SeqConflict(text)
    if "DUPLICATE_BET" in text:
        return DuplicateBet(text)
    return JournalError(text)


class AsyncJournal:
    """The writer side, used by the event actor on its event loop."""

    def __init__(
        self,
        client: aioredis.Redis,
        event_id: str,
        epoch: int,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 100,
    ) -> None:
        self.client = client
        self.keys = EventKeys(event_id)
        self.epoch = epoch
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._runner = ScriptRunner(client)
        self._key_map = {"epoch": self.keys.epoch, "journal": self.keys.journal,
                         "head": self.keys.head, "bets": self.keys.bets,
                         "snapshot": self.keys.snapshot, "work": self.keys.settle_work}

    async def append(
        self,
        seq: int,
        prev_hash: str,
        entries: Sequence[Entry],
        snapshot: dict[str, Any] | None = None,
    ) -> tuple[int, str]:
        """Append ``entries`` after ``seq`` in one round trip; returns the new (seq, hash).

        ``snapshot`` is the state after these entries; it is stored with the same write.
        """
        rest: list[Any] = []
        digest = prev_hash
        for entry in entries:
            digest = chain_hash(digest, entry.payload)
            rest += [entry.payload, digest, entry.bet_id, b"1" if entry.new else b""]
        snap = b""
        if snapshot is not None:
            snap = orjson.dumps({"seq": seq + len(entries), "hash": digest, "state": snapshot})
        rest += [digest, snap]
        work = max((i for i, e in enumerate(entries, start=1) if e.settles), default=0)
        keys, args = APPEND.call(self._key_map, {"epoch": self.epoch, "seq": seq,
                                                 "count": len(entries), "work": work}, rest)
        try:
            if self.wait_replicas:
                new_seq = await self._append_and_wait(keys, args)
            else:
                new_seq = await self._runner.run(APPEND, keys, args)
        except redis.ResponseError as exc:
            raise _error(exc) from exc
        return int(new_seq), digest

    async def _append_and_wait(self, keys: list[str], args: list[Any]) -> int:
        for attempt in range(2):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.evalsha(sha(APPEND), len(keys), *keys, *args)
                pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
                try:
                    new_seq, acked = await cast(Awaitable[list[Any]], pipe.execute())
                    break
                except NoScriptError:
                    if attempt:
                        raise
                    await self.client.script_load(APPEND.source())
        if int(acked) < self.wait_replicas:
            raise JournalError(f"only {acked} of {self.wait_replicas} replicas acknowledged")
        return int(new_seq)

    async def bet_payloads(self, bet_ids: Sequence[str]) -> dict[str, bytes]:
        """The indexed journal payloads of those bets that exist (one HMGET)."""
        if not bet_ids:
            return {}
        raw = await cast(Awaitable[list[Any]], self.client.hmget(self.keys.bets, list(bet_ids)))
        return {b: r for b, r in zip(bet_ids, raw, strict=True) if r is not None}


def take_epoch(client: redis.Redis, event_id: str) -> int:
    """Fence out every earlier incarnation: from now on only this epoch may append."""
    return int(cast(int, client.incr(EventKeys(event_id).epoch)))


def read_journal(
    client: redis.Redis, event_id: str, after: int = 0, chunk: int = 10_000
) -> Iterator[tuple[int, bytes, str]]:
    """Entries with seq > ``after``, in order, as (seq, payload, hash)."""
    key = EventKeys(event_id).journal
    start = f"{after + 1}-0"
    while True:
        rows = cast(list[Any], client.xrange(key, min=start, max="+", count=chunk))
        if not rows:
            return
        for entry_id, fields in rows:
            seq = int(entry_id.split(b"-")[0])
            yield seq, fields[b"e"], fields[b"h"].decode()
        start = f"({rows[-1][0].decode()}"


def _as_is(response: Any, **options: Any) -> Any:
    return response


async def follow_journal(client: aioredis.Redis, event_id: str, after: int = 0,
                         digest: str = GENESIS, chunk: int = 5_000
                         ) -> AsyncIterator[list[tuple[int, bytes, str]]]:
    """The journal after entry ``after`` (whose hash is ``digest``), in chunks of (seq,
    payload, hash), each entry's hash checked against its predecessor's (ChainBroken
    otherwise): for readers that fold it (settlement), not the actor that writes it."""
    key = EventKeys(event_id).journal
    # the same connections, without redis-py's per-entry stream parsing (a dict per entry
    # built in Python): the reply comes as hiredis gives it, [[id, [b"e", e, b"h", h]], ...]
    raw = aioredis.Redis(connection_pool=client.connection_pool)
    raw.set_response_callback("XRANGE", _as_is)
    start, seq = f"{after + 1}-0", after
    while True:
        rows = cast(list[Any], await raw.execute_command("XRANGE", key, start, "+", "COUNT",
                                                         chunk))
        if not rows:
            return
        out = []
        for entry_id, fields in rows:
            entry_seq = int(entry_id.split(b"-")[0])
            named = dict(zip(fields[::2], fields[1::2], strict=True))
            payload = named[b"e"]
            digest = chain_hash(digest, payload)
            if entry_seq != seq + 1 or named[b"h"].decode() != digest:
                raise ChainBroken(f"event {event_id}: entry {entry_seq} breaks the chain")
            seq = entry_seq
            out.append((seq, payload, digest))
        yield out
        start = f"({rows[-1][0].decode()}"


def recover(client: redis.Redis, event_id: str, use_snapshot: bool = True) -> Recovered:
    """The latest snapshot (if any) and the verified journal after it."""
    keys = EventKeys(event_id)
    snapshot = None
    seq, digest = 0, GENESIS
    if use_snapshot:
        raw = cast(bytes | None, client.get(keys.snapshot))
        if raw is not None:
            snapshot = orjson.loads(raw)
            seq, digest = int(snapshot["seq"]), str(snapshot["hash"])
    entries: list[tuple[int, bytes]] = []
    for entry_seq, payload, entry_hash in read_journal(client, event_id, after=seq):
        expected = chain_hash(digest, payload)
        if entry_seq != seq + 1 or entry_hash != expected:
            raise ChainBroken(f"event {event_id}: entry {entry_seq} does not follow {seq}")
        entries.append((entry_seq, payload))
        seq, digest = entry_seq, entry_hash
    head = cast(dict[bytes, bytes], client.hgetall(keys.head))
    if head and int(head[b"seq"]) != seq:
        raise ChainBroken(f"event {event_id}: head says {head[b'seq']!r}, journal ends at {seq}")
    return Recovered(snapshot, entries, seq, digest)


def verify_chain(client: redis.Redis, event_id: str) -> int:
    """Walk the whole journal from genesis; returns its length or raises ChainBroken."""
    seq, digest = 0, GENESIS
    for entry_seq, payload, entry_hash in read_journal(client, event_id):
        if entry_seq != seq + 1 or entry_hash != chain_hash(digest, payload):
            raise ChainBroken(f"event {event_id}: entry {entry_seq} breaks the chain")
        seq, digest = entry_seq, entry_hash
    return seq
