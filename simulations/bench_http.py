"""HTTP benchmark: durable bets/s on one hot event, next to the HTTP ceiling and naive Serve.

Run from the repo root (``--quick`` finishes in under 3 minutes, the default in under 10):

    .venv/bin/python -m simulations.bench_http [--quick] [--profile] [--sections 1,2,3]
        [--wait-quiet SECONDS] [--platform-env INPLAY_API_REPLICAS=2] [--no-demo]

One run, this machine, loopback only, the same closed-loop load generator for every section
(wrk with a generated Lua script — installed with apt-get if missing — or, with ``--loadgen
python``, 2 processes × asyncio with a lean keep-alive HTTP/1.1 client, see loadgen.py):

1. the HTTP ceiling: plain uvicorn + FastAPI ``GET /hello``, one worker, ``--no-access-log``;
2. the naive Serve path: a private ``ray.init(address="local")`` + ``serve.run`` in a subprocess
   (``simulations/baselines/naive_serve.py``), default proxy, none of the HAProxy/throughput
   flags, a ``POST /bet`` making one call per request to a trivial async actor; at 64
   connections (as RAY_NOTES measured it) and at 5 (its ``max_ongoing_requests``: beyond it,
   requests wait in the proxy's router, which retries with a 25 ms → 0.5 s backoff);
3. the real platform: ``inplay up --demo --detach`` in a temporary ``INPLAY_HOME`` on free
   ports. The benchmark registers players, verifies them (operator token from ``inplay token
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
   are exact; the µs are the server's wall clock, inflated when it is descheduled);
4. the ratios real/hello, Serve hello/hello, real/Serve hello and real/naive, against the
   aims: ≥ 2,000 accepted durable bets/s on one event, ≥ 40% of the hello rate, p99 ≤ 50 ms
   at 1,000 bets/s.

The machine has 2 cores and the servers share them with the load generator. Every run reports
the generator's own CPU (a generator thread or process at ≥ 90% of a core is flagged), the CPU of
each process the benchmark started (Ray workers, HAProxy, Redis, ...) read from /proc — also as
CPU milliseconds per successful request — and what other work on the machine used meanwhile.
``--profile`` samples the busiest processes of the real path with py-spy during an extra run.

Prints a table and writes ``simulations/results/http.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from simulations.loadgen import (
    MARKER_ENV,
    CpuMeter,
    RunResult,
    Target,
    ensure_wrk,
    run_python,
    run_wrk,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "http.json"
BIN = Path(sys.executable).parent
FORBIDDEN_PORTS = frozenset({6379, 8000})
SERVE_FLAGS = ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED",
               "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD")
AIM_BETS_PER_S = 2000.0
AIM_RATIO_HELLO = 0.40
AIM_P99_MS = 50.0
OPEN_RATE = 1000.0
BET_STAKE = "1.00"
DEPOSIT = "20000.00"  # below the 25,000 review threshold


@dataclass(frozen=True)
class Plan:
    """Durations and sizes of one mode."""

    name: str
    duration_s: float
    warmup_s: float
    hello_connections: int
    naive_connections: tuple[int, ...]
    real_connections: tuple[int, ...]
    accounts: int
    open_duration_s: float
    open_timeout_s: float
    profile_s: float


QUICK = Plan("quick", duration_s=6, warmup_s=2, hello_connections=64, naive_connections=(64, 5),
             real_connections=(64, 256), accounts=128, open_duration_s=8, open_timeout_s=5,
             profile_s=6)
FULL = Plan("default", duration_s=12, warmup_s=3, hello_connections=64,
            naive_connections=(64, 5),
            real_connections=(32, 64, 128, 256), accounts=256, open_duration_s=30,
            open_timeout_s=10, profile_s=10)


# ---------------------------------------------------------------------------------------------
# plumbing


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    """A free loopback TCP port, never 6379 or 8000."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in FORBIDDEN_PORTS:
            return port


