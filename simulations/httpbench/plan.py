"""What one benchmark run does (its plan and aims), and plumbing the sections share."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from cluster.processes import alive, cmdline, label, marked_pids, parent_pid, terminate
from simulations.loadgen import MARKER_ENV

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "simulations" / "results" / "http.json"
BIN = Path(sys.executable).parent
SERVE_FLAGS = ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED",
               "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD")
AIM_BETS_PER_S = 2000.0
# the bet-path issue's aims: bets against Serve's own trivial route through the same
# ingress (the earlier aim against a plain uvicorn hello, 0.40, was withdrawn: Serve's own
# route reaches only about 0.4 of that hello), and the tail at 1,000 bets/s
AIM_RATIO_SERVE_HELLO = 0.75
AIM_P99_MS = 50.0
AIM_P999_MS = 150.0
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


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def base_env(tag: str) -> dict[str, str]:
    """The environment of every process a section starts: marked with the run's tag."""
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
    a section calls this after its own shutdown, so anything found is a leak. The
    benchmark's own multiprocessing resource tracker (its load generator's worker processes
    start it) is not something a section left behind.
    """
    me = os.getpid()
    left = {pid for pid in marked_pids(MARKER_ENV, tag)
            if alive(pid) and not (parent_pid(pid) == me
                                   and "multiprocessing.resource_tracker" in cmdline(pid))}
    labels = [f"{label(pid)} ({pid})" for pid in sorted(left)]
    terminate(left, grace_s)
    return labels


def bet_body(event_id: str, market_id: str, selection_id: str, price: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "market_id": market_id,
                         "selection_id": selection_id, "stake": BET_STAKE, "price": price,
                         "odds_change": "any"})
