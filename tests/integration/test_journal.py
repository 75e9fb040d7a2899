"""The journal against a real Redis-compatible server: fencing, chain, snapshots, recovery."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis

from domain.book import Book
from domain.codec import decode, encode, state_to_dict
from domain.events import BetAccepted
from storage.journal import (
    GENESIS,
    AsyncJournal,
    ChainBroken,
    Entry,
    Fenced,
    SeqConflict,
    recover,
    take_epoch,
    verify_chain,
)
from storage.keys import EventKeys
from tests.support.factories import bet, match_winner_event


async def _started(client: aioredis.Redis, sync: redis.Redis, event_id: str
                   ) -> tuple[AsyncJournal, Book, int, str]:
    """A journal whose first entry creates the event: (journal, book, seq, hash)."""
    journal = AsyncJournal(client, event_id, take_epoch(sync, event_id))
    book = Book(event_id)
    created = [Entry(encode(e)) for e in book.create(match_winner_event(event_id))]
    seq, digest = await journal.append(0, GENESIS, created)
    return journal, book, seq, digest


def _entries(book: Book, n: int, start: int = 0) -> list[Entry]:
    out = []
    for i in range(start, start + n):
        _, events = book.place(bet(f"b{i}", stake="1"), now=float(i))
        out.append(Entry(encode(events[0]), f"b{i}"))
    return out


async def test_group_commit_appends_a_batch_and_indexes_bets(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    epoch = take_epoch(sync, "j1")
    journal = AsyncJournal(client, "j1", epoch)
    book = Book("j1")
    created = [Entry(encode(e)) for e in book.create(match_winner_event("j1"))]
    seq, digest = await journal.append(0, GENESIS, created + _entries(book, 100))
    assert seq == 101
    assert sync.xlen(EventKeys("j1").journal) == 101
    assert verify_chain(sync, "j1") == 101
    payloads = await journal.bet_payloads(["b0", "b99", "missing"])
    assert set(payloads) == {"b0", "b99"}
    assert isinstance(decode(payloads["b0"]), BetAccepted)
    found = recover(sync, "j1")
    assert found.seq == 101 and found.hash == digest and found.snapshot is None
    await client.aclose()


async def test_a_zombie_with_an_old_epoch_cannot_append(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    old, book, seq, digest = await _started(client, sync, "j2")
    new = AsyncJournal(client, "j2", take_epoch(sync, "j2"))  # the successor starts
    with pytest.raises(Fenced):
        await old.append(seq, digest, _entries(book, 1))
    assert sync.xlen(EventKeys("j2").journal) == 1
    await new.append(seq, digest, _entries(book, 1, start=5))
    with pytest.raises(SeqConflict):
        await new.append(seq, digest, _entries(book, 1, start=9))
    assert verify_chain(sync, "j2") == 2
    await client.aclose()


async def test_snapshot_bounds_recovery_and_tampering_is_detected(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    journal, book, seq, digest = await _started(client, sync, "j3")
    seq, digest = await journal.append(seq, digest, _entries(book, 50),
                                       snapshot=state_to_dict(book.state))
    seq, digest = await journal.append(seq, digest, _entries(book, 7, start=50))
    found = recover(sync, "j3")
    assert found.snapshot is not None and found.snapshot["seq"] == 51
    assert len(found.entries) == 7 and found.seq == 58
    full = recover(sync, "j3", use_snapshot=False)
    assert len(full.entries) == 58 and full.hash == found.hash
    # rewrite the stream with one payload altered (its stored hash kept): detected
    key = EventKeys("j3").journal
    rows = cast(list[tuple[bytes, dict[Any, Any]]], sync.xrange(key))
    sync.delete(key)
    for entry_id, fields in rows:
        if entry_id == b"55-0":
            assert b'"stake":"1"' in fields[b"e"]
            fields[b"e"] = fields[b"e"].replace(b'"stake":"1"', b'"stake":"9"')
        sync.xadd(key, fields, id=entry_id)
    with pytest.raises(ChainBroken):
        recover(sync, "j3")
    await client.aclose()


async def test_concurrent_appenders_never_interleave(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    journal, book, seq, digest = await _started(client, sync, "j4")
    batches = [_entries(book, 5, start=i * 5) for i in range(4)]
    results = await asyncio.gather(
        *(journal.append(seq, digest, b) for b in batches), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, SeqConflict) for r in results if isinstance(r, Exception))
    assert verify_chain(sync, "j4") == 6
    await client.aclose()
