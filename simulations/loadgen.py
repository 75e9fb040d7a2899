"""HTTP load generators for the benchmarks, and a per-process CPU meter.

Two generators drive the same ``Target`` (method, path, rotating bodies and bearer tokens, a unique
``Idempotency-Key`` per request when asked):

- ``run_wrk``: closed loop with wrk (C, epoll, keep-alive) and a generated Lua script that rotates
  tokens/bodies, numbers the keys and counts statuses and problem ``code``s. wrk's CPU comes from
  ``wait4``; it is cheap enough (≈ 10–20 µs a request) to leave the cores to the server.
- ``run_python``: N processes × asyncio (uvloop) with a lean keep-alive HTTP/1.1 client
  (asyncio.Protocol + httptools, ≈ 3× cheaper per request than aiohttp), closed loop (fixed
  connections) or open loop (constant arrival rate). In open loop each request has a scheduled
  send time and its latency is measured from that time, so queueing in the generator, the client
  pool or the server is not hidden (no coordinated omission); how late the generator itself
  dispatched is reported separately. The python generator also times each status apart
  (``latency_by_status_ms``: e.g. accepted bets alone) and counts the responses of each status
  that carried a ``Retry-After`` header (``retry_after``).

``CpuMeter`` reads each process's CPU times (psutil) before and after a window and splits CPU
time by process, keeping only the processes whose environment carries a marker variable
(everything this benchmark started, Ray workers included), and reports the rest of the machine
as "other".
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

import orjson
import psutil

from cluster.processes import label, marked_pids

MARKER_ENV = "INPLAY_BENCH_TAG"


@dataclass(frozen=True)
class Target:
    """What every request of a run looks like."""

    host: str
    port: int
    method: str
    path: str
    bodies: tuple[bytes, ...] = ()
    tokens: tuple[str, ...] = ()
    # a unique Idempotency-Key per request is ``<prefix><worker>-<n>``; "" sends none
    idempotency_prefix: str = ""
    content_type: str = "application/json"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"


@dataclass
class RunResult:
    """The outcome of one load run, from either generator."""

    tool: str
    mode: Literal["closed", "open"]
    duration_s: float
    connections: int
    target_rate: float | None
    requests: int
    statuses: dict[str, int]
    codes: dict[str, int]
    errors: dict[str, int]
    latency_ms: dict[str, float]
    generator_cpu_s: float
    generator_workers: int
    dispatch_late_ms: dict[str, float] = field(default_factory=dict)
    # python generator only: latency percentiles of each status's responses, and how many
    # responses of each status carried a Retry-After header
    latency_by_status_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    retry_after: dict[str, int] = field(default_factory=dict)

    def rate(self, *statuses: int) -> float:
        """Completed responses per second, all of them or only those with these statuses."""
        if not statuses:
            return self.requests / self.duration_s if self.duration_s else 0.0
        n = sum(self.statuses.get(str(s), 0) for s in statuses)
        return n / self.duration_s if self.duration_s else 0.0

    @property
    def generator_cores(self) -> float:
        """Average cores the generator used over the run."""
        return self.generator_cpu_s / self.duration_s if self.duration_s else 0.0

    @property
    def generator_saturated(self) -> bool:
        """True when a generator worker (thread or process) averaged ≥ 90% of a core."""
        return self.generator_cores / max(1, self.generator_workers) >= 0.9

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rate_all"] = round(self.rate(), 1)
        out["generator_cores"] = round(self.generator_cores, 3)
        out["generator_saturated"] = self.generator_saturated
        return out


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean of a list of milliseconds (nearest rank)."""
    if not values:
        return {}
    xs = sorted(values)
    n = len(xs)

    def rank(p: float) -> float:
        return xs[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))]

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "p99.9": rank(99.9),
            "max": xs[-1], "mean": sum(xs) / n}


# ---------------------------------------------------------------------------------------------
# wrk


def ensure_wrk(install: bool) -> str | None:
    """The path of wrk; if missing and ``install``, try ``apt-get install -y wrk`` (as root)."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-qq", "wrk"],
                ["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=240, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if (cmd[1] == "install") and (found := shutil.which("wrk")):
            return found
    return shutil.which("wrk")


def _lua_str(value: str | bytes) -> str:
    text = value.decode() if isinstance(value, bytes) else value
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


_LUA_BODY = r"""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  statuses = {}
  codes = {}
  n = 0
end

