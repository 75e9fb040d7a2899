"""The printed tables of a run and of the medians, PASS/MISS per aim, and the plot's points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _ms(lat: Mapping[str, Any], key: str) -> str:
    value = lat.get(key)
    return "—" if value is None else f"{value:,.1f}"


def _g(value: Any, fmt: str = ",.1f") -> str:
    return "—" if value is None else format(value, fmt)


def print_run(results: Mapping[str, Any], saved_to: Path | None = None) -> None:
    meta = results.get("meta", {})
    print()
    print(f"inplay odds stream benchmark — mode {meta.get('mode')}, {meta.get('cpus')} cores "
          f"({meta.get('cpu_model')}); the platform, the publisher, the SSE clients and the "
          "bet load generator share these cores.")
    print(f"bets: {meta.get('loadgen')}; SSE clients: {meta.get('plan', {}).get('workers')} "
          "processes × asyncio (uvloop) + httptools, raw sockets; publisher: "
          "cluster.feed_client over gRPC, in this process")
    print(f"other work on the machine before the run: "
          f"{_g(meta.get('background_cores_before'), '.2f')} cores")
    _print_limits(results)
    if results.get("error"):
        print(f"\nTHE RUN DID NOT COMPLETE: {results['error']}")
    levels = results.get("levels") or []
    if levels:
        print()
        head = (f"{'streams':>8} {'KB/str':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
                f"{'max ms':>8} {'deliv.':>7} {'resnap':>6} {'cli c':>6} {'cli µs':>7} "
                f"{'srv µs':>7} | {'flat pub/s':>10} {'per str/s':>9} {'p99 ms':>8}")
        print(f"delivery at {_rate(results)} changes/s (p = publish → client read), "
              "and flat out:")
        print(head)
        print("-" * len(head))
        for lv in levels:
            lat = lv.get("latency") or {}
            flat = lv.get("flat_out") or {}
            mem = lv.get("memory") or {}
            d = lat.get("delivery") or {}
            fd = flat.get("delivery") or {}
            name = f"{lv.get('n', 0):,}" + ("*" if lv.get("ramp_max") else "")
            print(f"{name:>8} {_g(mem.get('kb_per_stream')):>7} "
                  f"{_ms(lat.get('latency_ms') or {}, 'p50'):>8} "
                  f"{_ms(lat.get('latency_ms') or {}, 'p90'):>8} "
                  f"{_ms(lat.get('latency_ms') or {}, 'p99'):>8} "
                  f"{_ms(lat.get('latency_ms') or {}, 'max'):>8} "
                  f"{_g(d.get('delivered_share'), '.4f'):>7} "
                  f"{lat.get('streams_resnapshotted', '—'):>6} "
                  f"{_g(lat.get('client_cores'), '.2f'):>6} "
                  f"{_g(lat.get('client_cpu_us_per_message')):>7} "
                  f"{_g(lat.get('platform_cpu_us_per_message')):>7} | "
                  f"{_g(fd.get('published_per_s')):>10} "
                  f"{_g((fd.get('per_stream_per_s') or {}).get('p50')):>9} "
                  f"{_ms(flat.get('latency_ms') or {}, 'p99'):>8}"
                  + (f"  ERROR {lv['error']}" if lv.get("error") else ""))
        print("-" * len(head))
        print("KB/str = RSS of the platform's processes with the streams open and idle minus "
              "with none, per stream (1 KB = 1,024 B); deliv. = share of (published versions × "
              "streams) received; resnap = streams given a fresh snapshot (fell behind); cli c "
              "= cores the SSE clients used; cli µs / srv µs = client / platform CPU per "
              "delivered message; flat = changes published back to back; * = the most streams "
              "held.")
        for lv in levels:
            for phase in ("latency", "flat_out"):
                got = lv.get(phase) or {}
                pub = got.get("publish") or {}
                if pub.get("refusals") or pub.get("errors") or got.get("id_regressions") \
                        or got.get("streams_ended") or got.get("received_before_publish"):
                    print(f"  note at {lv.get('n'):,} ({phase}): refusals "
                          f"{pub.get('refusals')}, errors {pub.get('errors')}, id regressions "
                          f"{got.get('id_regressions')}, streams ended "
                          f"{got.get('streams_ended')}, received before publish "
                          f"{got.get('received_before_publish')}")
                if got.get("clients_saturated"):
                    print(f"  warning at {lv.get('n'):,} ({phase}): an SSE client process used "
                          f"≥ 90% of a core ({got.get('client_cores_by_process')}): its own "
                          "queueing is part of that latency")
                if got.get("samples_dropped"):
                    print(f"  note at {lv.get('n'):,} ({phase}): {got['samples_dropped']:,} "
                          "receive times not kept (sample cap); counted in delivery")
                late = (pub.get("late_ms") or {}).get("p99")
                if phase == "latency" and late is not None and late > 20:
                    print(f"  note at {lv.get('n'):,}: the publisher started its calls up to "
                          f"{late:.0f} ms late (p99) — the ingest round trip "
                          f"(p99 {(pub.get('call_ms') or {}).get('p99', 0):.0f} ms) "
                          "exceeded the interval")
    if levels:
        print(f"\nwhere the time goes at {_rate(results)} changes/s (ms): the ingest's round "
              "trip (publish → "
              "ack, the change journaled), and the fan-out after the ack (ack → client read)")
        for lv in levels:
            lat = lv.get("latency") or {}
            call = (lat.get("publish") or {}).get("call_ms") or {}
            fan = lat.get("after_ack_ms") or {}
            print(f"  {lv.get('n', 0):>8,}{'*' if lv.get('ramp_max') else ' '} publish → ack "
                  f"p50 {_ms(call, 'p50')} p99 {_ms(call, 'p99')};  ack → client p50 "
                  f"{_ms(fan, 'p50')} p99 {_ms(fan, 'p99')}")
    _print_ramp(results)
    _print_memory(results)
    _print_bets(results)
    _print_cpu(results)
    for note in results.get("notes", []):
        print(f"note: {note}")
    if saved_to is not None:
        print(f"\nsaved {saved_to}; total {meta.get('total_s', 0):.0f}s")


def _print_limits(results: Mapping[str, Any]) -> None:
    meta = results.get("meta", {})
    lim = results.get("limits") or {}
    print("limits: asked of the platform "
          + ", ".join(f"{k}={v}" for k, v in (meta.get("configured_limits") or {}).items()))
    for h in lim.get("haproxy") or []:
        print(f"  HAProxy pid {h['pid']}: global maxconn {h.get('maxconn')}, nbthread "
              f"{h.get('nbthread')}, open files {h.get('nofile')}, timeouts "
              f"{h.get('timeouts')} ({h.get('config')})")
    if lim:
        print(f"  open files: benchmark {lim.get('benchmark_nofile')}, SSE clients "
              f"{sorted({tuple(v) for v in (lim.get('client_nofile') or {}).values() if v})}, "
              f"odds replica(s) {lim.get('odds_replica_nofile')}; ephemeral ports "
              f"{lim.get('ephemeral_ports')}; somaxconn {lim.get('somaxconn')}; memory "
              f"available {lim.get('memory_available_mb'):,} MB")


def _print_ramp(results: Mapping[str, Any]) -> None:
    ramp = results.get("ramp") or {}
    steps = ramp.get("steps") or []
    if not steps:
        return
    print("\nopening streams (idle, nothing published but heartbeats):")
    print(f"{'target':>8} {'open':>7} {'opened':>7} {'failed':>7} {'secs':>6} {'open p99':>9} "
          f"{'KB/str':>7} {'idle cores':>10} {'avail MB':>9}  held")
    for s in steps:
        idle = (s.get("idle_cpu") or {}).get("benchmark_cores")
        print(f"{s['target']:>8,} {s['open']:>7,} {s['opened']:>7,} "
              f"{sum(s['failed'].values()):>7,} {s['seconds']:>6.1f} "
              f"{_g(s['open_ms'].get('p99'), ',.0f'):>9} "
              f"{_g(s['memory'].get('kb_per_stream')):>7} {_g(idle, '.2f'):>10} "
              f"{s.get('machine_available_mb', 0):>9,}  {'yes' if s['held'] else 'NO'}")
        if s["failed"]:
            print(f"{'':>8} failures: {s['failed']}; untried {s['untried']}; ended meanwhile "
                  f"{s['ended_meanwhile'] or 'none'}")
    if ramp.get("held") is not None:
        print(f"most streams held: {ramp['held']:,}; the ramp stopped because "
              f"{ramp.get('stopped_because')}")


def _print_memory(results: Mapping[str, Any]) -> None:
    steps = (results.get("ramp") or {}).get("steps") or []
    if not steps:
        return
    last = steps[-1] if steps[-1]["held"] or len(steps) == 1 else steps[-2]
    mem = last["memory"]
    print(f"\nmemory per idle stream at {mem['streams']:,} streams: {mem['kb_per_stream']} KB, "
          f"of which HAProxy + odds replica + odds cache {mem.get('kb_per_stream_stream_path')}"
          f" KB ({mem['rss_before_mb']:,} MB → {mem['rss_after_mb']:,} MB in all); by "
          "process (KB):")
    for name, kb in (mem.get("kb_per_stream_by_process") or {}).items():
        print(f"  {kb:8.2f}  {name}")


def _print_bets(results: Mapping[str, Any]) -> None:
    bets = results.get("bets") or {}
    if not bets.get("warmup"):
        return
    print(f"\nbets on the same event (closed loop, odds at {bets.get('odds_rate')}/s "
          "throughout), in the order run:")
    rows = [("without streams (warm-up)", bets["warmup"])]
    with_, without = iter(bets.get("with") or []), iter(bets.get("without") or [])
    for kind in str(bets.get("order") or ""):
        r = next(with_ if kind == "B" else without, None)
        if r is not None:
            rows.append((f"with {r.get('streams', 0):,} streams open" if kind == "B"
                         else "without streams", r))
    for name, r in rows:
        lat = r.get("latency_ms") or {}
        bad = {k: v for k, v in (r.get("statuses") or {}).items() if k != "201"}
        other = (r.get("cpu") or {}).get("other_cores")
        print(f"  {name:<30} {r['ok_per_s']:>8,.0f} accepted/s  p50 {lat.get('p50', 0):6.1f}"
              f" ms  p99 {lat.get('p99', 0):7.1f} ms  other work {_g(other, '.2f')} cores  "
              f"other statuses {bad or '-'} {r.get('errors') or ''}")
        meanwhile = r.get("delivery_meanwhile")
        if meanwhile:
            ml = meanwhile.get("latency_ms") or {}
            print(f"  {'':<30} odds delivery meanwhile: p50 {ml.get('p50', 0):.1f} ms, p99 "
                  f"{ml.get('p99', 0):.1f} ms, delivered "
                  f"{meanwhile['delivery'].get('delivered_share')}")
    if str((results.get("meta") or {}).get("loadgen", "")).startswith("python"):
        print("  (python load generator: its processes' start-up shows as other work)")
    if bets.get("ratio") is not None:
        print(f"  with/without = {bets['with_per_s']:,.0f} / {bets['without_per_s']:,.0f} "
              f"= {bets['ratio']:.3f} (means of the segments in the order "
              f"{bets.get('order')}; the warm-up is not in it)")


def _rate(results: Mapping[str, Any]) -> str:
    """The publish rate of the delivery phases, as the run's plan had it."""
    return f"{(results.get('meta') or {}).get('plan', {}).get('rate', 10):g}"


