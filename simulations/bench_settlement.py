"""Settling a whole market end to end, next to the same server's raw EVALSHA ceiling.

Starts a private valkey-server as ``inplay up`` does (AOF ``appendfsync always``, jemalloc)
and a local Ray; ``--players`` funded players place ``--bets`` bets on one event's three-way
market through the real saga (reservation, group commit, stake committed). Then, ``--runs``
times: a result is posted to the event actor (it closes the market and journals the result)
and a real settlement actor pays it: clock from the result call until the event actor has
journaled ``MarketSettled``, i.e. every winner's wallet credited, durably. Between runs the
result is rolled back (untimed), so every run does the same work: pay the same winners from
nothing, under a new result version.

The ceiling, in the same run: a trivial one-write Lua script by pipelined EVALSHA, as many
calls as settlement made wallet movements, in batches as large as settlement's.

    .venv/bin/python -m simulations.bench_settlement             # 100,000 bets, 3 runs
    .venv/bin/python -m simulations.bench_settlement --quick     # 10,000 bets

Prints the medians and writes ``simulations/results/settlement.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import ray
import redis.asyncio as aioredis

from actors.event_actor import ActorConfig
from actors.settlement import SettlementActor, SettlementConfig, settlement_name
from domain.events import MarketStatus
from domain.settlement import MarketResult
from simulations.markets import Population, populate
from storage.embedded import EmbeddedRedis, bundled_jemalloc
from storage.settlement import SettlementStore

RESULTS = Path(__file__).with_name("results") / "settlement.json"
TRIVIAL = "return redis.call('INCR', KEYS[1])"
WINNER = "home"


async def _settle_once(pop: Population, actor: Any, store: SettlementStore,
                       version: int) -> float:
    """Post result ``version`` and wait until the market is settled; seconds taken."""
    started = time.perf_counter()
    await pop.client.result_market("mw", MarketResult((WINNER,), result_version=version),
                                   close=True)
    await actor.kick.remote(pop.event_id)
    while True:
        market = (await pop.client.view()).market("mw")
        if market is not None and market.status is MarketStatus.SETTLED:
            return time.perf_counter() - started
        await asyncio.sleep(0.01)


async def _undo(pop: Population, actor: Any, store: SettlementStore) -> None:
    await pop.client.rollback_market("mw")
    await actor.kick.remote(pop.event_id)
    while (await store.cursor(pop.event_id)).seq < await store.work(pop.event_id):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def _ceiling(client: aioredis.Redis, calls: int, batch: int) -> float:
    """Calls/s of a trivial script by pipelined EVALSHA, ``batch`` calls per round trip."""
    sha = await client.script_load(TRIVIAL)
    started = time.perf_counter()
    for start in range(0, calls, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(calls, start + batch)):
            pipe.evalsha(sha, 1, f"{{bench:{i % 512}}}:n")
        await pipe.execute()
    return calls / (time.perf_counter() - started)


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    event_id = f"bench-settle-{secrets.token_hex(3)}"
    started = time.perf_counter()
    pop = await populate(url, event_id, players=args.players, bets=args.bets)
    populate_s = time.perf_counter() - started
    config = SettlementConfig(ActorConfig(redis_url=url), pool_size=1, batch=args.batch,
                              sweep_interval_s=3600)
    actor = ray.remote(SettlementActor).options(
        name=settlement_name(0), namespace="inplay", num_cpus=0).remote(0, config)
    store = SettlementStore(pop.wallet.redis)
    winners = sum(1 for b in pop.accepted if b.terms.selection_id == WINNER)
    times = []
    for run in range(args.runs):
        if run:
            await _undo(pop, actor, store)
        times.append(await _settle_once(pop, actor, store, version=2 * run + 1))
        print(f"  run {run + 1}: {len(pop.accepted):,} bets settled in {times[-1]:.2f} s "
              f"({len(pop.accepted) / times[-1]:,.0f} bets/s)", flush=True)
    ceilings = [await _ceiling(pop.wallet.redis, winners, args.batch)
                for _ in range(args.runs)]
    seconds = statistics.median(times)
    ceiling = statistics.median(ceilings)
    return {
        "bets": len(pop.accepted), "winners_paid": winners, "players": args.players,
        "batch": args.batch, "runs": args.runs, "populate_s": round(populate_s, 1),
        "settle_s": [round(t, 3) for t in times], "settle_s_median": round(seconds, 3),
        "bets_per_s": round(len(pop.accepted) / seconds),
        "movements_per_s": round(winners / seconds),
        "ceiling_evalsha_per_s": [round(c) for c in ceilings],
        "ceiling_evalsha_per_s_median": round(ceiling),
        "movements_vs_ceiling": round(winners / seconds / ceiling, 3),
        "aim_bets_per_s": 20_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bets", type=int, default=100_000)
    parser.add_argument("--players", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="10,000 bets, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.bets, args.players = 10_000, 40
    data = Path(tempfile.mkdtemp(prefix="inplay-bench-settle-"))
    server = EmbeddedRedis(data_dir=data, password=secrets.token_hex(16),
                           preload=bundled_jemalloc()).start()
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             object_store_memory=300 * 1024**2, namespace="inplay")
    try:
        print(f"settling {args.bets:,} bets ({args.runs} runs) ...", flush=True)
        report = asyncio.run(bench(args, server.url))
    finally:
        ray.shutdown()
        server.stop()
    report.update(machine=platform.machine(), cpus=os.cpu_count(),
                  measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  command="python -m simulations.bench_settlement"
                          + (" --quick" if args.quick else ""))
    print(f"\nmarket of {report['bets']:,} bets ({report['winners_paid']:,} winners): "
          f"settled in {report['settle_s_median']:.2f} s (median of {args.runs}) = "
          f"{report['bets_per_s']:,} bets/s (aim 20,000)")
    print(f"wallet movements {report['movements_per_s']:,}/s vs the server's pipelined "
          f"EVALSHA ceiling {report['ceiling_evalsha_per_s_median']:,}/s "
          f"(ratio {report['movements_vs_ceiling']})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