def base_env(tag: str) -> dict[str, str]:
    env = dict(os.environ)
    env[MARKER_ENV] = tag
    env.pop("RAY_ADDRESS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def http_status(url: str, method: str = "GET", body: bytes | None = None,
                timeout: float = 5.0) -> int | None:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def wait_for(check: Callable[[], bool], timeout_s: float, what: str,
             proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not ready after {timeout_s:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """End a process this benchmark started (its own session): TERM, then KILL the group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def reap_leftovers(tag: str, grace_s: float = 10.0) -> list[str]:
    """End (by pid) every process still carrying this run's marker; what was left, labelled.

    Everything that carries the marker was started by this run (it is in their environment);
    a section calls this after its own shutdown, so anything found is a leak.
    """
    from cluster.processes import cmdline, parent_pid
    from simulations.loadgen import _is_marked, _label

    marker = f"{MARKER_ENV}={tag}\0".encode()
    me = os.getpid()

    def ours(pid: int) -> bool:
        """The benchmark's own multiprocessing resource tracker (its load generator's
        worker processes start it): not something the platform left behind."""
        return parent_pid(pid) == me and "multiprocessing.resource_tracker" in cmdline(pid)

    def find() -> list[int]:
        return [int(p) for p in os.listdir("/proc")
                if p.isdigit() and int(p) != me and _is_marked(int(p), marker)
                and not ours(int(p))]

    left = find()
    labels = [f"{_label(pid)} ({pid})" for pid in left]
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 3.0)):
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        end = time.monotonic() + wait
        while time.monotonic() < end and (left := [p for p in find() if p in set(left)]):
            time.sleep(0.2)
        if not left:
            break
    return labels


class Loadgen:
    """The closed-loop generator every section uses, and the open-loop one."""

    def __init__(self, kind: str, install: bool) -> None:
        self.wrk = ensure_wrk(install) if kind in ("auto", "wrk") else None
        if kind == "wrk" and not self.wrk:
            raise SystemExit("wrk is not installed and could not be installed")
        self.kind = "wrk" if self.wrk else "python"
        self.version = ""
        if self.wrk:
            out = subprocess.run([self.wrk, "-v"], capture_output=True, text=True, check=False)
            self.version = (out.stdout + out.stderr).splitlines()[0] if out.stdout + out.stderr \
                else "wrk"
        else:
            self.version = f"python {platform.python_version()} asyncio + httptools, 2 processes"

    def closed(self, target: Target, connections: int, duration_s: float) -> RunResult:
        if self.wrk:
            return run_wrk(target, connections, duration_s, threads=2, wrk=self.wrk)
        return run_python(target, duration_s, processes=2, connections=connections)

    @staticmethod
    def open(target: Target, rate: float, duration_s: float, timeout_s: float) -> RunResult:
        return run_python(target, duration_s, processes=2, connections=512, rate=rate,
                          timeout_s=timeout_s)


EXTRA_PIDS: set[int] = set()  # ours, but unmarked (the platform's valkey-server)


def measured(tag: str, fn: Callable[[], RunResult]) -> tuple[RunResult, dict[str, Any]]:
    """Run ``fn`` while metering CPU of every marked process; adds the generator's own CPU."""
    meter = CpuMeter(tag, frozenset(EXTRA_PIDS))
    meter.start()
    result = fn()
    cpu = meter.stop()
    # the generator exits (and is reaped) before the meter's last look: add its own figure
    cpu["by_process_cores"]["load generator"] = round(result.generator_cores, 3)
    cpu["benchmark_cores"] = round(cpu["benchmark_cores"] + result.generator_cores, 2)
    cpu["other_cores"] = round(max(0.0, cpu["machine_busy_cores"] - cpu["benchmark_cores"]), 2)
    return result, cpu


def run_record(result: RunResult, cpu: dict[str, Any], ok: tuple[int, ...]) -> dict[str, Any]:
    out = result.to_json()
    out["ok_statuses"] = list(ok)
    out["ok_per_s"] = round(result.rate(*ok), 1)
    ok_per_s = result.rate(*ok)
    if ok_per_s > 0:
        # CPU per successful request by process: less sensitive to other load than req/s
        cpu["ms_per_ok"] = {k: round(v / ok_per_s * 1000, 3)
                            for k, v in cpu["by_process_cores"].items()}
        cpu["ms_per_ok_total"] = round(cpu["benchmark_cores"] / ok_per_s * 1000, 3)
    out["cpu"] = cpu
    return out


def redis_commandstats(url: str) -> dict[str, tuple[int, int]]:
    """``INFO commandstats`` of the platform's Redis: command → (calls, µs), cumulative."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(url, socket_timeout=5)
    try:
        stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in stats.items()}


def commands_per_bet(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                     bets: int) -> dict[str, dict[str, float]]:
    """Redis calls and server µs per accepted bet, by command, busiest first."""
    out = {}
    for name, (calls, usec) in after.items():
        c0, u0 = before.get(name, (0, 0))
        if calls > c0 and bets > 0:
            out[name] = {"calls": round((calls - c0) / bets, 2),
                         "us": round((usec - u0) / bets, 1)}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["us"]))


def bet_body(event_id: str, market_id: str, selection_id: str, price: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "market_id": market_id,
                         "selection_id": selection_id, "stake": BET_STAKE, "price": price,
                         "odds_change": "any"})


# ---------------------------------------------------------------------------------------------
# 1. the HTTP ceiling


def section_hello(plan: Plan, gen: Loadgen, tag: str, workdir: Path) -> dict[str, Any]:
    port = free_port()
    env = base_env(tag)
    for flag in SERVE_FLAGS:
        env.pop(flag, None)
    logfile = (workdir / "hello.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "uvicorn"), "simulations.baselines.hello:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
        start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/hello"
        wait_for(lambda: http_status(url) == 200, 30, "uvicorn hello", proc)
        target = Target("127.0.0.1", port, "GET", "/hello")
        gen.closed(target, plan.hello_connections, plan.warmup_s)
        result, cpu = measured(tag, lambda: gen.closed(target, plan.hello_connections,
                                                       plan.duration_s))
    finally:
        stop_process(proc, 10)
        logfile.close()
    return {"what": "uvicorn + FastAPI GET /hello, 1 worker, --no-access-log",
            "run": run_record(result, cpu, (200,))}


# ---------------------------------------------------------------------------------------------
# 2. the naive Serve path


def section_naive(plan: Plan, gen: Loadgen, tag: str, workdir: Path) -> dict[str, Any]:
    port, dash = free_port(), free_port()
    env = base_env(tag)
    for flag in SERVE_FLAGS:
        env.pop(flag, None)
    out_path = workdir / "naive.out"
    out = out_path.open("wb")
    err = (workdir / "naive.err").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulations.baselines.naive_serve", "--port", str(port),
         "--dashboard-port", str(dash), "--temp-dir", str(workdir / "ray")],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
        start_new_session=True)
    try:
        try:
            wait_for(lambda: b"READY" in out_path.read_bytes(), 180, "naive Serve app", proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = (workdir / "naive.err").read_bytes().decode(errors="replace")[-1500:]
            raise RuntimeError(f"{exc}\n{tail}") from None
        startup = time.perf_counter() - t0
        body = bet_body("naive-event", "m1", "home", "2.50")
        target = Target("127.0.0.1", port, "POST", "/bet", bodies=(body,))
        gen.closed(target, plan.naive_connections[0], plan.warmup_s)
        runs = []
        for conns in plan.naive_connections:
            result, cpu = measured(tag, lambda c=conns: gen.closed(  # type: ignore[misc]
                target, c, plan.duration_s))
            runs.append(run_record(result, cpu, (201,)))
    finally:
        if proc.stdin:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the app shuts Serve and Ray down cleanly on EOF
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            stop_process(proc, 20)
        out.close()
        err.close()
        leaked = reap_leftovers(tag)
        if leaked:
            log(f"  the naive app left {len(leaked)} processes running; ended them")
    return {"what": "Ray Serve default proxy, POST /bet → one call to a trivial async actor",
            "startup_s": round(startup, 1), "runs": runs,
            "run": max(runs, key=lambda r: r["ok_per_s"])}


# ---------------------------------------------------------------------------------------------
# 3. the real platform


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} → {status}: {body[:400]}")
        self.status = status
        self.body = body


class Api:
    """A small async client for the inplay API contract (shared/API.md)."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=60.0,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, *, token: str | None = None,
                   body: Any = None, idem: str | None = None,
                   expect: tuple[int, ...] = (200, 201)) -> Any:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idem:
            headers["Idempotency-Key"] = idem
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        resp = await self.client.request(method, path, headers=headers, content=content)
        if resp.status_code not in expect:
            raise ApiError(method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None


@dataclass
class Platform:
    """One ``inplay up --demo --detach`` in a temporary home; ``down`` in any case."""

    home: Path
    env: dict[str, str]
    http_port: int
    up_output: str = ""
    up_seconds: float = 0.0

    @property
    def inplay(self) -> str:
        return str(BIN / "inplay")

    def run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.inplay, *args], cwd=ROOT, env=self.env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              check=False)

    def up(self, demo: bool = True) -> None:
        t0 = time.perf_counter()
        proc = self.run("up", *(("--demo",) if demo else ()), "--detach", timeout=300)
        self.up_seconds = time.perf_counter() - t0
        self.up_output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise RuntimeError(f"inplay up failed (rc {proc.returncode}):\n"
                               f"{self.up_output[-3000:]}")

    def down(self) -> str:
        try:
            proc = self.run("down", timeout=180)
        except subprocess.TimeoutExpired:
            return "inplay down timed out"
        return f"rc {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-500:]}"

    def operator_token(self) -> str:
        proc = self.run("token", "create", "--role", "operator", "bench")
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"inplay token create failed: {proc.stdout}{proc.stderr}")
        return lines[-1]


