"""The summary of a run (ratios, aims) and the table it prints."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from simulations.httpbench.plan import (
    AIM_BETS_PER_S,
    AIM_P99_MS,
    AIM_P999_MS,
    AIM_RATIO_SERVE_HELLO,
    OPEN_RATE,
    RESULTS,
    ROOT,
)
from simulations.httpbench.shedding import report_lines


def fmt_run(name: str, run: dict[str, Any] | None, conns: str = "") -> str:
    if not run:
        return f"{name:<40} {'—':>7}"
    lat = run["latency_ms"]
    bad = {k: v for k, v in run["statuses"].items() if int(k) not in run["ok_statuses"]}
    errs = ", ".join([f"{k}×{v}" for k, v in sorted(bad.items())]
                     + [f"{k}×{v}" for k, v in sorted(run["codes"].items())]
                     + [f"{k}×{v}" for k, v in sorted(run["errors"].items())]) or "-"
    gen = f"{run['generator_cores']:.2f}" + ("!" if run["generator_saturated"] else "")
    cpu = run["cpu"]
    return (f"{name:<40} {conns or run['connections']:>7} {run['ok_per_s']:>9,.0f} "
            f"{lat.get('p50', 0):>8.1f} {lat.get('p99', 0):>8.1f} {gen:>7} "
            f"{cpu['machine_busy_cores']:>5.2f} {cpu['other_cores']:>5.2f}  {errs}")


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    hello = results.get("hello", {}).get("run")
    naive = results.get("naive", {}).get("run")
    real = results.get("real", {})
    best = real.get("best_closed")
    open_run = real.get("open_loop")
    summary: dict[str, Any] = {}
    if best and hello:
        summary["real_over_hello"] = round(best["accepted_per_s"] / hello["ok_per_s"], 3)
    if best and naive:
        summary["real_over_naive"] = round(best["accepted_per_s"] / naive["ok_per_s"], 2)
    serve_hello = real.get("serve_hello")
    if serve_hello and hello:
        summary["serve_hello_over_hello"] = round(serve_hello["ok_per_s"] / hello["ok_per_s"], 3)
    if serve_hello and best:
        summary["real_over_serve_hello"] = round(
            best["accepted_per_s"] / serve_hello["ok_per_s"], 3)
    aims: dict[str, Any] = {}
    if best:
        aims["accepted_bets_per_s>=2000"] = {"value": best["accepted_per_s"],
                                             "met": best["accepted_per_s"] >= AIM_BETS_PER_S}
    if "real_over_serve_hello" in summary:
        aims["real/serve_hello>=0.75"] = {
            "value": summary["real_over_serve_hello"],
            "met": summary["real_over_serve_hello"] >= AIM_RATIO_SERVE_HELLO}
    if open_run:
        p99 = open_run["latency_ms"].get("p99", float("inf"))
        aims["p99_at_1000/s<=50ms"] = {"value": p99, "met": p99 <= AIM_P99_MS,
                                       "accepted_per_s": open_run["ok_per_s"]}
        p999 = open_run["latency_ms"].get("p99.9", float("inf"))
        aims["p99.9_at_1000/s<=150ms"] = {"value": p999, "met": p999 <= AIM_P999_MS}
    grpc = real.get("grpc")
    if grpc and best:
        summary["grpc_over_http"] = grpc.get("vs_http_best")
    summary["aims"] = aims
    return summary


def _best_closed(results: dict[str, Any]) -> dict[str, Any] | None:
    closed = results.get("real", {}).get("closed")
    return max(closed, key=lambda r: r["ok_per_s"]) if closed else None


def key_figures(results: dict[str, Any]) -> dict[str, float]:
    """The figures docs/PERFORMANCE.md quotes, from one run (those the run measured)."""
    real = results.get("real", {})
    summary = results.get("summary", {})
    best = _best_closed(results)
    best = best or {}
    figures: dict[str, Any] = {
        "accepted_bets_per_s": best.get("ok_per_s"),
        "p99_ms_at_best": best.get("latency_ms", {}).get("p99"),
        "cpu_ms_per_bet": best.get("cpu", {}).get("ms_per_ok_total"),
        "hello_per_s": results.get("hello", {}).get("run", {}).get("ok_per_s"),
        "serve_hello_per_s": real.get("serve_hello", {}).get("ok_per_s"),
        "real_over_hello": summary.get("real_over_hello"),
        "serve_hello_over_hello": summary.get("serve_hello_over_hello"),
        "real_over_serve_hello": summary.get("real_over_serve_hello"),
        "real_over_naive": summary.get("real_over_naive"),
        "p99_ms_at_1000_per_s": real.get("open_loop", {}).get("latency_ms", {}).get("p99"),
        "p999_ms_at_1000_per_s": real.get("open_loop", {}).get("latency_ms", {}).get("p99.9"),
        "grpc_accepted_bets_per_s": (real.get("grpc") or {}).get("ok_per_s"),
        "grpc_over_http": summary.get("grpc_over_http"),
        "p99_ms_at_half_capacity": (real.get("open_loop_half_capacity") or {})
        .get("latency_ms", {}).get("p99"),
    }
    levels = (real.get("shedding") or {}).get("levels") or []
    if levels:
        top = max(levels, key=lambda r: r["percent"])
        figures[f"shed_{top['percent']}pct_accepted_per_s"] = top["accepted_per_s"]
        figures[f"shed_{top['percent']}pct_overloaded_per_s"] = top["overloaded_per_s"]
        figures[f"shed_{top['percent']}pct_p99_ms"] = top["accepted_latency_ms"].get("p99")
    return {k: float(v) for k, v in figures.items() if v is not None}


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per figure: the median over the runs that measured it, and every run's value."""
    each = [key_figures(r) for r in runs]
    names = sorted({k for figures in each for k in figures})
    return {name: {"median": round(statistics.median(values), 3), "runs": values}
            for name in names
            if (values := [f[name] for f in each if name in f])}


