"""Sections 1 and 2: the HTTP ceiling (plain uvicorn + FastAPI) and the naive Serve path."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from simulations.httpbench.measure import Loadgen, measured, run_record
from simulations.httpbench.plan import (
    BIN,
    ROOT,
    SERVE_FLAGS,
    Plan,
    base_env,
    bet_body,
    http_status,
    log,
    reap_leftovers,
    stop_process,
    wait_for,
)
from simulations.loadgen import Target
from storage.embedded import free_port


def section_hello(plan: Plan, gen: Loadgen, tag: str, workdir: Path) -> dict[str, Any]:
    """1. the HTTP ceiling: uvicorn + FastAPI ``GET /hello``, one worker, no access log."""
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


def section_naive(plan: Plan, gen: Loadgen, tag: str, workdir: Path) -> dict[str, Any]:
    """2. the naive Serve path: default proxy, one actor call per request."""
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
