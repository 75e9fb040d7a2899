"""Wallet throughput against the same server's raw EVALSHA ceiling, measured in one run.

Starts a private EmbeddedRedis (temp dir, AOF ``appendfsync always``), funds a set of verified
accounts, then measures with ``--concurrency`` asyncio clients:

- wallet: reserve + commit pairs/s (two full Lua scripts with every protection check each);
- ceiling: a trivial one-write Lua script called by pipelined EVALSHA (``--pipeline`` deep);
- for context, the same trivial script one call per round trip (how the wallet is called);
- the allocator: all of it against a server on the jemalloc `inplay up` preloads (the headline
  numbers) and against one on the binary's own glibc malloc, with the server's CPU per
  reserve+commit pair and its RSS at the end;

medians of ``--runs`` runs, printed and saved to ``simulations/results/wallet.json``.
``--quick`` keeps the whole run well under a minute.

    .venv/bin/python -m simulations.bench_wallet --quick
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from cluster import processes
from domain.clock import ManualClock
from domain.identity import Argon2Params, PasswordHasher
from storage.accounts import Accounts
from storage.embedded import EmbeddedRedis, bundled_jemalloc
from storage.wallet import Wallet, WalletConfig

RESULTS = Path(__file__).with_name("results") / "wallet.json"
TRIVIAL = "return redis.call('INCR', KEYS[1])"


async def _fund(wallet: Wallet, accounts: Accounts, n: int) -> list[str]:
    ids = []
    for i in range(n):
        acct = await accounts.register(f"bench{i}", "bench-password", "GB", "1980-01-01")
        await accounts.decide_kyc(acct.account_id, "verified", "bench", "bench")
        await wallet.deposit(acct.account_id, f"fund{i}", "20000.00", "bank_transfer")
        ids.append(acct.account_id)
    return ids


async def _wallet_run(wallet: Wallet, ids: list[str], concurrency: int, seconds: float) -> float:
    counter = itertools.count()
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(w: int) -> None:
        nonlocal done
        acct = ids[w % len(ids)]
        while time.perf_counter() < deadline:
            bet = f"bet{next(counter)}"
            await wallet.reserve(acct, bet, "1.00", "sport_prematch")
            await wallet.commit(acct, bet)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - start)


async def _raw_run(client: aioredis.Redis, sha: str, concurrency: int, depth: int,
                   seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(w: int) -> None:
        nonlocal done
        key = f"{{bench:{w}}}:n"
        while time.perf_counter() < deadline:
            pipe = client.pipeline(transaction=False)
            for _ in range(depth):
                pipe.evalsha(sha, 1, key)
            await pipe.execute()
            done += depth

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - start)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used."""
    return processes.cpu_seconds(pid) or 0.0


def _rss_mb(pid: int) -> float:
    return (processes.rss_bytes(pid) or 0) / 2**20


async def bench(args: argparse.Namespace, url: str, server_pid: int) -> dict[str, Any]:
    """Run the measurements against ``url`` (served by ``server_pid``); return the report."""
    client = aioredis.from_url(url, max_connections=args.concurrency + 8)
    clock = ManualClock(time.time())
    wallet = Wallet(client, WalletConfig(idempotency_ttl_s=86_400), clock)
    accounts = Accounts(client, clock=clock,
                        hasher=PasswordHasher(Argon2Params(time_cost=1, memory_kib=1024)))
    ids = await _fund(wallet, accounts, args.accounts)
    sha = await client.script_load(TRIVIAL)
    pairs, raw, single, cpu_per_pair = [], [], [], []
    for _ in range(args.runs):
        cpu0 = _cpu_s(server_pid)
        pairs.append(await _wallet_run(wallet, ids, args.concurrency, args.seconds))
        cpu_per_pair.append((_cpu_s(server_pid) - cpu0) / (pairs[-1] * args.seconds) * 1e6)
        raw.append(await _raw_run(client, sha, args.concurrency, args.pipeline, args.seconds))
        # the same trivial script one call per round trip, as the wallet calls are made:
        # separates the client's round-trip cost from the scripts' own cost
        single.append(await _raw_run(client, sha, args.concurrency, 1, args.seconds))
    await client.aclose()
    pair_rate, raw_rate = statistics.median(pairs), statistics.median(raw)
    return {
        "wallet_reserve_commit_pairs_per_s": round(pair_rate, 1),
        "wallet_scripts_per_s": round(2 * pair_rate, 1),
        "raw_evalsha_per_s": round(raw_rate, 1),
        "ratio_wallet_scripts_to_raw": round(2 * pair_rate / raw_rate, 4),
        "ratio_pairs_to_raw": round(pair_rate / raw_rate, 4),
        "raw_unpipelined_evalsha_per_s": round(statistics.median(single), 1),
        "server_cpu_us_per_pair": round(statistics.median(cpu_per_pair), 1),
        "server_rss_mb_at_end": round(_rss_mb(server_pid), 1),
        "runs": {"pairs_per_s": [round(p, 1) for p in pairs],
                 "raw_evalsha_per_s": [round(r, 1) for r in raw]},
        "config": {"concurrency": args.concurrency, "pipeline_depth": args.pipeline,
                   "seconds_per_run": args.seconds, "runs": args.runs,
                   "accounts": args.accounts, "appendfsync": "always",
                   "python": platform.python_version(), "machine": platform.machine()},
    }


def main() -> None:
    """Parse arguments, run the benchmark on a private server, print and save JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (< 1 minute)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 2.5)
    reports = {}
    for allocator, preload in (("jemalloc", bundled_jemalloc()), ("libc", None)):
        if allocator == "jemalloc" and preload is None:
            raise SystemExit("ray's wheel ships no core/libjemalloc.so: nothing to compare")
        with tempfile.TemporaryDirectory(prefix="inplay-bench-redis-") as tmp:
            server = EmbeddedRedis(data_dir=Path(tmp), password=secrets.token_hex(16),
                                   appendfsync="always", preload=preload).start()
            try:
                assert server.process is not None
                reports[allocator] = asyncio.run(bench(args, server.url, server.process.pid))
            finally:
                server.stop()
    # the headline numbers are the server as `inplay up` runs it
    report = dict(reports["jemalloc"])
    jem, libc = reports["jemalloc"], reports["libc"]
    report["allocators"] = {
        name: {k: r[k] for k in ("wallet_reserve_commit_pairs_per_s", "server_cpu_us_per_pair",
                                 "server_rss_mb_at_end")}
        for name, r in reports.items()}
    report["ratio_server_cpu_jemalloc_to_libc"] = round(
        jem["server_cpu_us_per_pair"] / libc["server_cpu_us_per_pair"], 3)
    report["ratio_pairs_jemalloc_to_libc"] = round(
        jem["wallet_reserve_commit_pairs_per_s"] / libc["wallet_reserve_commit_pairs_per_s"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