def print_medians(table: dict[str, dict[str, Any]], saved_to: Path) -> None:
    print()
    print(f"medians of {max(len(v['runs']) for v in table.values())} runs "
          "(each run's table is above):")
    for name, row in table.items():
        runs = ", ".join(f"{v:,.3g}" if v < 100 else f"{v:,.0f}" for v in row["runs"])
        print(f"  {name:<26} {row['median']:>10,.3f}   ({runs})")
    print(f"\nsaved {saved_to.relative_to(ROOT) if saved_to.is_relative_to(ROOT) else saved_to}")


def print_report(results: dict[str, Any], saved_to: Path = RESULTS) -> None:
    meta = results["meta"]
    print()
    print(f"inplay HTTP benchmark — mode {meta['mode']}, {meta['cpus']} cores "
          f"({meta['cpu_model']}); the servers AND the load generator share these cores.")
    print(f"closed-loop load: {meta['loadgen']}; open loop: 2 processes × python asyncio + "
          "httptools (loadgen.py); "
          f"all on loopback")
    before = meta.get("background_cores_before") or {}
    if before:
        print("CPU used by other work on this machine just before each section (cores): "
              + ", ".join(f"{k} {v:.2f}" for k, v in before.items()))
    print()
    head = (f"{'path':<40} {'conns':>7} {'ok/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'gen':>7} "
            f"{'busy':>5} {'other':>5}  errors (status×n, code×n)")
    print(head)
    print("-" * len(head))
    print(fmt_run("1 hello: uvicorn+FastAPI (200)", results.get("hello", {}).get("run")))
    for run in results.get("naive", {}).get("runs") or [None]:
        print(fmt_run("2 naive Serve, 1 actor call (201)", run))
    real = results.get("real", {})
    if real.get("serve_hello"):
        print(fmt_run("3 Serve hello: GET /livez (200)", real["serve_hello"]))
    for run in real.get("closed", []):
        print(fmt_run("3 real: durable bets, closed (201)", run))
    if real.get("grpc"):
        print(fmt_run("3 real: gRPC PlaceBets ×20 (bets 201)", real["grpc"],
                      conns=f"{real['grpc']['connections']} calls"))
    if real.get("open_loop"):
        print(fmt_run(f"3 real: open loop {OPEN_RATE:,.0f}/s (201)", real["open_loop"],
                      conns=f"{OPEN_RATE:,.0f}/s"))
    if real.get("open_loop_half_capacity"):
        run = real["open_loop_half_capacity"]
        print(fmt_run(f"3 real: open loop {run['target_rate']:,.0f}/s (201)", run,
                      conns=f"{run['target_rate']:,.0f}/s"))
    print("-" * len(head))
    print("ok/s = responses/s with the expected status (201 = accepted, durable bet); "
          "gen = load generator CPU in cores ('!' = a generator thread/process at ≥ 90% of a "
          "core); busy = whole machine CPU in cores; other = CPU of processes this benchmark "
          "did not start.")
    if real.get("platform_env") or real.get("demo") is False:
        print(f"section 3 platform: demo {real.get('demo')}, extra env "
              f"{real.get('platform_env') or {}}")
    if real.get("error"):
        print(f"section 3 did not complete: {real['error']}")
    if real.get("skipped"):
        print(f"section 3 skipped: {real['skipped']}")
    for note in real.get("notes", []):
        print(f"note: {note}")
    if real.get("shedding"):
        print()
        print("\n".join(report_lines(real["shedding"])))
    dur = real.get("durability")
    if dur and dur.get("ok") is not None:
        print(f"durability cross-check: clients received {dur['clients_got_201']:,} × 201; the "
              f"event's exposure counts {dur['book_bets_accepted']:,} accepted bets → "
              f"{'consistent' if dur['ok'] else 'BETS MISSING'}")
    summary = results.get("summary", {})
    if summary:
        print()
        if "real_over_hello" in summary:
            print(f"real/hello = {summary['real_over_hello']:.1%}   (aim ≥ 40%)")
        if "real_over_naive" in summary:
            print(f"real/naive = {summary['real_over_naive']:.1f}×")
        if "serve_hello_over_hello" in summary:
            print(f"Serve hello/hello = {summary['serve_hello_over_hello']:.1%}   (the ceiling "
                  "of any route behind this Serve stack)")
        if "real_over_serve_hello" in summary:
            print(f"real/Serve hello = {summary['real_over_serve_hello']:.1%}")
        for name, aim in summary.get("aims", {}).items():
            print(f"aim {name:<28} {'MET' if aim['met'] else 'NOT MET':<8} value {aim['value']}")
    every = [("hello", r) for r in [results.get("hello", {}).get("run")] if r] \
        + [("naive", r) for r in results.get("naive", {}).get("runs") or []] \
        + [("Serve hello", r) for r in [real.get("serve_hello")] if r] \
        + [("real", r) for r in real.get("closed", [])] \
        + [("real open loop", r) for r in (real.get("open_loop_half_capacity"),
                                           real.get("open_loop")) if r]
    for name, run in every:
        if run["cpu"]["other_cores"] > 0.25:
            print(f"warning: other work on the machine used {run['cpu']['other_cores']:.2f} "
                  f"cores during a '{name}' run ({run['connections']} connections / rate "
                  f"{run['target_rate']}): that figure is understated")
    for key in ("hello", "naive"):
        run = results.get(key, {}).get("run")
        if run and run["generator_saturated"]:
            print(f"warning: the load generator saturated a core during '{key}'")
    for run in real.get("closed", []) + ([real["open_loop"]] if real.get("open_loop") else []):
        if run["generator_saturated"]:
            print("warning: the load generator saturated a core during a real-path run")
        if run["statuses"].get("429", 0) > 0.01 * max(1, run["requests"]):
            print(f"warning: {run['statuses']['429']} × 429 at {run['connections']} "
                  "connections: the per-account rate limit (or backpressure) is part of what "
                  "was measured")
    print()
    print("CPU per successful request (ms), all processes this benchmark started: "
          + ", ".join(f"{name} {run['cpu']['ms_per_ok_total']:.2f}" for name, run in (
              ("hello", results.get("hello", {}).get("run")),
              ("naive", results.get("naive", {}).get("run")),
              ("real", real.get("closed") and max(real["closed"],
                                                  key=lambda r: r["ok_per_s"])))
              if run and "ms_per_ok_total" in run["cpu"]))
    best = real.get("closed") and max(real["closed"], key=lambda r: r["ok_per_s"])
    if best and real.get("players"):
        each = best["ok_per_s"] / real["players"]
        print(f"{real['players']} players: at the best rate each placed {each:.1f} bets/s "
              f"(the per-account limit is 20/s), so the rate limit was "
              f"{'NOT ' if each < 15 else ''}a factor")
    if best:
        print(f"\nCPU by process during the best real run ({best['connections']} connections):"
              "  cores   ms per accepted bet")
        per = best["cpu"].get("ms_per_ok", {})
        for name, cores in list(best["cpu"]["by_process_cores"].items())[:14]:
            print(f"  {cores:6.2f}  {per.get(name, 0):8.3f}  {name}")
        if best.get("redis_per_bet"):
            print("Redis commands per accepted bet in that run (server time, INFO commandstats):")
            for name, c in list(best["redis_per_bet"].items())[:10]:
                print(f"  {c['calls']:6.2f} calls  {c['us']:7.1f} µs  {name}")
    for proc, prof in (real.get("profile") or {}).items():
        print(f"\npy-spy {proc}: {prof['samples']} samples; by layer "
              f"{prof['by_layer_pct']}")
        for fn, pct in list(prof["top_own_pct"].items())[:10]:
            print(f"  {pct:5.1f}%  {fn[:110]}")
        if prof.get("app_inclusive_pct"):
            print("  application frames, inclusive of callees:")
            for fn, pct in list(prof["app_inclusive_pct"].items())[:12]:
                print(f"  {pct:5.1f}%  {fn[:110]}")
    shown = saved_to.relative_to(ROOT) if saved_to.is_relative_to(ROOT) else saved_to
    print(f"\nsaved {shown}; total {meta['total_s']:.0f}s")
