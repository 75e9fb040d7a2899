"""The load-shedding curve of the real platform: offered vs accepted bets/s, and p99.

After section 3 has measured the closed-loop capacity (the best accepted bets/s), open-loop
segments at fixed shares of it (25% … 200%, a few seconds each, lowest first, a pause
between them) post bets at a constant rate; each request is timed from its scheduled send
time (``loadgen.run_python``), with enough connections that no request waits in the client
for one. Per segment: the rate offered, accepted (201) bets/s, ``OVERLOADED`` 503s/s and how
many carried ``Retry-After``, any other answer, and p50/p99/p99.9 of the accepted bets alone.

Afterwards the money is counted (``money_check``): once the sweeper's window has passed, no
player of the benchmark has anything reserved, and their balances plus the stakes the book
holds are what they were funded with, so a refused bet moved no money. Everything here but
``run_curve`` and ``settle_and_count`` is pure (``tests/unit/test_bench_http_shedding.py``).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulations.httpbench.plan import ROOT, log
from simulations.loadgen import RunResult
from simulations.plotting import (
    BLUE,
    GREEN,
    GREY,
    LIGHT_BLUE,
    LIGHT_RED,
    RED,
    Canvas,
    Color,
    Panel,
    Scale,
)

LEVELS = (25, 50, 75, 100, 125, 150, 200)
OVERLOADED = "OVERLOADED"
ORANGE: Color = (255, 127, 14)
LIGHT_ORANGE: Color = (255, 200, 150)


@dataclass(frozen=True)
class ShedPlan:
    """How the curve is measured."""

    levels: tuple[int, ...] = LEVELS  # percent of the closed-loop capacity
    segment_s: float = 8.0
    # between segments, at least: then until the book stops taking bets (a request the
    # client gave up on is still placed, and would count in the next level)
    pause_s: float = 2.0
    drain_limit_s: float = 60.0
    timeout_s: float = 10.0
    # the platform's queue limit (INPLAY_BET_MAX_QUEUE_MS): a bet waits at most this long
    # for its batch before it is refused, so a request is held about this long at most
    max_queue_ms: float = 1000.0
    # the sweeper resolves a reservation older than this (INPLAY_SAGA_STALE_S + one sweep)
    settle_s: float = 11.0


def shed_plan(levels: str, segment_s: float, timeout_s: float,
              platform_env: Mapping[str, str]) -> ShedPlan:
    """The plan from the command line (``--shed-levels 25,50``) and the platform's settings
    (the queue limit and the sweeper's window, as ``inplay up`` will get them)."""
    from cluster.config import Settings

    def setting(name: str) -> float:
        default = Settings.model_fields[name].default
        return float(platform_env.get(f"INPLAY_{name.upper()}", default))

    parsed = tuple(sorted({int(p) for p in levels.split(",") if p.strip()}))
    if not parsed or min(parsed) <= 0:
        raise ValueError(f"--shed-levels wants positive percentages, not {levels!r}")
    return ShedPlan(levels=parsed, segment_s=segment_s, timeout_s=timeout_s,
                    max_queue_ms=setting("bet_max_queue_ms"),
                    settle_s=setting("saga_stale_s") + setting("sweep_interval_s"))


@dataclass(frozen=True)
class Step:
    percent: int
    rate: float


def rate_plan(capacity: float, levels: Sequence[int]) -> list[Step]:
    """The open-loop rate of each level: ``percent`` of ``capacity``, to 10/s, at least 10/s."""
    return [Step(p, max(10.0, round(capacity * p / 100, -1))) for p in sorted(set(levels))]


def open_connections(rate: float, max_queue_ms: float, cap: int = 4000) -> int:
    """Connections for an open loop at ``rate``: every request in flight has its own.

    A request is held about the queue limit at the most (then it is refused) plus its
    service time: rate × (limit + 0.5 s) × 1.5 in flight, between 256 and ``cap`` (HAProxy's
    ``maxconn`` is 7,800 on a 20,000 open-files limit, the streams of other tests included).
    """
    return int(min(cap, max(256, math.ceil(rate * (max_queue_ms / 1000 + 0.5) * 1.5))))


def segment_record(step: Step, segment_s: float, result: RunResult,
                   cpu: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What one open-loop segment showed (rates over the segment's sending window); ``cpu``:
    ``measure.measured``'s, whose machine-wide figures are kept (other work on the machine)."""
    statuses = {k: int(v) for k, v in result.statuses.items()}
    accepted = statuses.get("201", 0)
    overloaded = min(int(result.codes.get(OVERLOADED, 0)), statuses.get("503", 0))
    other = {k: v for k, v in statuses.items() if k not in ("201", "503")}
    if statuses.get("503", 0) > overloaded:
        other["503 not OVERLOADED"] = statuses["503"] - overloaded
    other.update({f"error {k}": int(v) for k, v in result.errors.items()})
    sent = sum(statuses.values()) + sum(int(v) for v in result.errors.values())
    latency = result.latency_by_status_ms.get("201", {})
    return {
        "percent": step.percent,
        "target_per_s": step.rate,
        "segment_s": segment_s,
        "connections": result.connections,
        "offered_per_s": round(sent / segment_s, 1),
        "accepted_per_s": round(accepted / segment_s, 1),
        "overloaded_per_s": round(overloaded / segment_s, 1),
        "sent": sent,
        "accepted": accepted,
        "overloaded": overloaded,
        "overloaded_with_retry_after": min(overloaded, int(result.retry_after.get("503", 0))),
        "other": other,
        "accepted_latency_ms": {k: round(v, 2) for k, v in latency.items()},
        "dispatch_late_ms": {k: round(v, 2) for k, v in result.dispatch_late_ms.items()},
        "drain_s": round(max(0.0, result.duration_s - segment_s), 2),
        "generator_cores": round(result.generator_cores, 3),
        "machine_busy_cores": (cpu or {}).get("machine_busy_cores"),
        "other_cores": (cpu or {}).get("other_cores"),
    }


def p99_bound_ms(max_queue_ms: float) -> float:
    """What "p99 of accepted bets stays bounded" is held to: twice the queue limit.

    An accepted bet waited at most the queue limit for its batch, then one batch's round
    trips; anything near twice the limit is queueing the limit does not cover.
    """
    return 2 * max_queue_ms


def curve_checks(levels: Sequence[Mapping[str, Any]], capacity: float, max_queue_ms: float
                 ) -> dict[str, dict[str, Any]]:
    """PASS/MISS lines about the curve (the money is ``money_check``'s)."""
    overloaded = sum(int(r["overloaded"]) for r in levels)
    with_retry = sum(int(r["overloaded_with_retry_after"]) for r in levels)
    other = {f"{r['percent']}%": r["other"] for r in levels if r["other"]}
    bound = p99_bound_ms(max_queue_ms)
    worst = max((float(r["accepted_latency_ms"].get("p99", 0.0)) for r in levels),
                default=0.0)
    past = [r for r in levels if int(r["percent"]) > 100]
    top = max(past, key=lambda r: int(r["percent"]), default=None)
    return {
        "overloaded_carry_retry_after": {
            "ok": with_retry == overloaded,
            "value": f"{with_retry} of {overloaded} OVERLOADED 503s had Retry-After"},
        "refusals_are_overloaded_only": {
            "ok": not other, "value": other or "every answer was 201 or OVERLOADED 503"},
        "p99_of_accepted_bounded": {
            "ok": bool(levels) and worst <= bound,
            "value": f"worst p99 {worst:,.1f} ms (bound {bound:,.0f} ms: 2 × the queue limit)"},
        "sheds_past_capacity": {
            "ok": top is not None and int(top["overloaded"]) > 0,
            "value": "no level past capacity" if top is None else (
                ", ".join(f"{r['percent']}%: {r['overloaded_per_s']:,.0f}/s refused"
                          for r in past)
                + f"; accepted at {top['percent']}%: {top['accepted_per_s']:,.0f}/s "
                f"({top['accepted_per_s'] / max(capacity, 1e-9):.0%} of the capacity)")},
    }


def money_check(wallets: Sequence[Mapping[str, str]], exposure: Mapping[str, Any],
                deposit: str, clients_got_201: int) -> dict[str, Any]:
    """Balances + reserved + the book's stakes = what the players were funded with.

    ``wallets``: ``GET /v1/wallet`` of each benchmark player; ``exposure``: the event's
    (``bets_accepted``, each market's ``stakes_total``). Every bet of the run is on that event
    and has the same stake; refused bets (OVERLOADED, rate-limited, ...) must have moved none.
    """
    def total(key: str) -> Decimal:
        return sum((Decimal(str(w.get(key, "0"))) for w in wallets), Decimal(0))

    funded = Decimal(deposit) * len(wallets)
    balance, reserved = total("balance"), total("reserved")
    held, debt = total("held_for_review"), total("debt")
    stakes = sum((Decimal(str(m["stakes_total"])) for m in exposure.get("markets", [])),
                 Decimal(0))
    book = int(exposure.get("bets_accepted", -1))
    conserved = balance + reserved + held - debt + stakes == funded
    return {
        "players": len(wallets), "funded": str(funded), "balances": str(balance),
        "reserved": str(reserved), "held_for_review": str(held), "debt": str(debt),
        "book_stakes": str(stakes), "book_bets_accepted": book,
        "clients_got_201": clients_got_201,
        "conserved": conserved,
        "no_reservation_left": reserved == 0,
        "book_holds_every_201": book >= clients_got_201,
        "ok": conserved and reserved == 0 and book >= clients_got_201,
    }


def curve_medians(curves: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, float]]:
    """Per level, the median over runs of offered, accepted and refused bets/s and latency."""
    by_level: dict[int, list[Mapping[str, Any]]] = {}
    for curve in curves:
        for record in curve:
            by_level.setdefault(int(record["percent"]), []).append(record)
    out = []
    for percent, records in sorted(by_level.items()):
        row: dict[str, float] = {"percent": float(percent), "runs": float(len(records))}
        for key in ("offered_per_s", "accepted_per_s", "overloaded_per_s"):
            row[key] = statistics.median(float(r[key]) for r in records)
        for q in ("p50", "p99", "p99.9"):
            values = [float(r["accepted_latency_ms"][q]) for r in records
                      if q in r["accepted_latency_ms"]]
            if values:
                row[q] = statistics.median(values)
        out.append(row)
    return out


def write_curve(runs: Sequence[Mapping[str, Any]], results: Path) -> dict[str, Any] | None:
    """The curve of the runs that measured one, as a PNG beside ``results``: its medians
    and where it went (None when no run measured a curve)."""
    measured = [r["real"]["shedding"] for r in runs
                if isinstance(r.get("real"), dict) and r["real"].get("shedding")]
    if not measured:
        return None
    curves = [m["levels"] for m in measured]
    capacity = statistics.median(float(m["capacity_per_s"]) for m in measured)
    max_queue_ms = float(measured[0]["plan"]["max_queue_ms"])
    table = curve_medians(curves)
    path = png_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(shedding_png(table, curves if len(curves) > 1 else (), capacity,
                                  max_queue_ms))
    shown = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    for m in measured:
        m["png"] = shown
    return {"runs": len(curves), "capacity_per_s": capacity, "medians": table, "png": shown}


def png_path(results: Path) -> Path:
    """The curve's PNG beside the results file: http.json → http_shedding.png."""
    stem = results.stem if results.stem.endswith("_shedding") else f"{results.stem}_shedding"
    return results.with_name(f"{stem}.png")


def shedding_png(medians: Sequence[Mapping[str, float]],
                 runs: Sequence[Sequence[Mapping[str, Any]]] = (), capacity: float = 0.0,
                 max_queue_ms: float = 1000.0, width: int = 900, height: int = 900) -> bytes:
    """Two panels over the offered bets/s: accepted and refused bets/s (linear), and the
    accepted bets' p50/p99/p99.9 (ms, log). ``medians``: ``curve_medians``; ``runs``: each
    run's records as dots; ``capacity``: the closed-loop capacity, a dashed line."""
    canvas = Canvas(width, height)
    canvas.text(width // 2, 12, "load shedding: bets offered vs accepted, and p99",
                anchor="center")
    if not medians:
        canvas.text(width // 2, height // 2, "no data", anchor="center")
        return canvas.png()
    every = [*medians, *(r for run in runs for r in run)]
    offered = [float(r["offered_per_s"]) for r in every]
    x = Scale.fit([*offered, capacity])
    rates = Panel(canvas, left=100, top=70, right=width - 30, bottom=height // 2 - 30, x=x,
                  y=Scale.fit([*offered, capacity]))
    rates.grid()
    rates.series([(rates.x.lo, rates.x.lo), (rates.x.hi, rates.x.hi)], GREY, width=1,
                 marker=0, dash=4)
    if capacity > 0:
        rates.hline(capacity, GREEN, f"closed-loop capacity {capacity:,.0f}/s")
        rates.vline(capacity, GREEN)
    for key, light in (("accepted_per_s", LIGHT_BLUE), ("overloaded_per_s", LIGHT_ORANGE)):
        rates.dots([(float(r["offered_per_s"]), float(r[key])) for run in runs for r in run],
                   light)
    for key, color in (("accepted_per_s", BLUE), ("overloaded_per_s", ORANGE)):
        rates.series([(m["offered_per_s"], m[key]) for m in medians], color)
    canvas.text(14, rates.top - 28, "bets/s", scale=2)
    rates.legend((("accepted (201)", BLUE), ("refused overloaded (503)", ORANGE)),
                 "grey: offered = accepted")
    latencies = [float(m[q]) for m in medians for q in ("p50", "p99", "p99.9") if q in m]
    latencies += [float(r["accepted_latency_ms"][q]) for run in runs for r in run
                  for q in ("p50", "p99") if q in r["accepted_latency_ms"]]
    ms = Panel(canvas, left=100, top=height // 2 + 50, right=width - 30, bottom=height - 80,
               x=x, y=Scale.fit([*latencies, max_queue_ms], log=True))
    ms.grid()
    ms.hline(max_queue_ms, GREEN, f"queue limit {max_queue_ms:,.0f} ms")
    if capacity > 0:
        ms.vline(capacity, GREEN)
    ms.dots([(float(r["offered_per_s"]), float(r["accepted_latency_ms"]["p99"]))
             for run in runs for r in run if "p99" in r["accepted_latency_ms"]], LIGHT_RED)
    for q, color in (("p50", BLUE), ("p99", RED), ("p99.9", GREY)):
        ms.series([(m["offered_per_s"], m[q]) for m in medians if q in m], color)
    canvas.text(14, ms.top - 28, "ms (log scale), accepted bets, from the scheduled send",
                scale=2)
    ms.legend((("p50", BLUE), ("p99", RED), ("p99.9", GREY)),
              "dots: each run" if len(runs) > 1 else "")
    canvas.text((ms.left + ms.right) // 2, height - 40,
                "bets/s offered (open loop, constant rate)", anchor="center")
    return canvas.png()


# ------------------------------------------------------------------ against the platform


def run_curve(plan: ShedPlan, capacity: float,
              open_loop: Callable[[Step, int], tuple[RunResult, dict[str, Any]]],
              drained: Callable[[], float] | None = None) -> list[dict[str, Any]]:
    """Each level's open-loop segment, lowest first; ``open_loop(step, connections)`` runs
    one and returns its result and CPU (``measure.measured``); after each, ``drained()``
    waits until the platform has finished what was sent (the seconds it took)."""
    records = []
    for step in rate_plan(capacity, plan.levels):
        connections = open_connections(step.rate, plan.max_queue_ms)
        log(f"section 3: shedding curve, {step.percent}% of capacity: {step.rate:,.0f} bets/s "
            f"for {plan.segment_s:g}s ({connections} connections)")
        record = segment_record(step, plan.segment_s, *open_loop(step, connections))
        records.append(record)
        lat = record["accepted_latency_ms"]
        log(f"  → accepted {record['accepted_per_s']:,.0f}/s, OVERLOADED "
            f"{record['overloaded_per_s']:,.0f}/s, p99 {lat.get('p99', 0):,.1f} ms"
            + (f", other {record['other']}" if record["other"] else ""))
        time.sleep(plan.pause_s)
        if drained is not None:
            record["settled_s"] = round(plan.pause_s + drained(), 1)
            if record["settled_s"] > plan.pause_s + 1:
                log(f"  the book took bets for {record['settled_s']:g}s more")
    return records


async def book_settled(base_url: str, op: str, event_id: str, limit_s: float,
                       every_s: float = 1.0) -> float:
    """Seconds until the event's book takes no more bets (its count unchanged for
    ``every_s``), at most ``limit_s``."""
    from cluster.api_client import AsyncApiClient

    t0 = time.monotonic()
    async with AsyncApiClient(base_url, timeout_s=60) as api:
        last = None
        while time.monotonic() - t0 < limit_s:
            book = await api.exposure(op, event_id)
            now = (book.get("bets_accepted"), book.get("bets_pending"))
            if now == last:
                break
            last = now
            await asyncio.sleep(every_s)
    return max(0.0, time.monotonic() - t0 - every_s)


async def settle_and_count(base_url: str, op: str, tokens: Sequence[str], event_id: str,
                           deposit: str, clients_got_201: int, settle_s: float
                           ) -> dict[str, Any]:
    """Wait (up to ``settle_s`` past the sweeper's window) for no reservation to be left,
    then ``money_check`` the players' wallets against the book."""
    from cluster.api_client import AsyncApiClient

    async with AsyncApiClient(base_url, timeout_s=60, connections=16) as api:
        sem = asyncio.Semaphore(16)

        async def wallet(token: str) -> dict[str, str]:
            async with sem:
                return await api.wallet(token)

        t0 = time.monotonic()
        while True:
            wallets = list(await asyncio.gather(*(wallet(t) for t in tokens)))
            reserved = sum(Decimal(str(w.get("reserved", "0"))) for w in wallets)
            if reserved == 0 or time.monotonic() - t0 > settle_s:
                break
            await asyncio.sleep(1.0)
        exposure = await api.exposure(op, event_id)
    out = money_check(wallets, exposure, deposit, clients_got_201)
    out["waited_s"] = round(time.monotonic() - t0, 1)
    return out


def report_lines(shedding: Mapping[str, Any]) -> list[str]:
    """The curve as the report prints it, and its PASS/MISS lines."""
    lines = [f"load shedding (open loop, {shedding['plan']['segment_s']:g} s a level; "
             f"capacity {shedding['capacity_per_s']:,.0f} accepted bets/s, closed loop; "
             f"queue limit {shedding['plan']['max_queue_ms']:,.0f} ms):",
             f"  {'level':>5} {'offered/s':>9} {'accepted/s':>10} {'503 OVL/s':>9} "
             f"{'Retry-After':>11} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} "
             f"{'late p99':>8} {'other':>5} {'drain s':>7}  other answers"]
    for r in shedding["levels"]:
        lat = r["accepted_latency_ms"]
        lines.append(
            f"  {r['percent']:>4}% {r['offered_per_s']:>9,.0f} {r['accepted_per_s']:>10,.0f} "
            f"{r['overloaded_per_s']:>9,.0f} "
            f"{r['overloaded_with_retry_after']:>5}/{r['overloaded']:<5} "
            f"{lat.get('p50', 0):>8.1f} {lat.get('p99', 0):>8.1f} {lat.get('p99.9', 0):>9.1f} "
            f"{r['dispatch_late_ms'].get('p99', 0):>8.1f} {r.get('other_cores') or 0:>5.2f} "
            f"{r.get('settled_s', 0):>7.1f}  {r['other'] or '-'}")
    lines.append("  (ms from each bet's scheduled send time; late p99: how late the generator "
                 "itself sent; other: cores used by work this benchmark did not start; drain: "
                 "how long the book went on taking bets after the level)")
    for name, check in shedding.get("checks", {}).items():
        lines.append(f"{'PASS' if check['ok'] else 'MISS'} {name}: {check['value']}")
    money = shedding.get("money")
    if money and "error" not in money:
        lines.append(
            f"{'PASS' if money['ok'] else 'MISS'} refusals_moved_no_money: "
            f"{money['players']} players funded {money['funded']}; balances {money['balances']}"
            f" + reserved {money['reserved']} + the book's stakes {money['book_stakes']} "
            f"({money['book_bets_accepted']:,} accepted bets; clients got "
            f"{money['clients_got_201']:,} × 201: "
            f"{money['book_bets_accepted'] - money['clients_got_201']:,} accepted without a "
            f"client seeing it: timed out, or cut off at the end of a closed-loop run) after "
            f"{money['waited_s']:g} s"
            + ("" if money["conserved"] else " — NOT CONSERVED")
            + ("" if money["no_reservation_left"] else " — RESERVATIONS LEFT"))
    elif money:
        lines.append(f"MISS refusals_moved_no_money: could not count ({money['error']})")
    busy = [f"{r['percent']}% ({r['other_cores']:.2f})" for r in shedding["levels"]
            if (r.get("other_cores") or 0) > 0.25]
    if busy:
        lines.append("warning: other work on the machine used more than a quarter of a core "
                     f"during the levels {', '.join(busy)}: those figures are understated")
    if shedding.get("png"):
        lines.append(f"plot: {shedding['png']}")
    return lines
