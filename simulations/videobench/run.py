"""One run of the video benchmark against a private platform (``cluster.harness.LocalPlatform``).

The order:

1. the platform (``inplay up --detach``; no demo unless ``--demo``, so that "without video"
   has none), one hot event in play with funded players
   (``simulations.httpbench.real.prepare_real``), ``viewers`` more players whose media tier
   is ``webrtc`` (what ``POST /v1/media/{event_id}/whep`` asks of a player), and a token of
   role ``publisher``;
2. the video clients' processes (``clients.VideoClients``), and a video check on the hot
   event: the publisher by WHIP, every viewer by WHEP, frames must arrive; the media
   processes' CPU priority is read while they serve; the video stops again (the media
   processes stay, idle, for every segment after);
3. a warm-up of the bet path without video (closed loop), then one more closed loop
   without video whose accepted bets/s is the capacity that sets the open loop's constant
   rate (``stats.open_rate``: half of it, at most 1,000/s); neither is in the ratios;
4. the segments in ``plan.order`` (A without video, B with it; "ABBA" by default — the
   platform gets faster for a while after it starts, and a symmetric order cancels a steady
   drift). A segment is the closed loop (accepted bets/s) and then the open loop at the
   constant rate (p50/p99/p99.9 from each bet's scheduled send time); in a B segment the
   video starts before and stops after, and each loop's window also records what every
   viewer received. CPU by process over each loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform as pyplatform
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from cluster import processes
from cluster.api_client import AsyncApiClient
from cluster.harness import LocalPlatform
from simulations.httpbench.measure import Loadgen, background_load, cpu_model, run_record
from simulations.httpbench.plan import bet_body, log, reap_leftovers
from simulations.httpbench.real import prepare_real
from simulations.loadgen import MARKER_ENV, RunResult, Target
from simulations.oddsbench.measure import PhaseCpu, labelled
from simulations.videobench import stats
from simulations.videobench.clients import VideoClients
from simulations.videobench.report import fps_text


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of one mode."""

    name: str
    closed_s: float  # each segment's closed loop
    open_s: float  # each segment's open loop
    warmup_s: float
    order: str  # A = without video, B = with it
    connections: int = 64  # the closed loop's
    accounts: int = 128  # betting players (the per-account limit is 20 bets/s)
    viewers: int = 50
    viewer_processes: int = 2
    settle_s: float = 4.0  # after the video starts (viewers connected), before measuring
    open_share: float = 0.5  # the open loop's rate: this share of the no-video capacity...
    open_cap: float = 1000.0  # ...at most this
    open_timeout_s: float = 10.0


QUICK = Plan("quick", closed_s=6, open_s=8, warmup_s=4, order="ABA", accounts=64)
FULL = Plan("default", closed_s=12, open_s=20, warmup_s=6, order="ABBA")


@dataclass
class Options:
    plan: Plan
    client_nice: int = 19
    platform_env: dict[str, str] = field(default_factory=dict)
    demo: bool = False
    loadgen: str = "auto"
    install: bool = True
    keep_home: bool = False
    wait_quiet: float = 0.0


async def make_viewers(base_url: str, op: str, tag: str, n: int,
                       concurrency: int = 8) -> list[str]:
    """``n`` players who may watch by WebRTC (media tier ``webrtc``); their tokens."""
    sem = asyncio.Semaphore(concurrency)
    password = f"video-{tag}-password"

    async def one(api: AsyncApiClient, i: int) -> str:
        async with sem:
            username = f"v{tag}n{i:03d}"
            account = await api.register(username, password, jurisdiction="GB",
                                         date_of_birth="1985-04-12")
            await api.set_media_tier(op, account["account_id"], "webrtc")
            return (await api.login(username, password))["token"]

    async with AsyncApiClient(base_url, timeout_s=60, connections=16) as api:
        return list(await asyncio.gather(*(one(api, i) for i in range(n))))


