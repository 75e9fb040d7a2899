"""HTTP benchmark: durable bets/s on one hot event, next to the HTTP ceiling and naive Serve.

Run from the repo root (``--quick``: one run in under 3 minutes; the default: three full
runs, about 4 minutes each, and the median of each figure over them):

    .venv/bin/python -m simulations.bench_http [--quick] [--runs N] [--profile]
        [--sections 1,2,3,shed] [--shed-levels 25,50,...] [--shed-segment-s S]
        [--wait-quiet SECONDS] [--platform-env INPLAY_API_REPLICAS=2] [--no-demo]
        [--keep-home] [--results PATH]

One run, this machine, loopback only, the same closed-loop load generator for every section
(wrk with a generated Lua script — installed with apt-get if missing — or, with ``--loadgen
python``, 2 processes × asyncio with a lean keep-alive HTTP/1.1 client, see loadgen.py):

1. the HTTP ceiling: plain uvicorn + FastAPI ``GET /hello``, one worker, ``--no-access-log``;
2. the naive Serve path: a private ``ray.init(address="local")`` + ``serve.run`` in a subprocess
   (``simulations/baselines/naive_serve.py``), default proxy, none of the HAProxy/throughput
   flags, a ``POST /bet`` making one call per request to a trivial async actor; at 64
   connections (the usual client count) and at 5 (its ``max_ongoing_requests``: beyond it,
   requests wait in the proxy's router, which retries with a 25 ms → 0.5 s backoff);
3. the real platform: ``inplay up --demo --detach`` in a temporary ``INPLAY_HOME`` on free
   ports and a fresh ``HOME`` (``cluster.harness.LocalPlatform``, as the e2e tests start it).
   The benchmark registers players, verifies them (operator token from ``inplay token
   create``), funds and logs them in — 128/256 of them, so the per-account rate limit (20/s) is
   not what is measured; 429s are counted and called out — creates one event (4 markets, no
   in-play delay, liability limit at the API's maximum) and puts it in play, then posts
   ``/v1/bets`` with unique Idempotency-Keys, ``odds_change: "any"`` at the current prices:
   closed loop at several connection counts → accepted (201) durable bets/s, p50/p99, errors by
   status and problem code; an open loop at a constant 1,000 bets/s, latency measured from each
   request's scheduled send time (no coordinated omission) → p99 (and, when 1,000/s is more
   than half the closed-loop capacity, one at half that capacity); then ``inplay down`` (anything it
   leaves running is reported and ended by pid). Also on the platform: ``GET /livez`` (a
   trivial FastAPI route through the same HAProxy and replicas: the ceiling of any route on
   this Serve stack), and the Redis commands per accepted bet (``INFO commandstats``: calls
   are exact; the µs are the server's wall clock, inflated when it is descheduled); and the
   same bets over the partner gRPC API (``simulations/httpbench/grpc_bets.py``: ``PlaceBets``
   of 20 bets, one channel per player with one call in flight, closed loop, in a process of
   its own) beside HTTP's best, as bets/s and their ratio (a partner is one account, and an
   account's bets are rate limited, 20/s by default: ``--platform-env
   INPLAY_RATE_LIMIT_PER_S=1000 --platform-env INPLAY_RATE_LIMIT_BURST=1000`` lifts it for
   both, or the gRPC figure measures the limit);
   ``shed``: the load-shedding curve on the same platform, after the closed loop measured
   its capacity (``simulations/httpbench/shedding.py``): open-loop segments at 25, 50, 75,
   100, 125, 150 and 200% of that capacity (``--shed-levels``, ``--shed-segment-s``: 8 s
   each), lowest first, with enough players that the per-account limit refuses nothing and
   enough connections that no request waits for one. Per level: the rate offered, accepted
   (201) bets/s, ``OVERLOADED`` 503s/s and how many carried ``Retry-After``, any other answer,
   p50/p99/p99.9 of the accepted bets from their scheduled send time. Then, once the
   sweeper's window has passed, the money: no reservation left, and the players' balances
   plus the stakes the book holds equal what they were funded with (a refused bet moved
   nothing) — PASS/MISS lines, the ``shedding`` key of section 3's results, and the curve
   as a PNG beside the results file (``http.json`` → ``http_shedding.png``). Only the curve
   (the closed loop it needs included, about 4 minutes)::

       .venv/bin/python -m simulations.bench_http --sections shed --runs 1 \
           --results simulations/results/http_shedding.json
4. the ratios real/hello, Serve hello/hello, real/Serve hello, real/naive and gRPC/HTTP,
   against the aims: ≥ 2,000 accepted durable bets/s on one event, ≥ 75% of Serve's own
   trivial route (``GET /livez``) in the same run, p99 ≤ 50 ms and p99.9 ≤ 150 ms at 1,000
   bets/s.

The machine has 2 cores and the servers share them with the load generator. Every run reports
the generator's own CPU (a generator thread or process at ≥ 90% of a core is flagged), the CPU of
each process the benchmark started (Ray workers, HAProxy, Redis, ...) read with psutil — also as
CPU milliseconds per successful request — and what other work on the machine used meanwhile.
``--profile`` samples the busiest processes of the real path with py-spy during an extra run.

Prints a table per run (and the medians) and writes ``simulations/results/http.json``
(``--results`` elsewhere: one run's results, or ``{"medians", "runs"}``; with the curve,
``shedding_curve``: its medians over the runs and the PNG's path). The sections live in
``simulations/httpbench/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from simulations.httpbench.baselines import section_hello, section_naive
from simulations.httpbench.measure import Loadgen, background_load, cpu_model, timed
from simulations.httpbench.plan import FULL, QUICK, RESULTS, ROOT, Plan, log
from simulations.httpbench.real import cli_ready, section_real
from simulations.httpbench.report import medians, print_medians, print_report, summarize
from simulations.httpbench.shedding import LEVELS, shed_plan, write_curve
from simulations.loadgen import MARKER_ENV


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="under 3 minutes in all")
    parser.add_argument("--sections", default="1,2,3,shed",
                        help="which sections to run (1,2,3,shed; shed: the load-shedding "
                             "curve, on section 3's platform)")
    parser.add_argument("--shed-levels", default=",".join(map(str, LEVELS)),
                        help="the curve's open-loop rates, in percent of the closed-loop "
                             "capacity")
    parser.add_argument("--shed-segment-s", type=float, default=8.0, metavar="SECONDS",
                        help="how long each level of the curve offers bets")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="closed-loop generator (auto: wrk, installed if missing)")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the busiest real-path processes during an extra run")
    parser.add_argument("--accounts", type=int, default=None, help="players for section 3")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each section wait up to this long for other processes "
                             "to use < 0.25 cores (always measured and reported)")
    parser.add_argument("--platform-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for `inplay up` (e.g. INPLAY_API_REPLICAS=2); "
                             "repeatable")
    parser.add_argument("--no-demo", action="store_true",
                        help="`inplay up` without --demo (no demo video actors)")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep section 3's INPLAY_HOME (logs) after inplay down")
    parser.add_argument("--results", type=Path, default=RESULTS, metavar="PATH",
                        help=f"where to write the results (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="repeat the whole benchmark N times and report medians "
                             "(default 3, or 1 with --quick)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.accounts:
        plan = Plan(**{**plan.__dict__, "accounts": args.accounts})
    runs = args.runs or (1 if args.quick else 3)
    if runs == 1:
        results = one_run(args, plan)
        curve = write_curve([results], args.results)
        if curve:
            results["shedding_curve"] = curve
        write(args.results, results)
        print_report(results, args.results)
        return
    every: list[dict[str, Any]] = []
    for n in range(runs):
        log(f"run {n + 1} of {runs}")
        every.append(one_run(args, plan))
        curve = write_curve(every, args.results)
        print_report(every[-1], args.results)
        table = medians(every)
        # kept after each run
        write(args.results, {"medians": table, "runs": every,
                             **({"shedding_curve": curve} if curve else {})})
    print_medians(table, args.results)


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def one_run(args: argparse.Namespace, plan: Plan) -> dict[str, Any]:
    """Every section asked for, once: the results of one run."""
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    platform_env = dict(kv.split("=", 1) for kv in args.platform_env if "=" in kv)
    tag = secrets.token_hex(3)
    os.environ[MARKER_ENV] = tag  # every process we start carries it (CPU attribution)
    t_start = time.perf_counter()
    gen = Loadgen(args.loadgen, install=not args.no_install)
    results: dict[str, Any] = {"meta": {
        "mode": plan.name, "plan": plan.__dict__, "tag": tag,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
        "loadgen": f"{gen.kind} ({gen.version})",
        "note": "servers and load generator share the same cores",
    }}
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        quiet = results["meta"]["background_cores_before"] = {}
        if "1" in sections:
            quiet["hello"] = background_load(tag, args.wait_quiet)
            log("section 1: uvicorn + FastAPI hello")
            with timed(results, "hello"):
                results["hello"] = section_hello(plan, gen, tag, workdir)
            log(f"  → {results['hello']['run']['ok_per_s']:,.0f} req/s")
        if "2" in sections:
            quiet["naive"] = background_load(tag, args.wait_quiet)
            log("section 2: naive Ray Serve (default proxy, one actor call per request)")
            with timed(results, "naive"):
                results["naive"] = section_naive(plan, gen, tag, workdir)
            log(f"  → {results['naive']['run']['ok_per_s']:,.0f} req/s")
        if sections & {"3", "shed"}:
            why = cli_ready()
            if why:
                log(f"section 3 skipped: {why}")
                results["real"] = {"skipped": why}
            else:
                quiet["real"] = background_load(tag, args.wait_quiet)
                with timed(results, "real"):
                    results["real"] = section_real(
                        plan, gen, tag, workdir, args.profile, args.keep_home,
                        platform_env, demo=not args.no_demo,
                        parts=frozenset(sections & {"3", "shed"}),
                        shed=shed_plan(args.shed_levels, args.shed_segment_s,
                                       plan.open_timeout_s, platform_env))
    finally:
        results["summary"] = summarize(results)
        results["meta"]["total_s"] = round(time.perf_counter() - t_start, 1)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
