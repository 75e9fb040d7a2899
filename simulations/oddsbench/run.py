"""One run of the odds benchmark against a private platform (``cluster.harness.LocalPlatform``).

The order matters for what each figure means:

1. the platform (``inplay up --detach`` with the limits raised, see ``limits_env``), one event
   in play, funded players (``simulations.httpbench.real.prepare_real``), a feed token, one
   odds change through the ingest (it must come back ``applied`` with a version), 2 streams
   (the stream must answer), a warm-up of a few streams and changes;
2. bets without streams (odds flowing at ``bet_rate``): a warm-up of the bet path, reported
   but not in the ratio;
3. memory: the platform's RSS with no stream open, then with N idle streams open for each
   level (1,000, 5,000) and each ramp step beyond (+``ramp_step``) until a step fails (streams
   that do not open, or open ones the server ends), the machine runs low on memory or the
   cap is reached — nothing else happens between these samples but heartbeats, so the
   figure is what idle streams cost;
4. delivery at each level and then at the most streams held, in ascending order (streams
   closed down to the first level, opened again up to the next), so that an overload at the
   top cannot spill into the figures below it: odds at ``rate``/s (latency p50/p99, every
   stream's share), then flat out (the updates/s per event the path sustains);
5. right after the level of ``bet_streams`` (1,000): bets without streams and with them
   open, in the order ``bet_order`` ("ABBA": without, with, with, without; "ABA" in the quick
   mode) — the platform gets faster for a while after it starts (every run so far: the
   last segment beat the first), and a symmetric order cancels a steady drift — odds at
   ``bet_rate`` throughout: the ratio is the mean "with" over the mean "without".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform as pyplatform
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psutil

from cluster.config import Settings
from cluster.harness import LocalPlatform
from cluster.local import maxconn_for
from simulations.httpbench.measure import Loadgen, background_load, cpu_model, run_record
from simulations.httpbench.plan import bet_body, log, reap_leftovers
from simulations.httpbench.real import prepare_real
from simulations.loadgen import MARKER_ENV, Target
from simulations.oddsbench import measure
from simulations.oddsbench.clients import ClientPool, Collected, raise_nofile
from simulations.oddsbench.publisher import Published, Publisher
from simulations.oddsbench.stats import delivery, match, summary_ms

STREAM_PATH = "/v1/events/{event_id}/stream"
NOFILE_WANT = 262_144  # every process of the platform inherits it (as root: hard limit too)
MEMORY_GUARD_MB = 1536  # a ramp step is not tried with less available than this


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of one mode."""

    name: str
    levels: tuple[int, ...]  # stream counts measured in full
    ramp: bool  # beyond the last level, +ramp_step until a step fails
    ramp_step: int
    max_streams: int  # the ramp's cap
    bet_streams: int  # streams open during the "with" bet segment
    rate: float  # odds changes/s while latency is measured
    latency_s: float
    flat_s: float  # the flat-out phase
    burst: int  # changes per call, flat out
    drain_s: float  # after the last publish, before the clients are asked
    bet_rate: float  # odds changes/s during the bet segments
    bet_s: float
    bet_order: str  # the bet segments after the warm-up: A without streams, B with them
    bet_connections: int
    accounts: int
    settle_s: float  # idle before a memory sample
    open_timeout_s: float
    open_concurrency: int  # streams opening at once, per client process
    workers: int = 2  # client processes


QUICK = Plan("quick", levels=(200,), ramp=False, ramp_step=0, max_streams=200,
             bet_streams=200, rate=10, latency_s=8, flat_s=4, burst=4, drain_s=2,
             bet_rate=5, bet_s=5, bet_order="ABA", bet_connections=32, accounts=32, settle_s=3,
             open_timeout_s=20, open_concurrency=32)
FULL = Plan("default", levels=(1000, 5000), ramp=True, ramp_step=2500, max_streams=25_000,
            bet_streams=1000, rate=10, latency_s=20, flat_s=10, burst=4, drain_s=4,
            bet_rate=5, bet_s=12, bet_order="ABBA", bet_connections=64, accounts=128, settle_s=5,
            open_timeout_s=30, open_concurrency=64)


@dataclass
class Options:
    plan: Plan
    platform_env: dict[str, str]
    default_limits: bool = False  # leave HAProxy's maxconn and the odds deployment's as they are
    loadgen: str = "auto"
    install: bool = True
    keep_home: bool = False
    wait_quiet: float = 0.0
    demo: bool = False