def _print_cpu(results: Mapping[str, Any]) -> None:
    for lv in results.get("levels") or []:
        cpu = (lv.get("latency") or {}).get("cpu")
        if not cpu:
            continue
        print(f"\nCPU by process (cores) while {lv['n']:,} streams got {_rate(results)} "
              "changes/s "
              f"(machine busy {cpu['machine_busy_cores']:.2f}, other work "
              f"{cpu['other_cores']:.2f}):")
        for name, cores in list(cpu["by_process_cores"].items())[:10]:
            print(f"  {cores:6.3f}  {name}")
        if cpu["other_cores"] > 0.25:
            print(f"  warning: other work on the machine used {cpu['other_cores']:.2f} cores")


def print_medians(table: Mapping[str, Mapping[str, Any]], aims: Mapping[str, Any],
                  saved_to: Path | None, plot: Path | None) -> None:
    runs = max((len(v["runs"]) for v in table.values()), default=0)
    print()
    print(f"figures, median of {runs} run{'s' if runs != 1 else ''} (each run's value in "
          "brackets):")
    for name, row in table.items():
        each = ", ".join(f"{v:,.4g}" for v in row["runs"])
        print(f"  {name:<38} {row['median']:>12,.3f}   ({each})")
    print("\naims:")
    for name, aim in aims.items():
        value = aim["value"]
        shown = "—" if value is None else f"{value:,.3f}"
        print(f"  {aim['verdict']:<5} {name:<48} {shown:>10}  {aim.get('note') or ''}")
    if saved_to is not None:
        print(f"\nsaved {saved_to}" + (f" and {plot}" if plot else ""))


def plot_points(runs: Sequence[Mapping[str, Any]], table: Mapping[str, Mapping[str, Any]]
                ) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """(streams, p50, p99): the medians per level (the ramp's maximum at the median count)
    and every run's own."""
    medians: list[tuple[float, float, float]] = []
    tags = sorted({name.rsplit("_", 1)[-1] for name in table if name.startswith("p99_ms_at_")},
                  key=lambda t: (t == "max", float(t) if t.isdigit() else 0.0))
    for tag in tags:
        p50, p99 = table.get(f"p50_ms_at_{tag}"), table.get(f"p99_ms_at_{tag}")
        n = float(tag) if tag.isdigit() else (table.get("n_at_max") or {}).get("median")
        if p50 and p99 and n:
            medians.append((float(n), float(p50["median"]), float(p99["median"])))
    each: list[tuple[float, float, float]] = []
    for run in runs:
        for lv in run.get("levels") or []:
            lat = (lv.get("latency") or {}).get("latency_ms") or {}
            if lat:
                each.append((float(lv["n"]), float(lat["p50"]), float(lat["p99"])))
    return medians, each

