"""Odds stream benchmark: odds changes through the gRPC ingest to N SSE clients (item 7 of the
live-odds issue).

Run from the repo root (``--quick``: one short run, N = 200, about 3 minutes; the default:
three full runs, about 8 minutes each, and the median of each figure over them):

    .venv/bin/python -m simulations.bench_odds [--quick] [--runs N] [--levels 1000,5000]
        [--max-streams 25000] [--ramp-step 2500] [--no-ramp | --ramp] [--rate 10]
        [--burst 4] [--bet-streams 1000] [--bet-rate 5] [--default-limits]
        [--platform-env KEY=VALUE] [--loadgen auto|wrk|python] [--demo]
        [--wait-quiet SECONDS] [--keep-home] [--results PATH]

One run (``simulations/oddsbench/run.py`` has the order and why):

- the real platform: ``inplay up --detach`` in a temporary home on free ports
  (``cluster.harness.LocalPlatform``), one event in play with 4 markets, funded players, a
  feed token (``inplay token create --role feed``);
- a publisher in this process sends ``odds_change`` messages through the feed's gRPC ingest
  (``cluster.feed_client.FeedClient`` → HAProxy → the ``feed`` application → the event
  actor), one message per call, timed just before the call; each ack's ``version`` is the
  ``id`` the streams will carry;
- N clients of ``GET /v1/events/{event_id}/stream`` (through HAProxy to the ``odds``
  application) in 2 worker processes: raw asyncio sockets + httptools + a small SSE parser,
  so they are cheap, and their CPU is measured and reported; each keeps the receive time of
  every ``odds`` message;
- memory per idle stream: RSS of every process of the platform (HAProxy, the odds replica,
  the odds cache, ... all of them) with N idle streams open minus with none, divided by N, at
  1,000 and 5,000 streams and then +2,500 at a time until a step fails (streams that do not
  open, or open ones that the server ends), the machine runs low on memory, or the cap;
- delivery latency (p50/p99 of receive time − publish time, over every stream and message)
  at 10 changes/s, at each level and then at the most streams held, and flat out (changes
  back to back, 4 per call): the updates/s per event each stream actually gets;
- bets/s on the same event (closed loop, ``simulations.loadgen``: wrk, or ``--loadgen
  python``) without streams and with 1,000 open, in the order without, with, with, without
  (after a warm-up segment; a symmetric order cancels a steady drift of the machine), odds
  flowing at 5 changes/s throughout: the ratio is the mean "with" over the mean "without".

Limits: this process raises its open-files limit (the hard limit too where the kernel lets
it) before the platform starts, so every process of the platform inherits it; HAProxy's
global ``maxconn`` (``RAY_SERVE_HAPROXY_MAXCONN``; Serve's default is 4,096) and the odds
deployment's ``max_ongoing_requests`` (``INPLAY_ODDS_MAX_ONGOING_REQUESTS``; every open stream
holds one) are raised above the cap — ``maxconn`` no higher than the open-files hard limit
allows (HAProxy needs two descriptors per proxied stream and refuses to start otherwise);
``--default-limits`` leaves both as they are. What applied is read back from the running
processes (HAProxy's config file, ``/proc`` limits) and printed.

The aims are printed PASS, MISS or n/a (not measured in this run), never asserted:
p99 ≤ 100 ms at 1,000 clients; ≥ 5,000 open streams; ≤ 50 KB per idle stream; bets/s with
1,000 streams open ≥ 90% of without.

Writes ``simulations/results/odds.json`` (``--quick``: ``odds_quick.json``; ``--results``
elsewhere) — ``{"medians", "aims", "runs"}`` — and the plot of p50/p99 against N next to it
(``odds_latency.png``, or ``odds_quick_latency.png``).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import orjson

from simulations.httpbench.plan import ROOT, log
from simulations.oddsbench.plot import latency_png
from simulations.oddsbench.report import plot_points, print_medians, print_run
from simulations.oddsbench.run import FULL, QUICK, Options, one_run
from simulations.oddsbench.stats import AIM_P99_MS, aims, key_figures, medians

RESULTS_DIR = ROOT / "simulations" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one short run at 200 streams, no ramp (a smoke test)")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="whole runs, medians reported (default 3, or 1 with --quick)")
    parser.add_argument("--levels", default=None, metavar="N,N",
                        help="stream counts measured in full (default 1000,5000; quick 200)")
    parser.add_argument("--max-streams", type=int, default=None,
                        help="the ramp's cap (default 25000)")
    parser.add_argument("--ramp-step", type=int, default=None, help="default 2500")
    parser.add_argument("--no-ramp", action="store_true", help="only the levels")
    parser.add_argument("--ramp", action="store_true",
                        help="ramp beyond the levels even with --quick")
    parser.add_argument("--bet-streams", type=int, default=None,
                        help="streams open during the 'with' bet segment (default 1000)")
    parser.add_argument("--rate", type=float, default=None,
                        help="odds changes/s while latency is measured (default 10)")
    parser.add_argument("--burst", type=int, default=None,
                        help="odds changes per gRPC call in the flat-out phase (default 4)")
    parser.add_argument("--bet-rate", type=float, default=None,
                        help="odds changes/s during the bet segments (default 5)")
    parser.add_argument("--default-limits", action="store_true",
                        help="leave HAProxy's maxconn and the odds deployment's "
                             "max_ongoing_requests at their defaults")
    parser.add_argument("--platform-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for `inplay up` (repeatable; wins over the "
                             "limits this benchmark sets)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="the bets' closed-loop generator (auto: wrk, installed if missing)")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--demo", action="store_true", help="`inplay up --demo` (the demo "
                        "league and video run meanwhile; off by default)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for other work to use < 0.25 cores first")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep the platform's INPLAY_HOME (logs) after inplay down")
    parser.add_argument("--results", type=Path, default=None, metavar="PATH",
                        help="where to write the results (the plot goes next to it)")
    return parser.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    plan = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    if args.levels:
        changes["levels"] = tuple(sorted(int(n) for n in args.levels.split(",") if n.strip()))
    if args.max_streams is not None:
        changes["max_streams"] = args.max_streams
    if args.ramp_step is not None:
        changes["ramp_step"] = args.ramp_step
    if args.no_ramp:
        changes["ramp"] = False
    elif args.ramp:
        changes["ramp"] = True
        if args.ramp_step is None and not plan.ramp_step:
            changes["ramp_step"] = FULL.ramp_step
    for name in ("bet_streams", "rate", "bet_rate", "burst"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    plan = dataclasses.replace(plan, **changes)
    if not plan.ramp or plan.max_streams < max(plan.levels):
        plan = dataclasses.replace(plan, max_streams=max(plan.max_streams, *plan.levels))
    env = dict(kv.split("=", 1) for kv in args.platform_env if "=" in kv)
    return Options(plan=plan, platform_env=env, default_limits=args.default_limits,
                   loadgen=args.loadgen, install=not args.no_install,
                   keep_home=args.keep_home, wait_quiet=args.wait_quiet, demo=args.demo)


def result_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The results file and the plot next to it."""
    path = args.results or RESULTS_DIR / ("odds_quick.json" if args.quick else "odds.json")
    return path, path.with_name(f"{path.stem}_latency.png")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    table = medians([key_figures(r) for r in runs])
    bet_streams = next((r["bets"].get("streams") for r in runs
                        if (r.get("bets") or {}).get("with")), None)  # as many as opened
    largest = max((lv["target"] for r in runs for lv in r.get("levels") or []
                   if not lv.get("ramp_max")), default=None)
    return {"medians": table, "aims": aims(table, bet_streams, largest), "runs": runs}


def write(path: Path, plot: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    medians_points, each = plot_points(summary["runs"], summary["medians"])
    plot.write_bytes(latency_png(medians_points, each, aim_ms=AIM_P99_MS))


def shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    opts = options(args)
    runs = args.runs or (1 if args.quick else 3)
    path, plot = result_paths(args)
    every: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for n in range(runs):
        log(f"run {n + 1} of {runs} ({opts.plan.name}: levels {list(opts.plan.levels)}, "
            f"ramp {'to ' + format(opts.plan.max_streams, ',') if opts.plan.ramp else 'off'})")
        every.append(one_run(opts))
        summary = summarize(every)
        write(path, plot, summary)  # kept after each run
        print_run(every[-1], shown(path))
    print_medians(summary["medians"], summary["aims"], shown(path), shown(plot))


if __name__ == "__main__":
    main()