function request()
  n = n + 1
  local h = {}
  local body = nil
  if #bodies > 0 then
    body = bodies[(n + tid) % #bodies + 1]
    h["Content-Type"] = ctype
  end
  if #tokens > 0 then h["Authorization"] = "Bearer " .. tokens[(n * 7 + tid) % #tokens + 1] end
  if prefix ~= "" then h["Idempotency-Key"] = prefix .. tid .. "-" .. n end
  return wrk.format(method, path, h, body)
end

function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  if status >= 400 and body then
    local c = string.match(body, '"code"%s*:%s*"([%w_]+)"')
    if c then codes[c] = (codes[c] or 0) + 1 end
  end
end

local function obj(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format('"%s":%d', k, v)) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local st, cd = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses") or {}) do st[k] = (st[k] or 0) + v end
    for k, v in pairs(t:get("codes") or {}) do cd[k] = (cd[k] or 0) + v end
  end
  local e = summary.errors
  io.write("WRKJSON ")
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout))
  io.write(string.format(
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p99.9":%d,"max":%d,"mean":%f},',
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
  io.write('"statuses":' .. obj(st) .. ',"codes":' .. obj(cd) .. '}\n')
end
"""


def wrk_script(target: Target) -> str:
    """The Lua script wrk runs for ``target``."""
    head = [
        f"method = {_lua_str(target.method)}",
        f"path = {_lua_str(target.path)}",
        f"ctype = {_lua_str(target.content_type)}",
        f"prefix = {_lua_str(target.idempotency_prefix)}",
        "tokens = {" + ",".join(_lua_str(t) for t in target.tokens) + "}",
        "bodies = {" + ",".join(_lua_str(b) for b in target.bodies) + "}",
    ]
    return "\n".join(head) + _LUA_BODY


def run_wrk(target: Target, connections: int, duration_s: float, threads: int = 2,
            timeout_s: float = 5.0, wrk: str = "wrk") -> RunResult:
    """One closed-loop wrk run; CPU of wrk from ``wait4``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(wrk_script(target))
        script = fh.name
    try:
        cmd = [wrk, "-t", str(threads), "-c", str(max(connections, threads)),
               "-d", f"{max(1, round(duration_s))}s", "--timeout", f"{timeout_s:g}s",
               "-s", script, f"http://{target.host}:{target.port}"]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            text = out.read().decode(errors="replace")
            errtext = err.read().decode(errors="replace")
    finally:
        os.unlink(script)
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed (rc {proc.returncode}): {errtext.strip()} {text[-500:]}")
    data = orjson.loads(line[len("WRKJSON "):])
    duration = data["duration_us"] / 1e6
    lat = {k: v / 1000 for k, v in data["latency_us"].items()}
    errors = {k: v for k, v in data["errors"].items() if v}
    return RunResult(
        tool="wrk", mode="closed", duration_s=duration, connections=connections,
        target_rate=None, requests=data["requests"], statuses=data["statuses"] or {},
        codes=data["codes"] or {}, errors=errors, latency_ms=lat,
        generator_cpu_s=usage.ru_utime + usage.ru_stime, generator_workers=threads)


# ---------------------------------------------------------------------------------------------
# asyncio + a lean HTTP/1.1 client, several processes


def _problem_code(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


class _HttpConn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, responses parsed by httptools.

    Much cheaper per request than a general client (≈ 3× less CPU than aiohttp here), which
    matters when the generator shares two cores with the server it measures.
    """

    def __init__(self) -> None:
        import httptools

        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.body: list[bytes] = []
        self.retry_after = False  # the response being read has a Retry-After header
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError and friends
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed"))

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 11 and name.lower() == b"retry-after":
            self.retry_after = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if not self.parser.should_keep_alive():
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        body, self.body = b"".join(self.body), []
        retry_after, self.retry_after = self.retry_after, False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body, retry_after))

    def _fail(self, exc: BaseException) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _HttpPool:
    """At most ``limit`` connections; requests beyond that wait for a free one (FIFO)."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[_HttpConn] = []
        self.count = 0
        self.waiters: asyncio.Queue[_HttpConn | None] = asyncio.Queue()

    async def _acquire(self) -> _HttpConn:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.count -= 1
        if self.count < self.limit:
            self.count += 1
            try:
                _, proto = await asyncio.get_running_loop().create_connection(
                    _HttpConn, self.host, self.port)
            except BaseException:
                self.count -= 1
                raise
            return proto
        while True:
            got = await self.waiters.get()
            if got is None:  # a connection died: open a new one in its place
                return await self._acquire()
            if not got.closed:
                return got
            self.count -= 1

    def _release(self, conn: _HttpConn, reusable: bool) -> None:
        if not reusable or conn.closed:
            conn.abort()
            self.count -= 1
            if self.waiters._getters:  # type: ignore[attr-defined]
                self.waiters.put_nowait(None)
            return
        if self.waiters._getters:  # type: ignore[attr-defined]
            self.waiters.put_nowait(conn)
        else:
            self.idle.append(conn)

    async def request(self, raw: bytes, timeout_s: float) -> tuple[int, bytes, bool]:
        """Send one pre-rendered request; (status, body, whether it had a Retry-After).

        Raises TimeoutError or OSError."""
        async with asyncio.timeout(timeout_s):
            conn = await self._acquire()
            ok = False
            try:
                fut: asyncio.Future[tuple[int, bytes, bool]] = \
                    asyncio.get_running_loop().create_future()
                conn.waiter = fut
                assert conn.transport is not None
                conn.transport.write(raw)
                result = await fut
                ok = True
                return result
            finally:
                self._release(conn, ok)

    def close(self) -> None:
        for conn in self.idle:
            conn.abort()


async def _py_run(target: Target, worker: int, workers: int, mode: str, connections: int,
                  rate: float, duration_s: float, start_at: float,
                  timeout_s: float) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    by_status: dict[str, list[float]] = {}
    retry_after: Counter[str] = Counter()
    late: list[float] = []
    counter = 0
    perf = time.perf_counter
    head = f"{target.method} {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
    if target.bodies:
        head += f"Content-Type: {target.content_type}\r\n"

    def next_request() -> bytes:
        nonlocal counter
        counter += 1
        parts = [head]
        if target.tokens:
            tok = target.tokens[(counter * 7 + worker) % len(target.tokens)]
            parts.append(f"Authorization: Bearer {tok}\r\n")
        if target.idempotency_prefix:
            parts.append(f"Idempotency-Key: {target.idempotency_prefix}p{worker}-{counter}\r\n")
        body = target.bodies[(counter + worker) % len(target.bodies)] if target.bodies else b""
        parts.append(f"Content-Length: {len(body)}\r\n\r\n")
        return "".join(parts).encode() + body

    pool = _HttpPool(target.host, target.port, connections)

    async def one(t_from: float) -> None:
        raw = next_request()
        try:
            status, data, retry = await pool.request(raw, timeout_s)
        except TimeoutError:
            errors["timeout"] += 1
            latencies.append(timeout_s * 1000)
            return
        except OSError as exc:
            errors[type(exc).__name__] += 1
            return
        key = str(status)
        statuses[key] += 1
        if retry:
            retry_after[key] += 1
        if status >= 400 and (code := _problem_code(data)):
            codes[code] += 1
        ms = (perf() - t_from) * 1000
        latencies.append(ms)
        by_status.setdefault(key, []).append(ms)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = perf()
    end = t0 + duration_s
    if mode == "closed":

        async def loop() -> None:
            while perf() < end:
                await one(perf())

        await asyncio.gather(*(loop() for _ in range(connections)))
    else:
        interval = workers / rate
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        phase = worker / rate
        while True:
            sched = t0 + phase + i * interval
            if sched >= end:
                break
            now = perf()
            if sched > now:
                await asyncio.sleep(sched - now)
            late.append(max(0.0, perf() - sched) * 1000)
            task = asyncio.create_task(one(sched))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.gather(*list(tasks))
    elapsed = perf() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    pool.close()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"statuses": dict(statuses), "codes": dict(codes), "errors": dict(errors),
            "latencies": latencies, "by_status": by_status, "retry_after": dict(retry_after),
            "late": late, "elapsed": elapsed,
            "scheduled_s": duration_s, "cpu": cpu}


def _py_worker(conn: Connection, target: Target, worker: int, workers: int, mode: str,
               connections: int, rate: float, duration_s: float, start_at: float,
               timeout_s: float) -> None:
    coro = _py_run(target, worker, workers, mode, connections, rate, duration_s, start_at,
                   timeout_s)
    try:
        import uvloop

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    conn.send(result)
    conn.close()


def run_python(target: Target, duration_s: float, *, processes: int = 2,
               connections: int = 64, rate: float | None = None,
               timeout_s: float = 10.0) -> RunResult:
    """Closed loop (``rate`` None: ``connections`` in all) or open loop at ``rate`` req/s.

    In open loop ``connections`` caps each process's pool; a request that waits for a free
    connection is still timed from its scheduled send time.
    """
    mode: Literal["closed", "open"] = "closed" if rate is None else "open"
    ctx = mp.get_context("spawn")
    per_conn = max(1, connections // processes)
    start_at = time.time() + 1.5  # let the spawned interpreters import first
    pipes = []
    procs = []
    for w in range(processes):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_py_worker, daemon=True, args=(
            child, target, w, processes, mode, per_conn, float(rate or 0), duration_s,
            start_at, timeout_s))
        p.start()
        child.close()
        pipes.append(parent)
        procs.append(p)
    parts = []
    for parent, p in zip(pipes, procs, strict=True):
        if not parent.poll(duration_s + timeout_s + 60):
            p.kill()
            raise RuntimeError("load generator process did not report")
        parts.append(parent.recv())
        p.join(10)
    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    retry_after: Counter[str] = Counter()
    latencies: list[float] = []
    by_status: dict[str, list[float]] = {}
    late: list[float] = []
    for part in parts:
        statuses.update(part["statuses"])
        codes.update(part["codes"])
        errors.update(part["errors"])
        retry_after.update(part["retry_after"])
        latencies.extend(part["latencies"])
        for key, values in part["by_status"].items():
            by_status.setdefault(key, []).extend(values)
        late.extend(part["late"])
    # open loop: until the last answer (a server that falls behind drains after the window)
    elapsed = max(p["elapsed"] for p in parts)
    return RunResult(
        tool="python-asyncio", mode=mode, duration_s=elapsed, connections=connections,
        target_rate=rate, requests=sum(statuses.values()), statuses=dict(statuses),
        codes=dict(codes), errors=dict(errors), latency_ms=percentiles(latencies),
        generator_cpu_s=sum(p["cpu"] for p in parts), generator_workers=processes,
        dispatch_late_ms=percentiles(late) if late else {},
        latency_by_status_ms={k: percentiles(v) for k, v in sorted(by_status.items())},
        retry_after=dict(retry_after))


# ---------------------------------------------------------------------------------------------
# CPU by process


def _machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    times = psutil.cpu_times()
    # guest time is part of user time already; iowait is idle time
    total = sum(v for k, v in times._asdict().items() if k not in ("guest", "guest_nice"))
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuMeter:
    """CPU seconds per process (grouped by label) of marked processes over a window."""

    def __init__(self, tag: str, extra_pids: frozenset[int] = frozenset()) -> None:
        self.tag = tag
        # processes that are ours but hide their environment (valkey/redis reuse that memory
        # for their process title)
        self.extra_pids = extra_pids
        self._start: dict[int, tuple[float, float]] = {}
        self._machine0 = (0.0, 0.0)
        self._t0 = 0.0

    def _snapshot(self) -> dict[int, tuple[float, float]]:
        """pid → (user + system CPU seconds, start time) of every process we meter."""
        out: dict[int, tuple[float, float]] = {}
        for pid in marked_pids(MARKER_ENV, self.tag) | self.extra_pids:
            try:
                proc = psutil.Process(pid)
                times = proc.cpu_times()
                out[pid] = (times.user + times.system, proc.create_time())
            except (psutil.Error, OSError):
                continue
        return out

    def start(self) -> None:
        self._start = self._snapshot()
        self._machine0 = _machine_seconds()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        """Cores used per label, by all marked processes, and by the rest of the machine."""
        end = self._snapshot()
        busy1, total1 = _machine_seconds()
        wall = time.perf_counter() - self._t0
        by_label: dict[str, float] = {}
        by_pid: dict[int, float] = {}
        labels: dict[int, str] = {}
        for pid, (cpu_s, started) in end.items():
            before = self._start.get(pid)
            base = before[0] if before and before[1] == started else 0.0
            labels[pid] = label(pid)
            by_label[labels[pid]] = by_label.get(labels[pid], 0.0) + cpu_s - base
            by_pid[pid] = cpu_s - base
        ncpu = os.cpu_count() or 1
        busy = (busy1 - self._machine0[0]) / max(1e-9, total1 - self._machine0[1]) * ncpu
        mine = sum(by_label.values()) / wall if wall else 0.0
        return {
            "wall_s": round(wall, 2),
            "machine_cores": ncpu,
            "machine_busy_cores": round(busy, 2),
            "benchmark_cores": round(mine, 2),
            "other_cores": round(max(0.0, busy - mine), 2),
            "by_process_cores": {k: round(v / wall, 3)
                                 for k, v in sorted(by_label.items(), key=lambda kv: -kv[1])
                                 if v > 0},
            "top_pids": [(pid, labels[pid], round(v / wall, 3))
                         for pid, v in sorted(by_pid.items(), key=lambda kv: -kv[1])[:8]
                         if v > 0],
        }
