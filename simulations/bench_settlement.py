"""Settling a whole market end to end, next to the same server's raw EVALSHA ceiling.

Starts a private valkey-server as ``inplay up`` does (AOF ``appendfsync always``, jemalloc)
and a local Ray, then a settlement actor, as on a match day: it follows the event's journal
while ``--players`` funded players place ``--bets`` bets on each of ``--runs`` three-way
markets through the real saga (reservation, group commit, stake committed). Then each market
in turn gets its result: the clock runs from the result call until the event actor has
journaled ``MarketSettled``, i.e. every winner's wallet credited, durably. Each run is a
first settlement of a market of ``--bets`` bets; the headline is their median.

Two more measurements on the last market: a *resettlement* (the result rolled back, then
paid again under a new version: each bet's record is read and extended) and a *cold*
settlement (a new settlement actor that reads the whole journal before paying: what a
restart costs).

The ceiling, in the same run: a trivial one-write Lua script by pipelined EVALSHA, as many
calls as settlement made wallet movements, in batches as large as settlement's.

    .venv/bin/python -m simulations.bench_settlement             # 3 markets of 100,000 bets
    .venv/bin/python -m simulations.bench_settlement --quick     # 3 markets of 10,000

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


async def _settle(pop: Population, actor: Any, market: str, version: int) -> float:
    """Post result ``version`` of ``market`` and wait until it is settled; seconds taken."""
    started = time.perf_counter()
    await pop.client.result_market(market, MarketResult((WINNER,), result_version=version),
                                   close=True)
    await actor.kick.remote(pop.event_id)
    while True:
        found = (await pop.client.view()).market(market)
        if found is not None and found.status is MarketStatus.SETTLED:
            return time.perf_counter() - started
        await asyncio.sleep(0.01)


async def _undo(pop: Population, actor: Any, store: SettlementStore, market: str) -> None:
    await pop.client.rollback_market(market)
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


def _actor(url: str, batch: int, index: int, sweep_s: float = 1.0) -> Any:
    config = SettlementConfig(ActorConfig(redis_url=url), pool_size=1, batch=batch,
                              sweep_interval_s=sweep_s)
    return ray.remote(SettlementActor).options(
        name=settlement_name(index), namespace="inplay", num_cpus=0).remote(0, config)


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    event_id = f"bench-settle-{secrets.token_hex(3)}"
    markets = tuple(f"mw{i + 1}" for i in range(args.runs))
    # started first: it folds the journal while the bets come in, as on a match day
    # (it finds the event in the catalog as soon as populate lists it)
    actor = _actor(url, args.batch, 0)
    started = time.perf_counter()
    pop = await populate(url, event_id, players=args.players, bets=args.bets * args.runs,
                         markets=markets)
    populate_s = time.perf_counter() - started
    store = SettlementStore(pop.wallet.redis)
    await asyncio.sleep(3)  # let its sweep catch up with the last bets
    per_market = len(pop.accepted) // args.runs
    winners = sum(1 for b in pop.accepted if b.terms.selection_id == WINNER) // args.runs
    times = []
    for run, market in enumerate(markets):
        times.append(await _settle(pop, actor, market, version=1))
        print(f"  run {run + 1}: {per_market:,} bets of {market} settled in {times[-1]:.2f} s "
              f"({per_market / times[-1]:,.0f} bets/s)", flush=True)
    last = markets[-1]
    await _undo(pop, actor, store, last)
    resettle = await _settle(pop, actor, last, version=2)
    print(f"  resettled {last}: {resettle:.2f} s", flush=True)
    await _undo(pop, actor, store, last)
    ray.kill(actor)
    # started and ready, but it has not read the journal (its sweep would: not yet)
    cold_actor = _actor(url, args.batch, 1, sweep_s=3600)
    await cold_actor.ping.remote()
    cold = await _settle(pop, cold_actor, last, version=3)
    print(f"  cold (a new actor reads the whole journal first): {cold:.2f} s", flush=True)
    ceilings = [await _ceiling(pop.wallet.redis, winners, args.batch) for _ in range(3)]
    seconds, ceiling = statistics.median(times), statistics.median(ceilings)
    return {
        "bets_per_market": per_market, "markets": args.runs, "winners_paid": winners,
        "players": args.players, "batch": args.batch, "populate_s": round(populate_s, 1),
        "settle_s": [round(t, 3) for t in times], "settle_s_median": round(seconds, 3),
        "bets_per_s": round(per_market / seconds),
        "movements_per_s": round(winners / seconds),
        "resettle_s": round(resettle, 3), "resettle_bets_per_s": round(per_market / resettle),
        "cold_settle_s": round(cold, 3), "cold_bets_per_s": round(per_market / cold),
        "ceiling_evalsha_per_s": [round(c) for c in ceilings],
        "ceiling_evalsha_per_s_median": round(ceiling),
        "movements_vs_ceiling": round(winners / seconds / ceiling, 3),
        "aim_bets_per_s": 20_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bets", type=int, default=100_000)
    parser.add_argument("--players", type=int, default=750)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="10,000 bets, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.bets, args.players = 10_000, 120
    data = Path(tempfile.mkdtemp(prefix="inplay-bench-settle-"))
    server = EmbeddedRedis(data_dir=data, password=secrets.token_hex(16),
                           preload=bundled_jemalloc()).start()
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             object_store_memory=300 * 1024**2, namespace="inplay")
    try:
        print(f"{args.runs} markets of {args.bets:,} bets ...", flush=True)
        report = asyncio.run(bench(args, server.url))
    finally:
        ray.shutdown()
        server.stop()
    report.update(machine=platform.machine(), cpus=os.cpu_count(),
                  measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  command="python -m simulations.bench_settlement"
                          + (" --quick" if args.quick else ""))
    print(f"\nmarket of {report['bets_per_market']:,} bets ({report['winners_paid']:,} "
          f"winners): settled in {report['settle_s_median']:.2f} s (median of {args.runs}) = "
          f"{report['bets_per_s']:,} bets/s (aim 20,000); resettled in "
          f"{report['resettle_s']:.2f} s ({report['resettle_bets_per_s']:,}/s); cold "
          f"{report['cold_settle_s']:.2f} s ({report['cold_bets_per_s']:,}/s)")
    print(f"wallet movements {report['movements_per_s']:,}/s vs the server's pipelined "
          f"EVALSHA ceiling {report['ceiling_evalsha_per_s_median']:,}/s "
          f"(ratio {report['movements_vs_ceiling']})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