def haproxy_maxconn_allowed(nofile_hard: int) -> int:
    """The largest global ``maxconn`` HAProxy starts with under this open-files hard limit
    (``cluster.local.maxconn_for``: what ``inplay up`` asks for too)."""
    return maxconn_for(nofile_hard)


def limits_env(plan: Plan, default_limits: bool, nofile_hard: int) -> dict[str, str]:
    """The platform's environment that lets ``plan.max_streams`` streams through:
    HAProxy's global ``maxconn`` (Serve's default, 4,096, is below the 5,000 aim; capped by
    what the open-files limit lets HAProxy start with) and the odds deployment's
    ``max_ongoing_requests`` (every open stream holds one)."""
    if default_limits:
        return {}
    maxconn = min(plan.max_streams + 4096, haproxy_maxconn_allowed(nofile_hard))
    return {"RAY_SERVE_HAPROXY_MAXCONN": str(maxconn),
            "INPLAY_ODDS_MAX_ONGOING_REQUESTS": str(plan.max_streams + 1024)}


def configured_limits(env: Mapping[str, str]) -> dict[str, str]:
    """What this run asked for (or the defaults it left alone)."""
    default_odds = Settings.model_fields["odds_max_ongoing_requests"].default
    return {
        "RAY_SERVE_HAPROXY_MAXCONN": env.get("RAY_SERVE_HAPROXY_MAXCONN",
                                             "4096 (Serve's default)"),
        "INPLAY_ODDS_MAX_ONGOING_REQUESTS": env.get(
            "INPLAY_ODDS_MAX_ONGOING_REQUESTS", f"{default_odds} (inplay's default)"),
        "INPLAY_ODDS_REPLICAS": env.get("INPLAY_ODDS_REPLICAS", "1 (inplay's default)"),
    }


