"""Video vs bets: does the live video slow bets? (the "video never slows bets" issue).

Run from the repo root (``--quick``: one short run, segments without/with/without, about 4
minutes; the default: three full runs of without, with, with, without, about 6 minutes
each, and the median of each figure over them):

    .venv/bin/python -m simulations.bench_video [--quick] [--runs N] [--viewers 50]
        [--viewer-processes 2] [--client-nice 19] [--order ABBA] [--closed-s 12]
        [--open-s 20] [--platform-env KEY=VALUE] [--loadgen auto|wrk|python] [--demo]
        [--wait-quiet SECONDS] [--keep-home] [--results PATH]

One run (``simulations/videobench/run.py`` has the order and why):

- the real platform: ``inplay up --detach`` in a temporary home on free ports
  (``cluster.harness.LocalPlatform``; without the demo, so that "without video" has none),
  one hot event in play with funded players (``simulations.httpbench.real.prepare_real``),
  50 players whose media tier is ``webrtc``, a token of role ``publisher``;
- the video: the demo's synthetic match (``media.synthetic.SyntheticVideoTrack``, 640x360,
  25 fps, 1.5 Mbit/s asked, ~0.6 Mbit/s sent) published by ``media.client.WhipPublisher`` through
  ``POST /v1/media/{event_id}/whip`` on the hot event, and 50 non-decoding
  ``media.client.WhepViewer`` through ``POST /v1/media/{event_id}/whep``, each with its own
  player token. Publisher and viewers stand in for remote devices: they run in processes of
  their own (``videobench/clients.py``; the viewers in 2), each in a session of its own
  whose autogroup runs at nice 19 (``--client-nice``; under autogroup scheduling a nice
  value only ranks a process within its session), so that they take as little as they can
  from the server on this shared machine, and their CPU is reported apart. Every viewer
  keeps the arrival of each frame, so each window reports the video actually delivered
  (frames/s per viewer, median and min, of 25), and the server's view
  (``GET /v1/media/{event_id}/stats``) is kept too;
- bets: the closed loop of the other benchmarks (``simulations.loadgen``: wrk, 64
  connections) gives accepted durable bets/s; an open loop at a constant rate (half the
  capacity measured without video in the warm-up, at most 1,000/s) gives p50/p99/p99.9 from
  each bet's scheduled send time;
- the segments in the order without, with, with, without (a symmetric order cancels a
  steady drift): the ratios are the mean "with" over the mean "without";
- CPU by process over every window (``oddsbench.measure.PhaseCpu``), grouped as the
  platform's media processes (``RegionMediaActor``, ``MediaRelayActor``,
  ``ServeReplica:media``), the rest of the platform (the bet path), the video's clients and
  the bets' load generator; and the nice value of every media process (and of its threads:
  Linux keeps one per thread), read from ``/proc`` while the video plays.

The aims, printed PASS/MISS (n/a when not measured), never asserted: bets/s with video
≥ 90% of without, p99 with video ≤ 1.5× without. A third line reports whether the video
kept its frame rate while bets ran flat out (median viewer ≥ 24 fps), so that "bets were not
slowed" cannot hide "video starved".

Writes ``simulations/results/video_bets.json`` (``--quick``: ``video_bets_quick.json``;
``--results`` elsewhere): ``{"medians", "aims", "runs"}``. No plot: the figures are ratios
of a few segments, and the printed table shows each segment.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import orjson

from simulations.httpbench.plan import ROOT, log
from simulations.oddsbench.stats import medians
from simulations.videobench.report import print_medians, print_run
from simulations.videobench.run import FULL, QUICK, Options, one_run
from simulations.videobench.stats import aims, key_figures

RESULTS_DIR = ROOT / "simulations" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one short run, segments without/with/without (a smoke test)")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="whole runs, medians reported (default 3, or 1 with --quick)")
    parser.add_argument("--viewers", type=int, default=None, help="WHEP viewers (default 50)")
    parser.add_argument("--viewer-processes", type=int, default=None,
                        help="processes the viewers are spread over (default 2)")
    parser.add_argument("--client-nice", type=int, default=19,
                        help="the video clients' nice value (default 19; 0: they compete with "
                             "the server as equals)")
    parser.add_argument("--order", default=None,
                        help="segments, A = without video, B = with (default ABBA; quick ABA)")
    parser.add_argument("--closed-s", type=float, default=None,
                        help="each segment's closed loop, seconds (default 12; quick 6)")
    parser.add_argument("--open-s", type=float, default=None,
                        help="each segment's open loop, seconds (default 20; quick 8)")
    parser.add_argument("--platform-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for `inplay up` (repeatable)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="the closed loop's generator (auto: wrk, installed if missing)")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--demo", action="store_true",
                        help="`inplay up --demo` (its league and video run in every segment)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for other work to use < 0.25 cores first")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep the platform's INPLAY_HOME (logs) after inplay down")
    parser.add_argument("--results", type=Path, default=None, metavar="PATH",
                        help="where to write the results")
    return parser.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    plan = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    for name, field in (("viewers", "viewers"), ("viewer_processes", "viewer_processes"),
                        ("closed_s", "closed_s"), ("open_s", "open_s")):
        if getattr(args, name) is not None:
            changes[field] = getattr(args, name)
    if args.order:
        if set(args.order.upper()) - {"A", "B"} or "A" not in args.order.upper() \
                or "B" not in args.order.upper():
            raise SystemExit("--order: A (without video) and B (with) segments, both")
        changes["order"] = args.order.upper()
    env = dict(kv.split("=", 1) for kv in args.platform_env if "=" in kv)
    return Options(plan=dataclasses.replace(plan, **changes), client_nice=args.client_nice,
                   platform_env=env, demo=args.demo, loadgen=args.loadgen,
                   install=not args.no_install, keep_home=args.keep_home,
                   wait_quiet=args.wait_quiet)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    table = medians([key_figures(r) for r in runs])
    return {"medians": table, "aims": aims(table), "runs": runs}


def shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    opts = options(args)
    runs = args.runs or (1 if args.quick else 3)
    path = args.results or RESULTS_DIR / ("video_bets_quick.json" if args.quick
                                          else "video_bets.json")
    every: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for n in range(runs):
        log(f"run {n + 1} of {runs} ({opts.plan.name}: order {opts.plan.order}, "
            f"{opts.plan.viewers} viewers)")
        every.append(one_run(opts))
        summary = summarize(every)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))  # after each run
        print_run(every[-1], shown(path))
    print_medians(summary["medians"], summary["aims"], shown(path))


if __name__ == "__main__":
    main()
