"""The load generators as the sections drive them, CPU metering, and Redis counters."""

from __future__ import annotations

import contextlib
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from simulations.httpbench.plan import log
from simulations.loadgen import CpuMeter, RunResult, Target, ensure_wrk, run_python, run_wrk


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
    def open(target: Target, rate: float, duration_s: float, timeout_s: float,
             connections: int = 512) -> RunResult:
        return run_python(target, duration_s, processes=2, connections=connections, rate=rate,
                          timeout_s=timeout_s)


def measured(tag: str, fn: Callable[[], RunResult],
             extra_pids: frozenset[int] = frozenset()) -> tuple[RunResult, dict[str, Any]]:
    """Run ``fn`` while metering CPU of every marked process (and ``extra_pids``: ours, but
    unmarked, like the platform's valkey-server); adds the generator's own CPU."""
    meter = CpuMeter(tag, extra_pids)
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
    """The CPU's model name (psutil does not report it)."""
    if sys.platform == "darwin":
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                             text=True, check=False)
        return out.stdout.strip() or platform.processor() or "?"
    try:
        # no psutil equivalent: the model name is only in /proc/cpuinfo on Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"
