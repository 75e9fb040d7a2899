"""Benchmark: durable bets/s through one event actor, and recovery time vs journal length.

Run: ``.venv/bin/python -m simulations.bench_event_actor [--quick]``

Everything runs against a private valkey-server with AOF ``appendfsync always`` (as inplay
embeds it), on this machine, in one run:

1. the raw ceiling: pipelined XADD of equal entries (the real journal payloads) into the same
   server, with the same batch size and concurrency the actor sees;
2. bets/s through one event actor on a real Ray, clients sending batches concurrently, every
   bet validated in order, journaled by group commit and acknowledged only after the write;
3. the ratio of the two;
4. recovery time (what ``__init__`` does after a crash) for journals of 10k, 100k and 1M
   entries, from the latest snapshot + tail and from the whole journal.

Prints a table and writes ``simulations/results/event_actor.json``. Quote medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from actors.event_actor import ActorConfig, load_book, remote_event_actor
from domain.bets import PlaceBet
from domain.book import Book, market_spec
from domain.codec import encode
from domain.events import EventCreated, OddsPolicy
from storage.embedded import EmbeddedRedis, bundled_jemalloc
from storage.journal import GENESIS, AsyncJournal, Entry, take_epoch
from storage.redis_client import async_client, sync_client

RESULTS = Path(__file__).parent / "results" / "event_actor.json"
BIG = "100000000000"


def event_definition(event_id: str) -> EventCreated:
    from decimal import Decimal

    markets = tuple(
        market_spec(
            f"m{i}", f"Market {i}",
            [("home", "Home", Decimal("2.50")), ("draw", "Draw", Decimal("3.20")),
             ("away", "Away", Decimal("2.80"))],
            in_play_delay_s=0.0, max_liability=Decimal(BIG), max_stake=Decimal(BIG),
            max_payout=Decimal(BIG),
        )
        for i in range(4)
    )
    return EventCreated(event_id, "Bench match", "soccer", "2026-11-27T15:00:00Z", markets, 0.0)


def make_bets(prefix: str, n: int) -> list[PlaceBet]:
    from decimal import Decimal

    sels = ("home", "draw", "away")
    prices = {"home": Decimal("2.50"), "draw": Decimal("3.20"), "away": Decimal("2.80")}
    out = []
    for i in range(n):
        sel = sels[i % 3]
        out.append(PlaceBet(f"{prefix}{i}", f"acct-{i % 5000}", f"m{i % 4}", sel,
                            Decimal(str(1 + i % 50)), prices[sel], OddsPolicy.NONE))
    return out


def sample_payloads(n: int) -> list[bytes]:
    book = Book("raw")
    book.create(event_definition("raw"))
    return [encode(book.place(b, 1.0)[0]) for b in make_bets("s", n)]


async def raw_ceiling(url: str, total: int, batch: int, concurrency: int) -> float:
    """Entries/s of pipelined XADDs of real payloads, same batch size and concurrency."""
    client = async_client(url)
    payloads = sample_payloads(batch)
    digest = "a" * 64
    per_worker = total // concurrency // batch

    async def worker(w: int) -> None:
        for _ in range(per_worker):
            async with client.pipeline(transaction=False) as pipe:
                for p in payloads:
                    pipe.xadd(f"{{raw:{w}}}:journal", {"e": p, "h": digest})
                await pipe.execute()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.delete(*(f"{{raw:{w}}}:journal" for w in range(concurrency)))
    await client.aclose()
    return per_worker * concurrency * batch / elapsed


async def actor_rate(actor: Any, prefix: str, total: int, batch: int, concurrency: int) -> float:
    """Durable bets/s: clients keep ``concurrency`` batches in flight until ``total``."""
    bets = make_bets(prefix, total)
    chunks = [bets[i : i + batch] for i in range(0, total, batch)]
    queue = list(reversed(chunks))

    async def client() -> None:
        while queue:
            results = await actor.place_bets.remote(queue.pop())
            assert not isinstance(results[0], dict), results[0]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def build_journal(url: str, event_id: str, entries: int, snapshot_every: int) -> None:
    """Write a journal of ``entries`` bet decisions exactly as the actor would."""
    sync = sync_client(url)
    client = async_client(url)
    journal = AsyncJournal(client, event_id, take_epoch(sync, event_id))
    book = Book(event_id)
    first = [Entry(encode(e)) for e in book.create(event_definition(event_id))]
    seq, digest = await journal.append(0, GENESIS, first)
    last_snap, done, chunk = 0, 1, 2000
    while done < entries:
        n = min(chunk, entries - done)
        batch = []
        for cmd in make_bets(f"{event_id}-{done}-", n):
            decision, _ = book.place(cmd, 1.0)
            batch.append(Entry(encode(decision), cmd.bet_id))
        book.index.clear()
        snap = None
        if snapshot_every and seq + n - last_snap >= snapshot_every:
            from domain.codec import state_to_dict

            snap = state_to_dict(book.state)
            last_snap = seq + n
        seq, digest = await journal.append(seq, digest, batch, snap)
        done += n
    await client.aclose()


def time_recovery(url: str, event_id: str, use_snapshot: bool, repeats: int) -> dict[str, Any]:
    client = sync_client(url)
    times, replayed = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        loaded = load_book(client, event_id, use_snapshot=use_snapshot)
        times.append(time.perf_counter() - started)
        replayed = loaded.replayed
    return {"median_s": statistics.median(times), "replayed": replayed, "runs": times}


async def throughput_section(server: EmbeddedRedis, quick: bool) -> dict[str, Any]:
    total = 60_000 if quick else 200_000
    batch, concurrency, runs = 256, 8, 3
    actor = remote_event_actor("bench-hot", ActorConfig(redis_url=server.url))
    await actor.create_event.remote(event_definition("bench-hot"))
    await actor_rate(actor, "warm", 10_000, batch, concurrency)
    raw, rates = [], []
    for r in range(runs):
        raw.append(await raw_ceiling(server.url, total, batch, concurrency))
        rates.append(await actor_rate(actor, f"r{r}-", total, batch, concurrency))
    stats = await actor.stats.remote()
    ray.kill(actor)
    raw_med, actor_med = statistics.median(raw), statistics.median(rates)
    return {
        "bets_per_call": batch, "calls_in_flight": concurrency, "bets_per_run": total,
        "actor_bets_per_s": rates, "raw_xadd_entries_per_s": raw,
        "actor_bets_per_s_median": actor_med, "raw_xadd_entries_per_s_median": raw_med,
        "ratio_actor_to_raw": actor_med / raw_med, "journal_seq": stats["seq"],
    }


async def recovery_section(server: EmbeddedRedis, quick: bool) -> list[dict[str, Any]]:
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    rows = []
    for size in sizes:
        event_id = f"rec-{size}"
        started = time.perf_counter()
        await build_journal(server.url, event_id, size, snapshot_every=5000)
        build_s = time.perf_counter() - started
        repeats = 3 if size <= 100_000 else 1
        with_snap = time_recovery(server.url, event_id, True, 3)
        without = time_recovery(server.url, event_id, False, repeats)
        rows.append({"entries": size, "build_s": build_s, "with_snapshot": with_snap,
                     "without_snapshot": without})
        await async_client(server.url).delete(
            f"{{ev:{event_id}}}:journal", f"{{ev:{event_id}}}:bets")
    return rows


def print_report(report: dict[str, Any]) -> None:
    t = report["throughput"]
    print("\n== one event actor, durable group commit (AOF appendfsync always) ==")
    print(f"  actor   : {t['actor_bets_per_s_median']:>10,.0f} bets/s  (median of "
          f"{len(t['actor_bets_per_s'])}; {t['bets_per_call']} bets/call, "
          f"{t['calls_in_flight']} calls in flight)")
    print(f"  ceiling : {t['raw_xadd_entries_per_s_median']:>10,.0f} XADD/s  (pipelined, same "
          "payloads, same batching)")
    print(f"  ratio   : {t['ratio_actor_to_raw']:.2f}")
    print("\n== recovery (snapshot every 5000 entries) ==")
    print(f"  {'entries':>9} | {'snapshot+tail':>14} | {'whole journal':>14} | replayed")
    for row in report["recovery"]:
        w, wo = row["with_snapshot"], row["without_snapshot"]
        print(f"  {row['entries']:>9,} | {w['median_s']:>12.3f} s | {wo['median_s']:>12.3f} s | "
              f"{w['replayed']:,} vs {wo['replayed']:,}")


async def main_async(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="inplay-bench-") as tmp:
        server = EmbeddedRedis(data_dir=Path(tmp), password=secrets.token_hex(16),
                               preload=bundled_jemalloc()).start()  # as `inplay up` runs it
        try:
            report = {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "quick": quick,
                "throughput": await throughput_section(server, quick),
                "recovery": await recovery_section(server, quick),
            }
        finally:
            server.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (about 1 minute)")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=300 * 1024**2,
             namespace="inplay", log_to_driver=False)
    try:
        report = asyncio.run(main_async(args.quick))
    finally:
        ray.shutdown()
    print_report(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