async def media_stats(base_url: str, token: str, event_id: str) -> dict[str, Any]:
    """``GET /v1/media/{event_id}/stats``: the server's view (viewers, ingest fps, loss)."""
    async with AsyncApiClient(base_url, timeout_s=20) as api:
        try:
            response = await api.http.get(f"/v1/media/{event_id}/stats",
                                          headers={"Authorization": f"Bearer {token}"})
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
    if response.status_code != 200:
        return {"error": f"{response.status_code} {response.text[:200]}"}
    data: dict[str, Any] = response.json()
    webrtc = (data.get("tiers") or {}).get("webrtc") or {}
    return {"live": data.get("live"), "relays": data.get("relays"),
            "webrtc": {k: webrtc.get(k) for k in ("viewers", "fps", "bitrate_bps",
                                                  "loss_fraction", "rtt_ms",
                                                  "glass_to_glass_p95_ms")}}


def thread_nices(pid: int) -> list[int]:
    """The distinct nice values of a process's threads (Linux keeps one per thread)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError):
                found.add(stats.nice_from_stat(Path(f"/proc/{pid}/task/{tid}/stat").read_text()))
    return sorted(found)


def media_priorities(pids: Iterable[int]) -> list[dict[str, Any]]:
    """Nice value of every media process of the platform (and of each of its threads)."""
    out = []
    for pid in sorted(pids):
        command = processes.cmdline(pid)
        if not stats.is_media(command):
            continue
        try:
            nice = psutil.Process(pid).nice()
        except psutil.Error:
            continue
        out.append({"pid": pid, "label": processes.label(pid), "nice": nice,
                    "thread_nices": thread_nices(pid)})
    return out


class Run:
    """The state one run's phases share."""

    def __init__(self, opts: Options, tag: str, platform: LocalPlatform, gen: Loadgen,
                 results: dict[str, Any]) -> None:
        self.opts, self.plan, self.tag = opts, opts.plan, tag
        self.platform, self.gen, self.results = platform, gen, results
        self.notes: list[str] = results.setdefault("notes", [])
        self.video: VideoClients | None = None
        self.event_id = ""
        self.bodies: tuple[bytes, ...] = ()
        self.tokens: tuple[str, ...] = ()
        self.extra_pids: set[int] = set()  # ours but unmarked (the platform's valkey-server)

    # ------------------------------------------------------------ plumbing

    def groups(self) -> dict[int, str]:
        """pid → label of everything whose CPU a window reports."""
        out = labelled(self.platform.pids() | self.extra_pids)
        if self.video is not None:
            out.update(self.video.pids)
        out[os.getpid()] = stats.BENCHMARK
        return out

    def target(self, prefix: str) -> Target:
        return Target("127.0.0.1", self.platform.http_port, "POST", "/v1/bets",
                      bodies=self.bodies, tokens=self.tokens,
                      idempotency_prefix=f"{self.tag}{prefix}-")

    def window(self, load: Callable[[], RunResult], with_video: bool) -> dict[str, Any]:
        """One measured load window: the bets, CPU by process, and the video meanwhile."""
        assert self.video is not None
        if with_video:
            self.video.mark()
        meter = PhaseCpu(self.groups).start()
        result = load()
        cpu = meter.stop()
        cpu["by_process_cores"][stats.LOAD_GENERATOR] = round(result.generator_cores, 3)
        cpu["benchmark_cores"] = round(cpu["benchmark_cores"] + result.generator_cores, 2)
        cpu["other_cores"] = round(max(0.0, cpu["machine_busy_cores"]
                                       - cpu["benchmark_cores"]), 2)
        record = run_record(result, cpu, (201,))
        record["cpu_groups"] = stats.cpu_groups(cpu["by_process_cores"])
        if with_video:
            record["video"] = stats.video_window(self.video.collect())
        return record

    # ------------------------------------------------------------ setup

    async def setup(self) -> None:
        plan, platform = self.plan, self.platform
        op = platform.operator_token
        log(f"setup: one hot event, {plan.accounts} funded players, {plan.viewers} viewers "
            "(media tier webrtc), a publisher token")
        ev, tokens, timings = await prepare_real(platform.url, op, self.tag, plan.accounts,
                                                 self.notes)
        t0 = time.perf_counter()
        viewers = await make_viewers(platform.url, op, self.tag, plan.viewers)
        timings["viewers_s"] = round(time.perf_counter() - t0, 2)
        publisher = await asyncio.to_thread(platform.token, "publisher", f"video-{self.tag}")
        self.results["setup"] = timings
        self.results["event"] = {"event_id": ev.event_id, "in_play": ev.in_play}
        self.event_id = ev.event_id
        self.bodies = tuple(bet_body(ev.event_id, m, s, p) for (m, s), p in ev.prices.items())
        self.tokens = tuple(tokens)
        self.video = VideoClients(platform.url, ev.event_id, publisher, viewers,
                                  plan.viewer_processes, self.opts.client_nice)
        await asyncio.to_thread(self.video.start_processes)

    def start_video(self) -> dict[str, Any]:
        assert self.video is not None
        started = self.video.start_video()
        if started["errors"] or started["viewers_failed"]:
            self.notes.append(f"video start: {started['viewers_started']} viewers, failed "
                              f"{started['viewers_failed']} {started['errors']}")
        time.sleep(self.plan.settle_s)
        return started

    def stop_video(self) -> None:
        assert self.video is not None
        self.video.stop_video()
        time.sleep(2.0)  # the sessions' ends reach the relays before the next window

    def video_check(self) -> None:
        """The video must flow before anything is measured; the media processes' nice."""
        assert self.video is not None
        log(f"video check: WHIP publisher, {self.plan.viewers} WHEP viewers")
        started = self.start_video()
        self.video.mark()
        time.sleep(3.0)
        got = stats.video_window(self.video.collect())
        check = {"start": started, "video": got,
                 "server": asyncio.run(media_stats(self.platform.url,
                                                   self.platform.operator_token,
                                                   self.event_id))}
        self.results["video_check"] = check
        self.results["media_priority"] = media_priorities(self.platform.pids())
        self.results["client_nice"] = self.opts.client_nice
        fps = (got.get("viewer_fps") or {}).get("median")
        log(f"  → {started['viewers_started']} viewers, median {fps} fps; media processes' "
            f"nice: {[(p['label'], p['nice']) for p in self.results['media_priority']]}")
        self.stop_video()
        if not started["viewers_started"] or not fps:
            raise RuntimeError(f"no video reached the viewers: {check}")

    # ------------------------------------------------------------ the run

    def main(self) -> None:
        plan, res = self.plan, self.results
        asyncio.run(self.setup())
        self.video_check()
        log(f"warm-up: bets without video, {plan.connections} connections, "
            f"{plan.warmup_s:g}s, then {plan.closed_s:g}s for the capacity")
        res["warmup"] = self.window(lambda: self.gen.closed(
            self.target("w"), plan.connections, plan.warmup_s), False)
        capacity = self.window(lambda: self.gen.closed(
            self.target("k"), plan.connections, plan.closed_s), False)
        res["capacity"] = capacity
        res["capacity_per_s"] = capacity["ok_per_s"]
        rate = stats.open_rate(capacity["ok_per_s"], plan.open_share, plan.open_cap)
        res["open_rate_per_s"] = rate
        log(f"  → {res['warmup']['ok_per_s']:,.0f}, then {capacity['ok_per_s']:,.0f} "
            f"accepted/s; the open loop runs at {rate:,.0f}/s")
        segments: list[dict[str, Any]] = []
        res["segments"] = segments
        for i, kind in enumerate(plan.order.upper()):
            segments.append(self.segment(i, kind == "B", rate))
        res["comparison"] = stats.compare(segments)

    def segment(self, i: int, video: bool, rate: float) -> dict[str, Any]:
        plan = self.plan
        name = f"{'with' if video else 'without'}{i + 1}"
        out: dict[str, Any] = {"name": name, "video": video}
        if video:
            out["video_start"] = self.start_video()
        try:
            log(f"{name}: closed loop, {plan.connections} connections, {plan.closed_s:g}s")
            out["closed"] = self.window(lambda: self.gen.closed(
                self.target(f"c{i}"), plan.connections, plan.closed_s), video)
            log(f"{name}: open loop at {rate:,.0f}/s, {plan.open_s:g}s")
            out["open"] = self.window(lambda: self.gen.open(
                self.target(f"o{i}"), rate, plan.open_s, plan.open_timeout_s), video)
            if video:
                out["server"] = asyncio.run(media_stats(
                    self.platform.url, self.platform.operator_token, self.event_id))
        finally:
            if video:
                self.stop_video()
        closed, opened = out["closed"], out["open"]
        seen = [f"{closed['ok_per_s']:,.0f} accepted/s",
                f"open p50/p99 {opened['latency_ms'].get('p50', 0):.0f}/"
                f"{opened['latency_ms'].get('p99', 0):.0f} ms",
                f"platform media {closed['cpu_groups']['platform media']:.2f} cores"]
        if video:
            seen.append(f"viewer fps median/min {fps_text(closed)} (closed), "
                        f"{fps_text(opened)} (open)")
        log("  → " + "; ".join(seen))
        return out