def cli_ready() -> str | None:
    """None when ``inplay up`` can be used, else why not."""
    if not (ROOT / "cluster" / "cli.py").exists():
        return "cluster/cli.py does not exist yet"
    if not (BIN / "inplay").exists():
        return "the inplay entry point is not installed in the venv"
    proc = subprocess.run([str(BIN / "inplay"), "up", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return f"`inplay up --help` failed: {(proc.stdout + proc.stderr).strip()[-300:]}"
    if "--detach" not in proc.stdout or "--demo" not in proc.stdout:
        return "`inplay up` has no --demo/--detach yet"
    return None


@dataclass
class HotEvent:
    event_id: str
    # (market_id, selection_id) → current price
    prices: dict[tuple[str, str], str]
    in_play: bool


MARKETS = ("match-odds", "next-goal", "half-time", "double-chance")


def _prices_of(event: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(str(m["market_id"]), str(s["selection_id"])): str(s["price"])
            for m in event.get("markets", []) for s in m.get("selections", [])
            if m.get("status", "open") == "open"}


async def create_event(api: Api, op: str, tag: str) -> HotEvent:
    """One event, several markets (liability is capped per market), no in-play delay."""
    starts = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last: ApiError | None = None
    created: dict[str, Any] | None = None
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
            created = await api.call("POST", "/v1/ops/events", token=op, body=body,
                                     expect=(200, 201))
            break
        except ApiError as exc:
            last = exc
            if exc.status != 422:
                raise
    if created is None:
        raise RuntimeError(f"could not create the event: {last}")
    return HotEvent(str(created["event_id"]), _prices_of(created), in_play=False)


async def make_players(api: Api, op: str, tag: str, n: int,
                       concurrency: int = 8) -> list[str]:
    """Register, verify, log in and fund ``n`` players; their bearer tokens."""
    sem = asyncio.Semaphore(concurrency)
    password = f"bench-{tag}-password"

    async def one(i: int) -> str:
        async with sem:
            username = f"b{tag}n{i:04d}"
            acct = await api.call("POST", "/v1/accounts", body={
                "username": username, "password": password, "jurisdiction": "GB",
                "date_of_birth": "1985-04-12"}, expect=(200, 201))
            account_id = str(acct["account_id"])
            if acct.get("kyc_status") != "verified":
                await api.call("POST", f"/v1/ops/accounts/{account_id}/kyc", token=op,
                               body={"status": "verified", "reason": "benchmark player"})
            session = await api.call("POST", "/v1/sessions",
                                     body={"username": username, "password": password})
            token = str(session["token"])
            await api.call("POST", "/v1/wallet/deposits", token=token,
                           idem=f"fund-{tag}-{i}", body={"amount": DEPOSIT,
                                                         "method": "bank_transfer"},
                           expect=(200, 201))
            return token

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def probe_bet(api: Api, token: str, ev: HotEvent, tag: str) -> tuple[int, Any]:
    (market, sel), price = next(iter(ev.prices.items()))
    resp = await api.client.post(
        "/v1/bets", content=bet_body(ev.event_id, market, sel, price),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Idempotency-Key": f"probe-{tag}-{secrets.token_hex(4)}"})
    try:
        data: Any = resp.json()
    except ValueError:
        data = resp.text[:500]
    return resp.status_code, data


async def prepare_real(base_url: str, op: str, tag: str, accounts: int,
                       notes: list[str]) -> tuple[HotEvent, list[str], dict[str, Any]]:
    api = Api(base_url)
    timings: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        ev = await create_event(api, op, tag)
        timings["event_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        tokens = await make_players(api, op, tag, accounts)
        timings["players_s"] = round(time.perf_counter() - t0, 2)
        # a hot event is in play; with in_play_delay_s 0 bets are still accepted at once
        try:
            await api.call("POST", f"/v1/ops/events/{ev.event_id}/status", token=op,
                           body={"status": "in_play"})
            ev.in_play = True
        except ApiError as exc:
            notes.append(f"could not put the event in play ({exc}); betting pre-match")
        status, data = await probe_bet(api, tokens[0], ev, tag)
        if status != 201 and ev.in_play:
            notes.append(f"in-play probe bet answered {status} {data}; betting pre-match")
            await api.call("POST", f"/v1/ops/events/{ev.event_id}/status", token=op,
                           body={"status": "scheduled"})
            ev.in_play = False
            status, data = await probe_bet(api, tokens[0], ev, tag)
        if status != 201:
            raise RuntimeError(f"probe bet answered {status}: {data}")
        fresh = await api.call("GET", f"/v1/events/{ev.event_id}", token=tokens[0])
        ev.prices = _prices_of(fresh) or ev.prices
        return ev, tokens, timings
    finally:
        await api.close()


async def fetch_json(base_url: str, path: str, token: str) -> Any:
    api = Api(base_url)
    try:
        return await api.call("GET", path, token=token)
    except (ApiError, OSError) as exc:
        return {"error": str(exc)}
    finally:
        await api.close()


def profile_processes(tag: str, pids: list[tuple[int, str]], seconds: float,
                      workdir: Path, load: Callable[[], Any]) -> dict[str, Any]:
    """py-spy the given processes while ``load`` runs; top functions by own samples."""
    spy = BIN / "py-spy"
    if not spy.exists():
        return {"error": "py-spy is not installed in the venv"}
    procs = []
    for pid, label in pids:
        out = workdir / f"pyspy-{pid}.txt"
        p = subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
             "--format", "raw", "--output", str(out), "--nonblocking", "--rate", "200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=base_env(tag))
        procs.append((p, out, pid, label))
    load()
    report: dict[str, Any] = {}
    for p, out, pid, label in procs:
        try:
            _, errb = p.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            _, errb = p.communicate()
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        layer: Counter[str] = Counter()
        total = 0
        if out.exists():
            for line in out.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not count.isdigit():
                    continue
                n = int(count)
                total += n
                frames = stack.split(";")
                own[frames[-1]] += n
                layer[_layer(frames)] += n
                for frame in set(frames):
                    if any(k in frame for k in ("serve_apps", "actors/", "storage/",
                                                "cluster/", "fastapi/routing", "pydantic")):
                        inclusive[frame] += n
        report[f"{label} (pid {pid})"] = {
            "samples": total,
            "by_layer_pct": {k: round(100 * v / total, 1) for k, v in layer.most_common()}
            if total else {},
            "top_own_pct": {k: round(100 * v / total, 1) for k, v in own.most_common(15)}
            if total else {},
            # application frames (inplay, FastAPI routing, pydantic) incl. their callees
            "app_inclusive_pct": {k: round(100 * v / total, 1)
                                  for k, v in inclusive.most_common(25)} if total else {},
            "error": (errb or b"").decode(errors="replace")[-300:] if not total else "",
        }
    return report


_LAYERS = (("starlette", "http: starlette/fastapi"), ("fastapi", "http: starlette/fastapi"),
           ("uvicorn", "http: uvicorn"), ("h11", "http: uvicorn"), ("httptools", "http: uvicorn"),
           ("pydantic", "pydantic"), ("redis", "redis client"), ("ray/serve", "ray serve"),
           ("ray/_private", "ray core"), ("ray/actor", "ray core"), ("_raylet", "ray core"),
           ("serialization", "ray core"), ("asyncio", "asyncio"), ("uvloop", "asyncio"),
           ("serve_apps", "inplay serve_apps"), ("actors/", "inplay actors"),
           ("storage/", "inplay storage"), ("cluster/", "inplay cluster"))


def _layer(frames: list[str]) -> str:
    """The layer of the innermost frame that belongs to a known one."""
    for frame in reversed(frames):
        for needle, name in _LAYERS:
            if needle in frame:
                return name
    return "other"


def section_real(plan: Plan, gen: Loadgen, tag: str, workdir: Path, profile: bool,
                 keep_home: bool, platform_env: dict[str, str],
                 demo: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="inplay-bench-"))
    http_port, ray_port, dash_port = free_port(), free_port(), free_port()
    env = base_env(tag)
    env.update({"INPLAY_HOME": str(home), "INPLAY_HTTP_PORT": str(http_port),
                "INPLAY_RAY_PORT": str(ray_port), "INPLAY_RAY_DASHBOARD_PORT": str(dash_port)})
    env.pop("REDIS_URL", None)
    env.pop("INPLAY_CONFIG", None)
    env.update(platform_env)
    plat = Platform(home, env, http_port)
    base_url = f"http://127.0.0.1:{http_port}"
    notes: list[str] = []
    out: dict[str, Any] = {"home": str(home), "ports": {"http": http_port, "ray": ray_port,
                                                       "dashboard": dash_port},
                           "platform_env": platform_env, "demo": demo, "notes": notes}
    try:
        log(f"section 3: inplay up {'--demo ' if demo else ''}--detach (home {home}, "
            f"http {http_port}{', ' if platform_env else ''}"
            f"{' '.join(f'{k}={v}' for k, v in platform_env.items())})")
        plat.up(demo)
        out["up_s"] = round(plat.up_seconds, 1)
        out["up_output_tail"] = plat.up_output[-2000:]
        wait_for(lambda: http_status(f"{base_url}/healthz") == 200, 120, "GET /healthz")
        redis_url = ""
        with contextlib.suppress(OSError, ValueError, TypeError):
            state = orjson.loads((home / "run" / "state.json").read_bytes())
            redis_url = state.get("redis_url", "")
            if state.get("redis_pid"):
                EXTRA_PIDS.add(int(state["redis_pid"]))
        op = plat.operator_token()
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

        seen = Counter({"201": 1})  # every 201 any client got (the probe's included)

        def counted(result: RunResult) -> RunResult:
            seen.update(result.statuses)
            return result

        log("section 3: warm-up")
        counted(gen.closed(target("w"), max(plan.real_connections), plan.warmup_s))
        # the ceiling of any route on this platform's Serve stack (HAProxy, direct ingress,
        # the same replicas): a trivial FastAPI GET, as section 1's hello but through Serve
        log(f"section 3: GET /livez (Serve's own ceiling), {plan.hello_connections} connections")
        live = Target("127.0.0.1", http_port, "GET", "/livez")
        result, cpu = measured(tag, lambda: gen.closed(live, plan.hello_connections,
                                                       plan.duration_s))
        out["serve_hello"] = run_record(result, cpu, (200,))
        log(f"  → {result.rate(200):,.0f} req/s")
        runs = []
        for i, conns in enumerate(plan.real_connections):
            log(f"section 3: closed loop, {conns} connections, {plan.duration_s:g}s")
            before = redis_commandstats(redis_url) if redis_url else {}
            result, cpu = measured(tag, lambda c=conns, k=i: counted(  # type: ignore[misc]
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
        if profile:
            top = [(int(pid), label) for pid, label, _ in best["cpu"]["top_pids"]
                   if label.startswith(("ray::", "python")) and int(pid) != os.getpid()][:3]
            log(f"section 3: profiling {[lbl for _, lbl in top]} with py-spy")
            out["profile"] = profile_processes(
                tag, top, plan.profile_s, workdir,
                lambda: counted(gen.closed(target("p-"), int(best["connections"]),
                                           plan.profile_s)))
        capacity = float(best["ok_per_s"])
        if capacity < OPEN_RATE:
            notes.append(f"the closed-loop capacity ({capacity:,.0f}/s) is below "
                         f"{OPEN_RATE:,.0f}/s: the 1,000/s open loop measures overload")
        if capacity < 2 * OPEN_RATE:
            # 1,000/s is more than half the capacity: measure latency at half the capacity
            # too (first: overload can leave a backlog)
            rate = max(10.0, round(capacity / 2, -1))
            log(f"section 3: open loop at {rate:,.0f} bets/s (half the capacity)")
            result, cpu = measured(tag, lambda: counted(gen.open(
                target("h-"), rate, plan.open_duration_s / 2, plan.open_timeout_s)))
            out["open_loop_half_capacity"] = run_record(result, cpu, (201,))
            log(f"  → p99 {result.latency_ms.get('p99', 0):.1f} ms, "
                f"statuses {result.statuses}")
        log(f"section 3: open loop at {OPEN_RATE:,.0f} bets/s for {plan.open_duration_s:g}s")
        result, cpu = measured(tag, lambda: counted(gen.open(
            target("o-"), OPEN_RATE, plan.open_duration_s, plan.open_timeout_s)))
        out["open_loop"] = run_record(result, cpu, (201,))
        log(f"  → p99 {result.latency_ms.get('p99', 0):.1f} ms, statuses {result.statuses}")
        # durability cross-check: the book must hold at least every bet a client saw accepted
        # (more is fine: bets whose answer came after the client gave up)
        time.sleep(2.0)
        exposure = asyncio.run(fetch_json(base_url, f"/v1/ops/events/{ev.event_id}/exposure",
                                          op))
        out["exposure"] = exposure
        book = exposure.get("bets_accepted") if isinstance(exposure, dict) else None
        out["durability"] = {"clients_got_201": seen["201"], "book_bets_accepted": book,
                             "ok": None if book is None else int(book) >= seen["201"]}
        if book is not None and int(book) < seen["201"]:
            notes.append(f"DURABILITY: clients got {seen['201']} × 201 but the event's "
                         f"exposure counts only {book} accepted bets")
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        log(f"section 3 failed: {out['error']}")
    finally:
        log("section 3: inplay down")
        out["down"] = plat.down()
        redis_pids = set(EXTRA_PIDS)
        EXTRA_PIDS.clear()
        for pid in redis_pids:
            cmd = b""
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if Path(f"/proc/{pid}").exists() and (b"valkey" in cmd or b"redis" in cmd):
                notes.append(f"the embedded Redis (pid {pid}) was still running after "
                             "`inplay down`; ended it")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        leaked = reap_leftovers(tag)
        if leaked:
            out["leaked_after_down"] = leaked
            notes.append(f"`inplay down` left {len(leaked)} processes of this home running "
                         f"(the benchmark ended them by pid): {', '.join(leaked[:8])}"
                         + (" ..." if len(leaked) > 8 else ""))
            log(f"  inplay down left {len(leaked)} processes running; ended them")
        if not keep_home:
            shutil.rmtree(home, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------
# report


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
    if "real_over_hello" in summary:
        aims["real/hello>=0.40"] = {"value": summary["real_over_hello"],
                                    "met": summary["real_over_hello"] >= AIM_RATIO_HELLO}
    if open_run:
        p99 = open_run["latency_ms"].get("p99", float("inf"))
        aims["p99_at_1000/s<=50ms"] = {"value": p99, "met": p99 <= AIM_P99_MS,
                                       "accepted_per_s": open_run["ok_per_s"]}
    summary["aims"] = aims
    return summary


def print_report(results: dict[str, Any]) -> None:
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
    print(f"\nsaved {RESULTS.relative_to(ROOT)}; total {meta['total_s']:.0f}s")


# ---------------------------------------------------------------------------------------------


def background_load(tag: str, wait_s: float, limit: float = 0.25) -> float:
    """Cores used by processes this benchmark did not start (2 s sample).

    With ``wait_s`` > 0, keep sampling up to that long until it drops below ``limit``.
    """
    end = time.monotonic() + wait_s
    said = 0.0
    while True:
        meter = CpuMeter(tag)
        meter.start()
        time.sleep(2.0)
        other = float(meter.stop()["other_cores"])
        if other < limit or time.monotonic() >= end:
            return other
        if time.monotonic() - said > 15:
            said = time.monotonic()
            log(f"  the machine is busy with other work ({other:.2f} cores); waiting up to "
                f"{end - said:.0f}s more")


@contextlib.contextmanager
def timed(results: dict[str, Any], key: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        results.setdefault("meta", {}).setdefault("section_s", {})[key] = \
            round(time.perf_counter() - t0, 1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="under 3 minutes in all")
    parser.add_argument("--sections", default="1,2,3", help="which sections to run (1,2,3)")
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
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.accounts:
        plan = Plan(**{**plan.__dict__, "accounts": args.accounts})
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
        if "3" in sections:
            why = cli_ready()
            if why:
                log(f"section 3 skipped: {why}")
                results["real"] = {"skipped": why}
            else:
                quiet["real"] = background_load(tag, args.wait_quiet)
                with timed(results, "real"):
                    results["real"] = section_real(
                        plan, gen, tag, workdir, args.profile, args.keep_home,
                        platform_env, demo=not args.no_demo)
    finally:
        results["summary"] = summarize(results)
        results["meta"]["total_s"] = round(time.perf_counter() - t_start, 1)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(results)


if __name__ == "__main__":
    main()