class Run:
    """The state one run's phases share."""

    def __init__(self, opts: Options, tag: str, platform: LocalPlatform, gen: Loadgen,
                 results: dict[str, Any]) -> None:
        self.opts, self.plan, self.tag = opts, opts.plan, tag
        self.platform, self.gen = platform, gen
        self._pool: ClientPool | None = None
        self.results = results
        self.notes: list[str] = results.setdefault("notes", [])
        self.pub: Publisher | None = None
        self.bodies: tuple[bytes, ...] = ()
        self.tokens: tuple[str, ...] = ()

    # -------------------------------------------------------------- plumbing

    @property
    def pool(self) -> ClientPool:
        if self._pool is None:
            raise RuntimeError("the clients are not started")
        return self._pool

    def stop_clients(self) -> None:
        if self._pool is not None:
            self._pool.stop()

    def groups(self) -> dict[int, str]:
        """pid → label of everything whose CPU a phase reports."""
        out = measure.labelled(self.platform.pids())
        out.update({pid: "sse clients" for pid in self.pool.pids})
        out[os.getpid()] = "publisher (benchmark process)"
        return out

    def meter(self) -> measure.PhaseCpu:
        return measure.PhaseCpu(self.groups).start()

    async def status(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.pool.status)

    def memory(self) -> dict[str, int]:
        return measure.rss_by_label(self.platform.pids())

    # -------------------------------------------------------------- setup

    async def setup(self) -> None:
        plan, platform = self.plan, self.platform
        log(f"setup: one event, {plan.accounts} funded players, a feed token")
        ev, tokens, timings = await prepare_real(platform.url, platform.operator_token,
                                                 self.tag, plan.accounts, self.notes)
        self.results["setup"] = timings
        self.results["event"] = {"event_id": ev.event_id, "in_play": ev.in_play,
                                 "markets": sorted({m for m, _ in ev.prices})}
        markets: dict[str, dict[str, str]] = {}
        for (market, selection), price in ev.prices.items():
            markets.setdefault(market, {})[selection] = price
        provider = f"oddsbench-{self.tag}"
        token = await asyncio.to_thread(platform.token, "feed", provider)
        self.pub = Publisher(platform.feed_target, token, provider, ev.event_id, markets)
        self.bodies = tuple(bet_body(ev.event_id, m, s, p) for (m, s), p in ev.prices.items())
        self.tokens = tuple(tokens)
        probe = Published()
        await self.pub.send([self.pub.next_change()], probe)
        self.results["probe_publish"] = probe.to_json()
        if not probe.versions:
            raise RuntimeError(f"the feed ingest ({platform.feed_target}) did not apply an odds "
                               f"change: {probe.to_json()}")

    async def check_stream(self) -> None:
        """Two streams must open (a snapshot each) and see a change: else nothing to measure."""
        assert self.pub is not None
        got = await asyncio.to_thread(self.pool.open, self.plan.workers, 1,
                                      self.plan.open_timeout_s)
        if got["opened"] < self.plan.workers:
            raise RuntimeError(f"GET {self.path()} did not open a stream: {got['failed']}")
        log("warm-up: 20 streams, 20 changes")
        await asyncio.to_thread(self.pool.open, 20 - self.plan.workers, 8,
                                self.plan.open_timeout_s)
        await asyncio.to_thread(self.pool.record)
        published = await self.pub.at_rate(20, 1.0)
        await asyncio.sleep(1.0)
        got_back = await asyncio.to_thread(self.pool.collect)
        warm = self.analyse(published, got_back, None)
        self.results["warmup"] = warm
        if not warm["delivery"]["delivered"]:
            raise RuntimeError(f"streams opened but no odds message reached them: {warm}")
        await asyncio.to_thread(self.pool.close_streams, 0)

    def path(self) -> str:
        assert self.pub is not None
        return STREAM_PATH.format(event_id=self.pub.event_id)

    # -------------------------------------------------------------- phases

    def analyse(self, published: Published, got: Collected,
                cpu: dict[str, Any] | None) -> dict[str, Any]:
        """Latency and delivery of one window."""
        matched = match(got.ids, got.times, published.versions)
        lat = summary_ms(matched.latency_ms)
        received = int(got.per_stream.sum())  # odds messages, samples kept or not
        # where the time goes: the ingest's round trip (publish → ack: journaled), and the
        # fan-out after it (ack → client; negative when a client has it before the ack)
        after_ack = match(got.ids, got.times, published.acked)
        out: dict[str, Any] = {
            "streams": got.open, "publish": published.to_json(), "latency_ms": lat,
            "after_ack_ms": summary_ms(after_ack.latency_ms),
            "delivery": delivery(len(published.versions), got.per_stream,
                                 published.duration_s),
            "unmatched_ids": matched.unmatched, "received_before_publish": matched.too_early,
            "streams_resnapshotted": got.resnapped, "id_regressions": got.regressions,
            "streams_ended": got.ended, "client_cores": round(got.cores, 3),
            "client_cores_by_process": [round(c, 3) for c in got.cpu_by_worker],
            "clients_saturated": got.saturated, "samples_dropped": got.samples_dropped,
            "client_cpu_us_per_message": round(got.cpu_s / received * 1e6, 2)
            if received else None,
            "client_rss_mb": round(got.rss / measure.KB / measure.KB, 1),
        }
        if cpu is not None:
            cpu["by_process_cores"]["sse clients"] = round(got.cores, 3)
            out["cpu"] = cpu
            if received:
                per_s = received / max(1e-9, cpu["wall_s"])
                out["platform_cpu_us_per_message"] = round(
                    sum(v for k, v in cpu["by_process_cores"].items()
                        if k not in ("sse clients", "publisher (benchmark process)"))
                    / per_s * 1e6, 2)
        return out

    async def delivery_phase(self, kind: str) -> dict[str, Any]:
        assert self.pub is not None
        plan = self.plan
        await asyncio.to_thread(self.pool.record)
        meter = self.meter()
        if kind == "latency":
            published = await self.pub.at_rate(plan.rate, plan.latency_s)
        else:
            published = await self.pub.flat_out(plan.flat_s, plan.burst)
        await asyncio.sleep(plan.drain_s)
        cpu = meter.stop()
        got = await asyncio.to_thread(self.pool.collect)
        out = self.analyse(published, got, cpu)
        out["kind"] = kind
        return out

    async def open_to(self, target: int) -> dict[str, Any]:
        """Open streams until ``target`` are open; what happened, and whether it held."""
        before = await self.status()
        need = target - before["open"]
        got = await asyncio.to_thread(
            self.pool.open, need, self.plan.open_concurrency, self.plan.open_timeout_s,
            max(20, need // 50))
        after = await self.status()
        ended = Counter(after["ended"])
        ended.subtract(before["ended"])
        ended_now = {k: v for k, v in ended.items() if v > 0}
        got["open_ms"] = summary_ms(got["open_ms"])
        got["ended_meanwhile"] = ended_now
        got["open"] = after["open"]
        failed = sum(got["failed"].values()) + got["untried"]
        got["held"] = failed <= max(0, need) * 0.005 and not ended_now
        return got

    async def bets(self, label: str, streams: int) -> dict[str, Any]:
        """One closed-loop bet segment with odds flowing; the delivery meanwhile if streams
        are open."""
        assert self.pub is not None
        plan = self.plan
        target = Target("127.0.0.1", self.platform.http_port, "POST", "/v1/bets",
                        bodies=self.bodies, tokens=self.tokens,
                        idempotency_prefix=f"{self.tag}{label.replace('-', '')}-")
        log(f"bets {label}: {plan.bet_connections} connections, {plan.bet_s:g}s, "
            f"{streams:,} streams open, odds at {plan.bet_rate:g}/s")
        if streams:
            await asyncio.to_thread(self.pool.record)
        meter = self.meter()
        async with self.pub.flowing(plan.bet_rate) as flow:
            result = await asyncio.to_thread(self.gen.closed, target, plan.bet_connections,
                                             plan.bet_s)
        cpu = meter.stop()
        cpu["by_process_cores"]["load generator"] = round(result.generator_cores, 3)
        record = run_record(result, cpu, (201,))
        record["streams"] = streams
        record["odds"] = flow.to_json()
        if streams:
            got = await asyncio.to_thread(self.pool.collect)
            record["delivery_meanwhile"] = self.analyse(flow, got, None)
        log(f"  → {record['ok_per_s']:,.0f} accepted/s, p99 "
            f"{result.latency_ms.get('p99', 0):.1f} ms, statuses {result.statuses}")
        return record

    # -------------------------------------------------------------- the run

    async def main(self) -> None:
        plan, res = self.plan, self.results
        await self.setup()
        assert self.pub is not None
        heartbeat = asyncio.create_task(self.pub.heartbeat())
        try:
            self._pool = ClientPool("127.0.0.1", self.platform.http_port, self.path(),
                                    plan.workers, nofile=NOFILE_WANT)
            await asyncio.to_thread(self._pool.start)
            await self.check_stream()
            res["limits"] = measure.limits(self.platform.pids(), self.pool.pids,
                                           res["meta"]["configured_limits"])
            res["bets"] = {"streams": plan.bet_streams, "odds_rate": plan.bet_rate,
                           "warmup": await self.bets("warm-up", 0), "with": [],
                           "without": []}
            held = await self.memory_ramp()
            await self.deliveries(held)
            await asyncio.to_thread(self.pool.close_streams, 0)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.pub.close()

    async def memory_ramp(self) -> int:
        """Idle streams at each level and ramp step: RSS of the platform's processes minus
        with none open. Returns how many streams are held at the end."""
        plan, res = self.plan, self.results
        await asyncio.sleep(plan.settle_s)
        baseline = self.memory()
        res["memory_baseline"] = {"rss_mb_by_process": {
            k: round(v / measure.KB / measure.KB, 1) for k, v in baseline.items()},
            "rss_mb_total": round(sum(baseline.values()) / measure.KB / measure.KB, 1)}
        targets = list(plan.levels)
        if plan.ramp and plan.ramp_step > 0:
            n = max(plan.levels) + plan.ramp_step
            while n <= plan.max_streams:
                targets.append(n)
                n += plan.ramp_step
        steps: list[dict[str, Any]] = []
        ramp: dict[str, Any] = {"steps": steps, "held": None, "stopped_because": None,
                                "cap": plan.max_streams if plan.ramp else None}
        res["ramp"] = ramp
        res["levels"] = []
        held = 0
        for target in targets:
            available = psutil.virtual_memory().available / measure.KB / measure.KB
            if available < MEMORY_GUARD_MB:
                ramp["stopped_because"] = (f"the machine is low on memory: {available:,.0f} MB "
                                           f"available (guard {MEMORY_GUARD_MB:,} MB)")
                break
            log(f"memory: opening streams up to {target:,}")
            step = await self.open_to(target)
            idle = self.meter()
            await asyncio.sleep(plan.settle_s)
            idle_cpu = idle.stop()
            after = self.memory()
            step["target"] = target
            step["memory"] = measure.per_stream(baseline, after, step["open"])
            step["idle_cpu"] = idle_cpu
            step["machine_available_mb"] = round(
                psutil.virtual_memory().available / measure.KB / measure.KB)
            steps.append(step)
            kb = step["memory"]["kb_per_stream"]
            log(f"  → {step['open']:,} open ({step['seconds']:.1f}s to open, p99 "
                f"{step['open_ms'].get('p99', 0):.0f} ms each), {kb} KB per stream"
                + ("" if step["held"] else f"; FAILED: {step['failed']} "
                   f"{step['ended_meanwhile'] or ''}"))
            if target in plan.levels:
                res["levels"].append({"n": step["open"], "target": target,
                                      "memory": step["memory"], "open": _brief(step)})
            if not step["held"]:
                reasons = dict(Counter(step["failed"]).most_common(4))
                ramp["stopped_because"] = (
                    f"opening {target - (held or 0):,} more streams (to {target:,}) failed: "
                    f"{step['opened']:,} opened, failures {reasons}, untried "
                    f"{step['untried']:,}, open streams ended meanwhile "
                    f"{step['ended_meanwhile'] or 'none'}")
                held = step["open"]
                break
            held = step["open"]
        else:
            if plan.ramp:
                ramp["stopped_because"] = f"the cap (--max-streams {plan.max_streams:,})"
        if plan.ramp:
            ramp["held"] = held
        return held

    async def set_streams(self, n: int) -> tuple[int, dict[str, Any] | None]:
        """Close streams down to ``n``, or open more up to it; (open now, the opening's
        record if streams were opened)."""
        open_now = await asyncio.to_thread(self.pool.close_streams, n)
        reopened = None
        if open_now < n:
            log(f"opening streams up to {n:,} again")
            reopened = _brief(await self.open_to(n))
            open_now = (await self.status())["open"]
        await asyncio.sleep(max(2.0, self.plan.settle_s))
        return open_now, reopened

    async def deliveries(self, held: int) -> None:
        """Latency and flat out at each level up to the most streams held, in ascending
        order (the overload at the top comes last); the bets with and without streams right
        after the level they need."""
        plan, res = self.plan, self.results
        counts = [(n, False) for n in sorted(plan.levels) if n <= held]
        if plan.ramp and held and (not counts or held > counts[-1][0]):
            counts.append((held, True))
        pending_bets = plan.bet_streams > 0
        if pending_bets and plan.bet_streams not in {n for n, _ in counts}:
            await self.bets_with_and_without()
            pending_bets = False
        for n, is_max in counts:
            open_now, reopened = await self.set_streams(n)
            level = next((lv for lv in res["levels"] if lv["target"] == n and not is_max),
                         None)
            if level is None:
                step = next((s for s in res["ramp"]["steps"] if s["open"] == n), None)
                level = {"n": open_now, "target": n,
                         "memory": step["memory"] if step else None}
                res["levels"].append(level)
            level["ramp_max"] = is_max
            level["n"] = open_now
            if reopened:
                level["reopened"] = reopened
            log(f"delivery at {open_now:,} streams: {plan.rate:g} changes/s for "
                f"{plan.latency_s:g}s")
            try:
                level["latency"] = await self.delivery_phase("latency")
                lat = level["latency"]["latency_ms"]
                log(f"  → p50 {lat.get('p50', 0):.1f} ms, p99 {lat.get('p99', 0):.1f} ms, "
                    f"delivered {level['latency']['delivery']['delivered_share']}, clients "
                    f"{level['latency']['client_cores']:.2f} cores")
                log(f"flat out at {open_now:,} streams, {plan.burst} changes per call, "
                    f"{plan.flat_s:g}s")
                level["flat_out"] = await self.delivery_phase("flat_out")
                flat = level["flat_out"]
                log(f"  → published {flat['delivery'].get('published_per_s')}/s, each stream "
                    f"got {flat['delivery'].get('per_stream_per_s')}/s, p99 "
                    f"{flat['latency_ms'].get('p99', 0):.0f} ms, "
                    f"{flat['streams_resnapshotted']} streams re-snapshotted")
            except Exception as exc:
                level["error"] = f"{type(exc).__name__}: {exc}"
                log(f"  failed: {level['error']}")
            if pending_bets and n == plan.bet_streams:
                await self.bets_with_and_without()
                pending_bets = False
        res["levels"].sort(key=lambda lv: (lv.get("ramp_max", False), lv["target"]))

    async def bets_with_and_without(self) -> None:
        """Bet segments without (A) and with (B) ``bet_streams`` open, in ``bet_order``."""
        plan, bets = self.plan, self.results["bets"]
        bets["order"] = plan.bet_order
        for i, kind in enumerate(plan.bet_order.upper()):
            if kind == "B":
                now, _ = await self.set_streams(plan.bet_streams)
                bets["with"].append(await self.bets(f"with{i + 1}", now))
                bets["streams"] = now
            else:
                if (await self.status())["open"]:
                    await asyncio.to_thread(self.pool.close_streams, 0)
                    await asyncio.sleep(2.0)
                bets["without"].append(await self.bets(f"without{i + 1}", 0))
        bets["segments"] = [r["ok_per_s"] for r in
                            _in_order(plan.bet_order, bets["with"], bets["without"])]
        if bets["with"] and bets["without"]:
            bets["with_per_s"] = round(statistics.mean(r["ok_per_s"] for r in bets["with"]), 1)
            bets["without_per_s"] = round(
                statistics.mean(r["ok_per_s"] for r in bets["without"]), 1)
            bets["ratio"] = round(bets["with_per_s"] / bets["without_per_s"], 3) \
                if bets["without_per_s"] else None


def _in_order(order: str, with_: list[Any], without: list[Any]) -> list[Any]:
    """The segments as they ran (``order``: A = without, B = with)."""
    b, a = iter(with_), iter(without)
    return [next(b) if kind == "B" else next(a) for kind in order.upper()]


def _brief(step: Mapping[str, Any]) -> dict[str, Any]:
    return {k: step[k] for k in ("asked", "opened", "failed", "untried", "seconds",
                                 "client_cpu_s", "open_ms", "held")}


def one_run(opts: Options) -> dict[str, Any]:
    """Start a platform, measure, stop it: the results of one run."""
    plan = opts.plan
    tag = secrets.token_hex(3)
    os.environ[MARKER_ENV] = tag  # every process we start carries it (CPU attribution)
    nofile = raise_nofile(NOFILE_WANT)
    env = {**limits_env(plan, opts.default_limits, nofile[1]), **opts.platform_env}
    t0 = time.monotonic()
    results: dict[str, Any] = {"meta": {
        "mode": plan.name, "plan": asdict(plan), "tag": tag,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "cpu_model": cpu_model(),
        "python": pyplatform.python_version(), "platform_env": env,
        "configured_limits": configured_limits(env), "benchmark_nofile": list(nofile),
        "nofile_wanted": NOFILE_WANT,
        "background_cores_before": background_load(tag, opts.wait_quiet),
        "note": "platform, publisher, SSE clients and bet load generator share these cores",
    }, "notes": []}
    asked = plan.max_streams + 4096
    if not opts.default_limits and haproxy_maxconn_allowed(nofile[1]) < asked:
        results["notes"].append(
            f"HAProxy's maxconn is capped at {haproxy_maxconn_allowed(nofile[1]):,} (not "
            f"{asked:,}): the open-files hard limit is {nofile[1]:,} and cannot be raised "
            f"here, and HAProxy needs ~2 descriptors per proxied stream (it refuses to start "
            f"when it cannot raise its own limit that far)")
    gen = Loadgen(opts.loadgen, install=opts.install)
    results["meta"]["loadgen"] = f"{gen.kind} ({gen.version})"
    platform = LocalPlatform(demo=opts.demo, name="bench-odds", env=env,
                             keep_home=opts.keep_home, operator_name="bench",
                             up_timeout_s=300)
    run = Run(opts, tag, platform, gen, results)
    try:
        log(f"inplay up --detach ({' '.join(f'{k}={v}' for k, v in env.items())})")
        platform.start()
        log(f"  up in {platform.up_seconds:.0f}s (http {platform.http_port}, feed "
            f"{platform.feed_target})")
        results["meta"]["up_s"] = round(platform.up_seconds, 1)
        asyncio.run(run.main())
    except Exception as exc:
        results["error"] = f"{type(exc).__name__}: {exc}"
        log(f"run failed: {results['error']}")
    finally:
        run.stop_clients()
        log("inplay down")
        report = platform.stop()
        results["meta"]["down"] = f"rc {report.down_returncode}"
        leaked = report.leftovers + reap_leftovers(tag)
        if leaked:
            results["notes"].append(f"`inplay down` left {len(leaked)} processes running (ended "
                                    f"by pid): {', '.join(leaked[:8])}")
        results["meta"]["total_s"] = round(time.monotonic() - t0, 1)
    return results

