"""The printed tables of a run and of the medians over runs, PASS/MISS per aim."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulations.videobench.stats import AIM_BETS_RATIO, AIM_P99_RATIO


def _g(value: Any, fmt: str = ",.1f") -> str:
    return "—" if value is None else format(value, fmt)


def fps_text(record: Mapping[str, Any]) -> str:
    """A window's viewer frames/s, "median/min" ("—" without video)."""
    fps = (record.get("video") or {}).get("viewer_fps") or {}
    if not fps:
        return "—"
    return f"{fps['median']:g}/{fps['min']:g}"


def print_run(results: Mapping[str, Any], saved_to: Path | None = None) -> None:
    meta = results.get("meta", {})
    print()
    print(f"inplay video-vs-bets benchmark — mode {meta.get('mode')}, {meta.get('cpus')} cores "
          f"({meta.get('cpu_model')}); the platform, the video's clients and the bets' load "
          "generator share these cores.")
    print(f"bets: {meta.get('loadgen')} closed loop, python open loop; video: 1 WHIP "
          f"publisher + {meta.get('plan', {}).get('viewers')} WHEP viewers (non-decoding) in "
          f"their own processes at nice {meta.get('client_nice')}; load average before "
          f"{meta.get('load_average_before')}, other work "
          f"{_g(meta.get('background_cores_before'), '.2f')} cores")
    priorities = results.get("media_priority") or []
    if priorities:
        print("media processes' CPU priority: " + ", ".join(
            f"{p['label']} (pid {p['pid']}) nice {p['nice']}, threads {p['thread_nices']}"
            for p in priorities))
    if results.get("error"):
        print(f"\nTHE RUN DID NOT COMPLETE: {results['error']}")
    segments = results.get("segments") or []
    if segments:
        print("\ncapacity without video (after the warm-up): "
              f"{_g(results.get('capacity_per_s'), ',.0f')} /s; open loop at "
              f"{_g(results.get('open_rate_per_s'), ',.0f')} /s")
        head = (f"{'segment':>9} {'bets/s':>7} {'p50':>7} {'p99':>7} {'p99.9':>7} "
                f"{'media c':>7} {'clients':>7} {'loadgen':>7} {'platf.':>7} {'other':>6} "
                f"{'fps closed':>11} {'fps open':>11}")
        print(head)
        print("-" * len(head))
        for seg in segments:
            closed, opened = seg.get("closed") or {}, seg.get("open") or {}
            lat = opened.get("latency_ms") or {}
            groups = closed.get("cpu_groups") or {}
            print(f"{seg['name']:>9} {_g(closed.get('ok_per_s'), ',.0f'):>7} "
                  f"{_g(lat.get('p50')):>7} {_g(lat.get('p99')):>7} {_g(lat.get('p99.9')):>7} "
                  f"{_g(groups.get('platform media'), '.2f'):>7} "
                  f"{_g(groups.get('video clients'), '.2f'):>7} "
                  f"{_g(groups.get('bet load generator'), '.2f'):>7} "
                  f"{_g(groups.get('platform (bet path and the rest)'), '.2f'):>7} "
                  f"{_g((closed.get('cpu') or {}).get('other_cores'), '.2f'):>6} "
                  f"{fps_text(closed):>11} {fps_text(opened):>11}")
        print("-" * len(head))
        print("bets/s: accepted durable bets/s, closed loop; p50/p99/p99.9: ms, open loop at the "
              "constant rate; cores (closed loop): media = the platform's media processes, "
              "clients = the video's publisher and viewers, platf. = the rest of the platform "
              "(the bet path); other = processes this run did not start; fps = viewer frames/s "
              "median/min (of 25).")
    comparison = results.get("comparison") or {}
    if comparison:
        print(f"with ÷ without: bets/s {_g(comparison.get('bets_ratio'), '.3f')}, open-loop "
              f"p99 {_g(comparison.get('p99_ratio'), '.3f')}")
    for note in results.get("notes") or []:
        print(f"note: {note}")
    if saved_to:
        print(f"(saved to {saved_to})")


def print_medians(table: Mapping[str, Mapping[str, Any]],
                  aims: Mapping[str, Mapping[str, Any]], saved_to: Path) -> None:
    print()
    print(f"medians over runs (every run's value in brackets) — aims: bets/s ratio >= "
          f"{AIM_BETS_RATIO:g}, p99 ratio <= {AIM_P99_RATIO:g}")
    for name, row in table.items():
        runs = ", ".join(format(v, ",.3g") for v in row["runs"])
        print(f"  {name:<34} {row['median']:>12,.3f}   [{runs}]")
    print()
    for aim, judged in aims.items():
        value = judged["value"]
        shown = "—" if value is None else f"{value:,.3f}"
        note = f" ({judged['note']})" if judged.get("note") else ""
        print(f"  {judged['verdict']:<5} {aim}: {shown}{note}")
    print(f"\nresults: {saved_to}")