def _sysctl(name: str) -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys", name).read_text().strip()
    return None


def one_run(opts: Options) -> dict[str, Any]:
    """Start a platform, measure, stop it: the results of one run."""
    plan = opts.plan
    tag = secrets.token_hex(3)
    os.environ[MARKER_ENV] = tag  # every process we start carries it (reap_leftovers)
    t0 = time.monotonic()
    results: dict[str, Any] = {"meta": {
        "mode": plan.name, "plan": asdict(plan), "tag": tag,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "cpu_model": cpu_model(),
        "python": pyplatform.python_version(), "platform_env": opts.platform_env,
        "demo": opts.demo, "client_nice": opts.client_nice,
        "sched_autogroup_enabled": _sysctl("kernel/sched_autogroup_enabled"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "background_cores_before": background_load(tag, opts.wait_quiet),
        "note": "the platform, the video's clients and the bets' load generator share these "
                "cores",
    }, "notes": []}
    gen = Loadgen(opts.loadgen, install=opts.install)
    results["meta"]["loadgen"] = f"{gen.kind} ({gen.version})"
    platform = LocalPlatform(demo=opts.demo, name="bench-video", env=opts.platform_env,
                             keep_home=opts.keep_home, operator_name="bench",
                             up_timeout_s=300)
    run = Run(opts, tag, platform, gen, results)
    try:
        log(f"inplay up {'--demo ' if opts.demo else ''}--detach")
        platform.start()
        log(f"  up in {platform.up_seconds:.0f}s (http {platform.http_port})")
        results["meta"]["up_s"] = round(platform.up_seconds, 1)
        state = platform.state()
        if state.get("redis_pid"):
            run.extra_pids.add(int(state["redis_pid"]))
        run.main()
    except Exception as exc:
        results["error"] = f"{type(exc).__name__}: {exc}"
        log(f"run failed: {results['error']}")
    finally:
        if run.video is not None:
            run.video.close()
        log("inplay down")
        report = platform.stop()
        results["meta"]["down"] = f"rc {report.down_returncode}"
        leaked = report.leftovers + reap_leftovers(tag)
        if leaked:
            results["notes"].append(f"`inplay down` left {len(leaked)} processes running "
                                    f"(ended by pid): {', '.join(leaked[:8])}")
        results["meta"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        results["meta"]["total_s"] = round(time.monotonic() - t0, 1)
    return results
