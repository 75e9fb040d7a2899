"""Section 3: the real platform, started by ``cluster.harness.LocalPlatform``.

Players and the hot event are made through ``cluster.api_client``; the bets themselves are
posted by the load generators (pre-rendered requests, unique Idempotency-Keys). The
load-shedding curve (``shedding.py``) runs on the same platform, after the closed loop has
measured its capacity; ``parts`` says whether the rest of the section (``"3"``), the curve
(``"shed"``) or both run.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cluster.api_client import ApiError, AsyncApiClient, Event
from cluster.harness import LocalPlatform, default_command
from simulations.httpbench.grpc_bets import GrpcTarget, grpc_closed
from simulations.httpbench.measure import (
    Loadgen,
    commands_per_bet,
    measured,
    redis_commandstats,
    run_record,
)
from simulations.httpbench.plan import (
    BET_STAKE,
    DEPOSIT,
    OPEN_RATE,
    ROOT,
    Plan,
    bet_body,
    log,
    reap_leftovers,
)
from simulations.httpbench.profile import profile_processes
from simulations.httpbench.shedding import (
    ShedPlan,
    Step,
    book_settled,
    curve_checks,
    rate_plan,
    run_curve,
    settle_and_count,
)
from simulations.loadgen import RunResult, Target

MARKETS = ("match-odds", "next-goal", "half-time", "double-chance")


@dataclass
class HotEvent:
    event_id: str
    # (market_id, selection_id) → current price
    prices: dict[tuple[str, str], str]
    in_play: bool


def cli_ready() -> str | None:
    """None when ``inplay up`` can be used, else why not."""
    inplay = default_command()[0]
    if not Path(inplay).exists():
        return "the inplay entry point is not installed in the venv"
    proc = subprocess.run([inplay, "up", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return f"`inplay up --help` failed: {(proc.stdout + proc.stderr).strip()[-300:]}"
    if "--detach" not in proc.stdout or "--demo" not in proc.stdout:
        return "`inplay up` has no --demo/--detach yet"
    return None


def _prices_of(event: Event) -> dict[tuple[str, str], str]:
    return {(str(m["market_id"]), str(s["selection_id"])): str(s["price"])
            for m in event.get("markets", []) for s in m.get("selections", [])
            if m.get("status", "open") == "open"}


async def create_event(api: AsyncApiClient, op: str, tag: str) -> HotEvent:
    """One event, several markets (liability is capped per market), no in-play delay."""
    starts = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last: ApiError | None = None
    for liability in ("1000000000.00", "1000000.00", "100000.00"):
        markets = [{"market_id": mid, "name": mid.replace("-", " ").capitalize(),
                    "in_play_delay_s": 0, "max_liability": liability,
                    "selections": [{"selection_id": "home", "name": "Home", "price": "2.50"},
                                   {"selection_id": "draw", "name": "Draw", "price": "3.20"},
                                   {"selection_id": "away", "name": "Away", "price": "2.80"}]}
                   for mid in MARKETS]
        body = {"event_id": f"bench-{tag}", "name": f"Bench hot event {tag}",
                "sport": "soccer", "starts_at": starts, "markets": markets}
        try:
            created = await api.create_event(op, body)
        except ApiError as exc:  # a liability above the API's maximum: try a smaller one
            last = exc
            if exc.status != 422:
                raise
            continue
        return HotEvent(created["event_id"], _prices_of(created), in_play=False)
    raise RuntimeError(f"could not create the event: {last}")


async def make_players(api: AsyncApiClient, op: str, tag: str, n: int,
                       concurrency: int = 8, first: int = 0) -> list[str]:
    """Register, verify, log in and fund ``n`` players (numbered from ``first``); their
    bearer tokens."""
    sem = asyncio.Semaphore(concurrency)
    password = f"bench-{tag}-password"

    async def one(i: int) -> str:
        async with sem:
            username = f"b{tag}n{i:04d}"
            account = await api.register(username, password, jurisdiction="GB",
                                         date_of_birth="1985-04-12")
            if account["kyc_status"] != "verified":
                await api.decide_kyc(op, account["account_id"], status="verified",
                                     reason="benchmark player")
            token = (await api.login(username, password))["token"]
            await api.deposit(token, DEPOSIT, method="bank_transfer", key=f"fund-{tag}-{i}")
            return token

    return list(await asyncio.gather(*(one(i) for i in range(first, first + n))))


async def probe_bet(api: AsyncApiClient, token: str, ev: HotEvent, tag: str
                    ) -> tuple[int, Any]:
    """One bet at the current price: (status, body or problem)."""
    (market, sel), price = next(iter(ev.prices.items()))
    try:
        bet = await api.place_bet(token, ev.event_id, market, sel, BET_STAKE, price,
                                  odds_change="any", key=f"probe-{tag}-{secrets.token_hex(4)}")
    except ApiError as exc:
        return exc.status, exc.problem or exc.detail
    return (201 if bet["status"] == "accepted" else 202), bet


async def prepare_real(base_url: str, op: str, tag: str, accounts: int,
                       notes: list[str]) -> tuple[HotEvent, list[str], dict[str, Any]]:
    timings: dict[str, Any] = {}
    async with AsyncApiClient(base_url, timeout_s=60, connections=32) as api:
        t0 = time.perf_counter()
        ev = await create_event(api, op, tag)
        timings["event_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        tokens = await make_players(api, op, tag, accounts)
        timings["players_s"] = round(time.perf_counter() - t0, 2)
        # a hot event is in play; with in_play_delay_s 0 bets are still accepted at once
        try:
            await api.set_status(op, ev.event_id, "in_play")
            ev.in_play = True
        except ApiError as exc:
            notes.append(f"could not put the event in play ({exc}); betting pre-match")
        status, data = await probe_bet(api, tokens[0], ev, tag)
        if status != 201 and ev.in_play:
            notes.append(f"in-play probe bet answered {status} {data}; betting pre-match")
            await api.set_status(op, ev.event_id, "scheduled")
            ev.in_play = False
            status, data = await probe_bet(api, tokens[0], ev, tag)
        if status != 201:
            raise RuntimeError(f"probe bet answered {status}: {data}")
        fresh = await api.get_event(ev.event_id, tokens[0])
        ev.prices = _prices_of(fresh) or ev.prices
        return ev, tokens, timings


async def fetch_exposure(base_url: str, op: str, event_id: str) -> dict[str, Any]:
    async with AsyncApiClient(base_url, timeout_s=60) as api:
        try:
            return await api.exposure(op, event_id)
        except (ApiError, httpx.HTTPError) as exc:
            return {"error": str(exc)}


async def more_players(base_url: str, op: str, tag: str, have: int, n: int) -> list[str]:
    async with AsyncApiClient(base_url, timeout_s=60, connections=32) as api:
        return await make_players(api, op, tag, n, first=have)


def section_real(plan: Plan, gen: Loadgen, tag: str, workdir: Path, profile: bool,
                 keep_home: bool, platform_env: dict[str, str], demo: bool,
                 parts: frozenset[str] = frozenset({"3"}),
                 shed: ShedPlan | None = None) -> dict[str, Any]:
    platform = LocalPlatform(demo=demo, name="bench", env=platform_env, keep_home=keep_home,
                             operator_name="bench", up_timeout_s=300)
    notes: list[str] = []
    out: dict[str, Any] = {"platform_env": platform_env, "demo": demo, "notes": notes}
    extra_pids: set[int] = set()  # ours, but unmarked (the platform's valkey-server)
    try:
        log(f"section 3: inplay up {'--demo ' if demo else ''}--detach"
            f"{' ' if platform_env else ''}"
            f"{' '.join(f'{k}={v}' for k, v in platform_env.items())}")
        platform.start()
        log(f"  up in {platform.up_seconds:.0f}s (home {platform.home}, "
            f"http {platform.http_port})")
        out["up_s"] = round(platform.up_seconds, 1)
        out["up_output_tail"] = platform.up_output[-2000:]
        state = platform.state()
        redis_url = str(state.get("redis_url") or "")
        if state.get("redis_pid"):
            extra_pids.add(int(state["redis_pid"]))
        op = platform.operator_token
        base_url, http_port = platform.url, platform.http_port
        log(f"section 3: creating the event and {plan.accounts} funded, verified players")
        ev, tokens, timings = asyncio.run(prepare_real(base_url, op, tag, plan.accounts, notes))
        out["setup"] = timings
        out["event"] = {"event_id": ev.event_id, "in_play": ev.in_play,
                        "prices": {f"{m}/{s}": p for (m, s), p in ev.prices.items()}}
        out["players"] = len(tokens)
        bodies = tuple(bet_body(ev.event_id, market, sel, price)
                       for (market, sel), price in ev.prices.items())

        def target(prefix: str) -> Target:
            return Target("127.0.0.1", http_port, "POST", "/v1/bets", bodies=bodies,
                          tokens=tuple(tokens), idempotency_prefix=f"{tag}{prefix}")

        def metered(fn: Any) -> tuple[RunResult, dict[str, Any]]:
            return measured(tag, fn, frozenset(extra_pids))

        seen = Counter({"201": 1})  # every 201 any client got (the probe's included)

        def counted(result: RunResult) -> RunResult:
            seen.update(result.statuses)
            return result

        log("section 3: warm-up")
        counted(gen.closed(target("w"), max(plan.real_connections), plan.warmup_s))
        if "3" in parts:
            # the ceiling of any route on this platform's Serve stack (HAProxy, direct
            # ingress, the same replicas): a trivial FastAPI GET, as section 1's hello but
            # through Serve
            log(f"section 3: GET /livez (Serve's own ceiling), {plan.hello_connections} "
                "connections")
            live = Target("127.0.0.1", http_port, "GET", "/livez")
            result, cpu = metered(
                lambda: gen.closed(live, plan.hello_connections, plan.duration_s))
            out["serve_hello"] = run_record(result, cpu, (200,))
            log(f"  → {result.rate(200):,.0f} req/s")
        runs = []
        for i, conns in enumerate(plan.real_connections):
            log(f"section 3: closed loop, {conns} connections, {plan.duration_s:g}s")
            before = redis_commandstats(redis_url) if redis_url else {}
            result, cpu = metered(lambda c=conns, k=i: counted(
                gen.closed(target(f"c{k}-"), c, plan.duration_s)))
            runs.append(run_record(result, cpu, (201,)))
            if redis_url:
                runs[-1]["redis_per_bet"] = commands_per_bet(
                    before, redis_commandstats(redis_url), result.statuses.get("201", 0))
            log(f"  → {result.rate(201):,.0f} accepted/s, p99 {result.latency_ms.get('p99', 0):.1f}"
                f" ms, statuses {result.statuses}")
        out["closed"] = runs
        best = max(runs, key=lambda r: r["ok_per_s"])
        out["best_closed"] = {"connections": best["connections"],
                              "accepted_per_s": best["ok_per_s"],
                              "p50_ms": best["latency_ms"].get("p50"),
                              "p99_ms": best["latency_ms"].get("p99")}
        if "3" in parts:
            # the same bets over the partner gRPC API (PlaceBets of 20), same platform
            grpc_target = GrpcTarget(platform.feed_target, tuple(tokens), ev.event_id,
                                     tuple((m, s, p) for (m, s), p in ev.prices.items()),
                                     BET_STAKE, f"{tag}g-")
            log(f"section 3: gRPC PlaceBets (20 bets a call), closed loop, "
                f"{plan.duration_s:g}s")
            # a partner is one account, and each account's bets are rate limited
            # (INPLAY_RATE_LIMIT_PER_S, 20/s): one channel per player, one call in flight
            result, cpu = metered(lambda: counted(grpc_closed(
                grpc_target, clients=len(tokens), in_flight=1, duration_s=plan.duration_s)))
            out["grpc"] = run_record(result, cpu, (201,))
            out["grpc"]["vs_http_best"] = round(
                out["grpc"]["ok_per_s"] / max(1e-9, float(best["ok_per_s"])), 3)
            log(f"  → {result.rate(201):,.0f} accepted/s over gRPC "
                f"({out['grpc']['vs_http_best']:.2f} of HTTP's best), statuses "
                f"{result.statuses}, call p99 {result.latency_ms.get('p99', 0):.1f} ms")
        if profile and "3" in parts:
            top = [(int(pid), label) for pid, label, _ in best["cpu"]["top_pids"]
                   if label.startswith(("ray::", "python")) and int(pid) != os.getpid()][:3]
            log(f"section 3: profiling {[lbl for _, lbl in top]} with py-spy")
            out["profile"] = profile_processes(
                tag, top, plan.profile_s, workdir,
                lambda: counted(gen.closed(target("p-"), int(best["connections"]),
                                           plan.profile_s)))
        capacity = float(best["ok_per_s"])
        if "3" in parts and capacity < OPEN_RATE:
            notes.append(f"the closed-loop capacity ({capacity:,.0f}/s) is below "
                         f"{OPEN_RATE:,.0f}/s: the 1,000/s open loop measures overload")
        if "3" in parts and capacity < 2 * OPEN_RATE:
            # 1,000/s is more than half the capacity: measure latency at half the capacity
            # too (first: overload can leave a backlog)
            rate = max(10.0, round(capacity / 2, -1))
            log(f"section 3: open loop at {rate:,.0f} bets/s (half the capacity)")
            result, cpu = metered(lambda: counted(gen.open(
                target("h-"), rate, plan.open_duration_s / 2, plan.open_timeout_s)))
            out["open_loop_half_capacity"] = run_record(result, cpu, (201,))
            log(f"  → p99 {result.latency_ms.get('p99', 0):.1f} ms, "
                f"statuses {result.statuses}")
        if "3" in parts:
            log(f"section 3: open loop at {OPEN_RATE:,.0f} bets/s for "
                f"{plan.open_duration_s:g}s")
            result, cpu = metered(lambda: counted(gen.open(
                target("o-"), OPEN_RATE, plan.open_duration_s, plan.open_timeout_s)))
            out["open_loop"] = run_record(result, cpu, (201,))
            log(f"  → p99 {result.latency_ms.get('p99', 0):.1f} ms, "
                f"statuses {result.statuses}")
        if "shed" in parts:
            curve = shed or ShedPlan()
            top_rate = max(step.rate for step in rate_plan(capacity, curve.levels))
            # the per-account limit (20/s) must not be what refuses bets: ≤ 12/s each
            wanted = math.ceil(top_rate / 12) - len(tokens)
            if wanted > 0:
                log(f"section 3: {wanted} more players for {top_rate:,.0f} bets/s")
                tokens += asyncio.run(more_players(base_url, op, tag, len(tokens), wanted))
                out["players"] = len(tokens)

            def segment(step: Step, connections: int) -> tuple[RunResult, dict[str, Any]]:
                return metered(lambda: counted(gen.open(
                    target(f"s{step.percent}-"), step.rate, curve.segment_s, curve.timeout_s,
                    connections)))

            def drained() -> float:
                return asyncio.run(book_settled(base_url, op, ev.event_id,
                                                curve.drain_limit_s))

            levels = run_curve(curve, capacity, segment, drained)
            out["shedding"] = {"capacity_per_s": capacity, "plan": curve.__dict__,
                               "levels": levels,
                               "checks": curve_checks(levels, capacity, curve.max_queue_ms)}
            log("section 3: shedding curve done; counting the money once the sweeper's "
                f"window ({curve.settle_s:g} s) has passed")
            try:
                out["shedding"]["money"] = asyncio.run(settle_and_count(
                    base_url, op, tokens, ev.event_id, DEPOSIT, seen["201"],
                    curve.settle_s + 20))
            except (ApiError, httpx.HTTPError) as exc:
                out["shedding"]["money"] = {"error": f"{type(exc).__name__}: {exc}"}
        # durability cross-check: the book must hold at least every bet a client saw accepted
        # (more is fine: bets whose answer came after the client gave up)
        time.sleep(2.0)
        exposure = asyncio.run(fetch_exposure(base_url, op, ev.event_id))
        out["exposure"] = exposure
        book = exposure.get("bets_accepted")
        out["durability"] = {"clients_got_201": seen["201"], "book_bets_accepted": book,
                             "ok": None if book is None else int(book) >= seen["201"]}
        if book is not None and int(book) < seen["201"]:
            notes.append(f"DURABILITY: clients got {seen['201']} × 201 but the event's "
                         f"exposure counts only {book} accepted bets")
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        log(f"section 3 failed: {out['error']}")
    finally:
        out["home"] = str(platform.home)
        out["ports"] = {"http": platform.http_port, "ray": platform.ray_port,
                        "dashboard": platform.dashboard_port}
        log("section 3: inplay down")
        report = platform.stop()
        out["down"] = f"rc {report.down_returncode}: {report.down_output[-500:]}"
        leaked = report.leftovers + reap_leftovers(tag)
        if leaked:
            out["leaked_after_down"] = leaked
            notes.append(f"`inplay down` left {len(leaked)} processes of this home running "
                         f"(the benchmark ended them by pid): {', '.join(leaked[:8])}"
                         + (" ..." if len(leaked) > 8 else ""))
            log(f"  inplay down left {len(leaked)} processes running; ended them")
    return out
